"""template studio: template_versions, template_uses, locale_profiles

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

JSON_DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('locale_profiles',
    sa.Column('locale', sa.String(length=20), nullable=False),
    sa.Column('company_name', sa.String(length=200), nullable=True),
    sa.Column('sender_name', sa.String(length=200), nullable=True),
    sa.Column('support_contact', sa.String(length=320), nullable=True),
    sa.Column('updated_by', sa.String(length=200), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('locale', name=op.f('pk_locale_profiles'))
    )
    op.create_table('template_uses',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('content_id', sa.Integer(), nullable=False),
    sa.Column('channel', sa.String(length=20), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('step', sa.String(length=40), nullable=False),
    sa.Column('locale', sa.String(length=20), nullable=False),
    sa.Column('version_ids', JSON_DOCUMENT, nullable=False),
    sa.Column('fallback', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_template_uses_campaign_id_campaigns'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['content_id'], ['message_contents.id'], name=op.f('fk_template_uses_content_id_message_contents'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_template_uses'))
    )
    with op.batch_alter_table('template_uses', schema=None) as batch_op:
        batch_op.create_index('ix_template_uses_campaign_id_content_id', ['campaign_id', 'content_id'], unique=True)

    op.create_table('template_versions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('channel', sa.String(length=20), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('step', sa.String(length=40), nullable=False),
    sa.Column('locale', sa.String(length=20), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('number', sa.Integer(), nullable=True),
    sa.Column('parts', JSON_DOCUMENT, nullable=False),
    sa.Column('action', sa.String(length=20), nullable=False),
    sa.Column('based_on_id', sa.Integer(), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('author', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('published_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_template_versions_campaign_id_campaigns'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_template_versions'))
    )
    with op.batch_alter_table('template_versions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_template_versions_campaign_id'), ['campaign_id'], unique=False)
        batch_op.create_index('ix_template_versions_key', ['channel', 'kind', 'step', 'locale', 'campaign_id', 'status'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('template_versions', schema=None) as batch_op:
        batch_op.drop_index('ix_template_versions_key')
        batch_op.drop_index(batch_op.f('ix_template_versions_campaign_id'))

    op.drop_table('template_versions')
    with op.batch_alter_table('template_uses', schema=None) as batch_op:
        batch_op.drop_index('ix_template_uses_campaign_id_content_id')

    op.drop_table('template_uses')
    op.drop_table('locale_profiles')
