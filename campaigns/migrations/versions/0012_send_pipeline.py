"""send pipeline: messages.claimed_by, plan_steps.batches_left, worker_heartbeats, partial indexes over what is still to send

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None

DUE = "state IN ('queued', 'retrying')"
IN_FLIGHT = "state = 'sending'"
UNSENT = "state = 'queued' AND enqueued_at IS NULL"


def upgrade() -> None:
    op.create_table('worker_heartbeats',
    sa.Column('worker', sa.String(length=100), nullable=False),
    sa.Column('beat_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('worker', name=op.f('pk_worker_heartbeats'))
    )
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('claimed_by', sa.String(length=100), nullable=True))
        # Indexes holding ``state`` are rewritten by every state change; these two
        # hold only the rows still to send, and the rows in flight.
        batch_op.drop_index('ix_messages_state_not_before')
        batch_op.drop_index('ix_messages_step_id_state')
        batch_op.create_index('ix_messages_step_id', ['step_id'], unique=False)
        batch_op.create_index('ix_messages_due', ['not_before'], unique=False, postgresql_where=sa.text(DUE), sqlite_where=sa.text(DUE))
        batch_op.create_index('ix_messages_in_flight', ['claimed_at'], unique=False, postgresql_where=sa.text(IN_FLIGHT), sqlite_where=sa.text(IN_FLIGHT))
        batch_op.create_index('ix_messages_unsent', ['step_id'], unique=False, postgresql_where=sa.text(UNSENT), sqlite_where=sa.text(UNSENT))
    with op.batch_alter_table('plan_steps', schema=None) as batch_op:
        batch_op.add_column(sa.Column('batches_left', sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('plan_steps', schema=None) as batch_op:
        batch_op.drop_column('batches_left')
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_index('ix_messages_unsent')
        batch_op.drop_index('ix_messages_in_flight')
        batch_op.drop_index('ix_messages_due')
        batch_op.drop_index('ix_messages_step_id')
        batch_op.create_index('ix_messages_step_id_state', ['step_id', 'state'], unique=False)
        batch_op.create_index('ix_messages_state_not_before', ['state', 'not_before'], unique=False)
        batch_op.drop_column('claimed_by')
    op.drop_table('worker_heartbeats')
