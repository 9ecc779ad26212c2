"""channel choice: campaigns.channel_choice, messages.channel_estimates, decayed engagement evidence

Revision ID: 0009
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

JSON_DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

revision = '0009'
down_revision = '0006'
branch_labels = None
depends_on = None

COUNTS = ("sent", "dismissed")
WEIGHTS = ("weight_sent", "weight_opened", "weight_clicked", "weight_answered", "weight_dismissed", "weight_bounced")


def upgrade() -> None:
    # Campaigns that exist already keep today's behaviour; new ones default to learned (the model's default).
    with op.batch_alter_table('campaigns') as batch:
        batch.add_column(sa.Column('channel_choice', sa.String(length=10), nullable=False, server_default='ordered'))
    with op.batch_alter_table('messages') as batch:
        batch.add_column(sa.Column('channel_estimates', JSON_DOCUMENT, nullable=True))
    with op.batch_alter_table('engagement_counters') as batch:
        for name in COUNTS:
            batch.add_column(sa.Column(name, sa.Integer(), nullable=False, server_default='0'))
        for name in WEIGHTS:
            batch.add_column(sa.Column(name, sa.Float(), nullable=False, server_default='0'))


def downgrade() -> None:
    with op.batch_alter_table('engagement_counters') as batch:
        for name in COUNTS + WEIGHTS:
            batch.drop_column(name)
    with op.batch_alter_table('messages') as batch:
        batch.drop_column('channel_estimates')
    with op.batch_alter_table('campaigns') as batch:
        batch.drop_column('channel_choice')
