"""inbound events: inbound_sms, sms_conversations, provider_events, engagement_counters

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "inbound_sms",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_sid", sa.String(length=64), nullable=False),
        sa.Column("from_number", sa.String(length=64), nullable=False),
        sa.Column("to_number", sa.String(length=64), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("episode_id", sa.Integer(), nullable=True),
        sa.Column("outcome", sa.String(length=20), nullable=True),
        sa.Column("reply", sa.Text(), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["episode_id"], ["episodes.id"], name=op.f("fk_inbound_sms_episode_id_episodes"), ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbound_sms")),
        sa.UniqueConstraint("message_sid", name=op.f("uq_inbound_sms_message_sid")),
    )
    op.create_index(op.f("ix_inbound_sms_episode_id"), "inbound_sms", ["episode_id"], unique=False)
    op.create_index(op.f("ix_inbound_sms_from_number"), "inbound_sms", ["from_number"], unique=False)

    op.create_table(
        "sms_conversations",
        sa.Column("episode_id", sa.Integer(), nullable=False),
        sa.Column("phone", sa.String(length=64), nullable=False),
        sa.Column("stage", sa.String(length=20), nullable=False),
        sa.Column("clarified", sa.Boolean(), nullable=False),
        sa.Column("pending_comment", sa.Text(), nullable=True),
        sa.Column("response_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["episode_id"], ["episodes.id"], name=op.f("fk_sms_conversations_episode_id_episodes"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["response_id"], ["responses.id"], name=op.f("fk_sms_conversations_response_id_responses"), ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("episode_id", name=op.f("pk_sms_conversations")),
    )

    op.create_table(
        "provider_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("provider", sa.String(length=20), nullable=False),
        sa.Column("event_id", sa.String(length=200), nullable=False),
        sa.Column("event", sa.String(length=40), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=True),
        sa.Column("medium", sa.String(length=20), nullable=False),
        sa.Column("address", sa.String(length=320), nullable=True),
        sa.Column("target_state", sa.String(length=20), nullable=True),
        sa.Column("pending", sa.Boolean(), nullable=False),
        sa.Column("bounced", sa.Boolean(), nullable=False),
        sa.Column("error_code", sa.String(length=60), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["message_id"], ["messages.id"], name=op.f("fk_provider_events_message_id_messages"), ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_provider_events")),
        sa.UniqueConstraint("provider", "event_id", name=op.f("uq_provider_events_provider_event_id")),
    )
    op.create_index(op.f("ix_provider_events_message_id"), "provider_events", ["message_id"], unique=False)
    op.create_index(op.f("ix_provider_events_pending"), "provider_events", ["pending"], unique=False)

    op.create_table(
        "engagement_counters",
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("medium", sa.String(length=20), nullable=False),
        sa.Column("delivered", sa.Integer(), nullable=False),
        sa.Column("opened", sa.Integer(), nullable=False),
        sa.Column("clicked", sa.Integer(), nullable=False),
        sa.Column("answered", sa.Integer(), nullable=False),
        sa.Column("bounced", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["contact_id"], ["contacts.id"], name=op.f("fk_engagement_counters_contact_id_contacts"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("contact_id", "medium", name=op.f("pk_engagement_counters")),
    )


def downgrade() -> None:
    op.drop_table("engagement_counters")
    op.drop_index(op.f("ix_provider_events_pending"), table_name="provider_events")
    op.drop_index(op.f("ix_provider_events_message_id"), table_name="provider_events")
    op.drop_table("provider_events")
    op.drop_table("sms_conversations")
    op.drop_index(op.f("ix_inbound_sms_from_number"), table_name="inbound_sms")
    op.drop_index(op.f("ix_inbound_sms_episode_id"), table_name="inbound_sms")
    op.drop_table("inbound_sms")
