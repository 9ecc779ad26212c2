"""The fatigue policy's versions and the ledger of every survey touch."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from campaigns.db import Base, JsonDocument, UtcDateTime


class FatiguePolicyVersion(Base):
    """One version of the policy; the newest is in force. Never updated, never deleted."""

    __tablename__ = "fatigue_policies"

    id: Mapped[int] = mapped_column(primary_key=True)  # the version; 0 means the built-in defaults
    document: Mapped[dict[str, Any]] = mapped_column(JsonDocument)  # normalised: every rule named
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    created_by_key_id: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id", ondelete="SET NULL"))
    created_by: Mapped[str] = mapped_column(String(200))  # the key's name and role, kept if the key goes


class FatigueTouch(Base):
    """One survey touch of one contact: an invitation (reserved ahead) or any other message.

    ``at`` is when the touch happens (the planned time; a reservation is in the
    future); rules are checked on it. A touch counts while it is reserved,
    planned or sent; a released one (never sent) no longer counts.
    """

    __tablename__ = "fatigue_touches"
    __table_args__ = (
        Index("ix_fatigue_touches_contact_id_at", "contact_id", "at"),
        Index("ix_fatigue_touches_account_id_at", "account_id", "at"),
        Index("ix_fatigue_touches_campaign_id_state", "campaign_id", "state"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(10))  # nps, csat, ces
    step: Mapped[str] = mapped_column(String(40))  # invite, pre_notice, reminder, thank_you, you_said_we_did, dismissal
    medium: Mapped[str | None] = mapped_column(String(20))
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id", ondelete="SET NULL"))
    trigger: Mapped[str | None] = mapped_column(String(200))  # transactional: what started it
    message_key: Mapped[str | None] = mapped_column(String(120), unique=True)  # the message it became
    state: Mapped[str] = mapped_column(String(12))  # reserved, planned, sent, released
    policy_version: Mapped[int] = mapped_column(Integer)  # the policy it was checked against
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    released_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    note: Mapped[str | None] = mapped_column(Text)  # why it was released early, e.g. preempted by a higher priority
