"""foundation: accounts, contacts, team, api keys, shared clock

Revision ID: 0001
Revises: 
Create Date: 2026-11-23 17:50:48.346066
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

JSON_DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('clock_state',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('virtual_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('real_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('speed', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_clock_state'))
    )
    op.create_table('api_keys',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('role', sa.String(length=20), nullable=False),
    sa.Column('prefix', sa.String(length=16), nullable=False),
    sa.Column('secret_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_keys')),
    sa.UniqueConstraint('prefix', name=op.f('uq_api_keys_prefix'))
    )
    op.create_table('team_members',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.Column('slack_handle', sa.String(length=100), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_team_members')),
    sa.UniqueConstraint('email', name=op.f('uq_team_members_email'))
    )
    op.create_table('accounts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('external_id', sa.String(length=200), nullable=False),
    sa.Column('name', sa.String(length=300), nullable=False),
    sa.Column('segment', sa.String(length=100), nullable=True),
    sa.Column('tier', sa.String(length=100), nullable=True),
    sa.Column('plan', sa.String(length=100), nullable=True),
    sa.Column('lifecycle_stage', sa.String(length=100), nullable=True),
    sa.Column('created_on', sa.Date(), nullable=True),
    sa.Column('renewal_on', sa.Date(), nullable=True),
    sa.Column('owner_id', sa.Integer(), nullable=True),
    sa.Column('attributes', JSON_DOCUMENT, nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['owner_id'], ['team_members.id'], name=op.f('fk_accounts_owner_id_team_members'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_accounts')),
    sa.UniqueConstraint('external_id', name=op.f('uq_accounts_external_id'))
    )
    with op.batch_alter_table('accounts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_accounts_lifecycle_stage'), ['lifecycle_stage'], unique=False)
        batch_op.create_index(batch_op.f('ix_accounts_renewal_on'), ['renewal_on'], unique=False)
        batch_op.create_index(batch_op.f('ix_accounts_segment'), ['segment'], unique=False)
        batch_op.create_index(batch_op.f('ix_accounts_tier'), ['tier'], unique=False)

    op.create_table('contacts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('external_id', sa.String(length=200), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=True),
    sa.Column('name', sa.String(length=300), nullable=True),
    sa.Column('email', sa.String(length=320), nullable=True),
    sa.Column('phone', sa.String(length=20), nullable=True),
    sa.Column('role', sa.String(length=100), nullable=True),
    sa.Column('locale', sa.String(length=20), nullable=False),
    sa.Column('timezone', sa.String(length=64), nullable=False),
    sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('attributes', JSON_DOCUMENT, nullable=False),
    sa.Column('erased_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_contacts_account_id_accounts'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_contacts')),
    sa.UniqueConstraint('external_id', name=op.f('uq_contacts_external_id'))
    )
    with op.batch_alter_table('contacts', schema=None) as batch_op:
        batch_op.create_index('ix_contacts_account_id_id', ['account_id', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_contacts_email'), ['email'], unique=False)
        batch_op.create_index(batch_op.f('ix_contacts_phone'), ['phone'], unique=False)
        batch_op.create_index(batch_op.f('ix_contacts_role'), ['role'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('contacts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_contacts_role'))
        batch_op.drop_index(batch_op.f('ix_contacts_phone'))
        batch_op.drop_index(batch_op.f('ix_contacts_email'))
        batch_op.drop_index('ix_contacts_account_id_id')

    op.drop_table('contacts')
    with op.batch_alter_table('accounts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_accounts_tier'))
        batch_op.drop_index(batch_op.f('ix_accounts_segment'))
        batch_op.drop_index(batch_op.f('ix_accounts_renewal_on'))
        batch_op.drop_index(batch_op.f('ix_accounts_lifecycle_stage'))

    op.drop_table('accounts')
    op.drop_table('team_members')
    op.drop_table('api_keys')
    op.drop_table('clock_state')
