"""answer_outbox: what an answer still has to set off, done by workers after the request

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

PENDING = "done_at IS NULL"


def upgrade() -> None:
    op.create_table('answer_outbox',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('episode_id', sa.Integer(), nullable=False),
    sa.Column('response_id', sa.Integer(), nullable=False),
    sa.Column('previous_id', sa.Integer(), nullable=True),
    sa.Column('comment', sa.Text(), nullable=True),
    sa.Column('credit', sa.Boolean(), nullable=False),
    sa.Column('message_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('claimed_by', sa.String(length=100), nullable=True),
    sa.Column('claimed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('done_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['episode_id'], ['episodes.id'], name=op.f('fk_answer_outbox_episode_id_episodes'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['previous_id'], ['responses.id'], name=op.f('fk_answer_outbox_previous_id_responses'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['response_id'], ['responses.id'], name=op.f('fk_answer_outbox_response_id_responses'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_answer_outbox'))
    )
    with op.batch_alter_table('answer_outbox', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_answer_outbox_episode_id'), ['episode_id'], unique=False)
        batch_op.create_index('ix_answer_outbox_pending', ['id'], unique=False, postgresql_where=sa.text(PENDING), sqlite_where=sa.text(PENDING))


def downgrade() -> None:
    with op.batch_alter_table('answer_outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_answer_outbox_pending')
        batch_op.drop_index(batch_op.f('ix_answer_outbox_episode_id'))
    op.drop_table('answer_outbox')
