"""fatigue budget: policy versions and the touch ledger

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 18:12:10.678257
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

JSON_DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('fatigue_policies',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('document', JSON_DOCUMENT, nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by_key_id', sa.Integer(), nullable=True),
    sa.Column('created_by', sa.String(length=200), nullable=False),
    sa.ForeignKeyConstraint(['created_by_key_id'], ['api_keys.id'], name=op.f('fk_fatigue_policies_created_by_key_id_api_keys'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_fatigue_policies'))
    )
    op.create_table('fatigue_touches',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('contact_id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=True),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('step', sa.String(length=40), nullable=False),
    sa.Column('medium', sa.String(length=20), nullable=True),
    sa.Column('campaign_id', sa.Integer(), nullable=True),
    sa.Column('trigger', sa.String(length=200), nullable=True),
    sa.Column('message_key', sa.String(length=120), nullable=True),
    sa.Column('state', sa.String(length=12), nullable=False),
    sa.Column('policy_version', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('released_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_fatigue_touches_account_id_accounts'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_fatigue_touches_campaign_id_campaigns'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], name=op.f('fk_fatigue_touches_contact_id_contacts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_fatigue_touches')),
    sa.UniqueConstraint('message_key', name=op.f('uq_fatigue_touches_message_key'))
    )
    with op.batch_alter_table('fatigue_touches', schema=None) as batch_op:
        batch_op.create_index('ix_fatigue_touches_account_id_at', ['account_id', 'at'], unique=False)
        batch_op.create_index('ix_fatigue_touches_campaign_id_state', ['campaign_id', 'state'], unique=False)
        batch_op.create_index('ix_fatigue_touches_contact_id_at', ['contact_id', 'at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('fatigue_touches', schema=None) as batch_op:
        batch_op.drop_index('ix_fatigue_touches_contact_id_at')
        batch_op.drop_index('ix_fatigue_touches_campaign_id_state')
        batch_op.drop_index('ix_fatigue_touches_account_id_at')

    op.drop_table('fatigue_touches')
    op.drop_table('fatigue_policies')
