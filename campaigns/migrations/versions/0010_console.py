"""console: sign-in links, console sessions, share links, team member roles, who paused a campaign, an index for score change

Revision ID: 0010
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('console_sign_in_links',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('team_member_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['team_member_id'], ['team_members.id'], name=op.f('fk_console_sign_in_links_team_member_id_team_members'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_console_sign_in_links')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_console_sign_in_links_token_hash'))
    )
    op.create_index(op.f('ix_console_sign_in_links_team_member_id'), 'console_sign_in_links', ['team_member_id'], unique=False)
    op.create_table('console_sessions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('team_member_id', sa.Integer(), nullable=False),
    sa.Column('user_agent', sa.String(length=300), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['team_member_id'], ['team_members.id'], name=op.f('fk_console_sessions_team_member_id_team_members'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_console_sessions')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_console_sessions_token_hash'))
    )
    op.create_index(op.f('ix_console_sessions_team_member_id'), 'console_sessions', ['team_member_id'], unique=False)
    op.create_table('share_links',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('public_id', sa.String(length=32), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('created_by', sa.String(length=320), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_share_links_campaign_id_campaigns'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_share_links')),
    sa.UniqueConstraint('public_id', name=op.f('uq_share_links_public_id'))
    )
    op.create_index(op.f('ix_share_links_campaign_id'), 'share_links', ['campaign_id'], unique=False)
    op.create_index('ix_responses_contact_id_kind_created_at', 'responses', ['contact_id', 'kind', 'created_at'], unique=False)
    with op.batch_alter_table('team_members') as batch:
        batch.add_column(sa.Column('console_role', sa.String(length=20), server_default='viewer', nullable=False))
    with op.batch_alter_table('campaigns') as batch:
        batch.add_column(sa.Column('paused_by', sa.String(length=320), nullable=True))
        batch.add_column(sa.Column('paused_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('campaigns') as batch:
        batch.drop_column('paused_at')
        batch.drop_column('paused_by')
    with op.batch_alter_table('team_members') as batch:
        batch.drop_column('console_role')
    op.drop_index('ix_responses_contact_id_kind_created_at', table_name='responses')
    op.drop_index(op.f('ix_share_links_campaign_id'), table_name='share_links')
    op.drop_table('share_links')
    op.drop_index(op.f('ix_console_sessions_team_member_id'), table_name='console_sessions')
    op.drop_table('console_sessions')
    op.drop_index(op.f('ix_console_sign_in_links_team_member_id'), table_name='console_sign_in_links')
    op.drop_table('console_sign_in_links')
