"""Accounts, contacts and the CS team: who Pulse surveys and who follows up."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Date, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from campaigns.db import Base, JsonDocument, UtcDateTime


class TeamMember(Base):
    __tablename__ = "team_members"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(320), unique=True)
    slack_handle: Mapped[str | None] = mapped_column(String(100))
    active: Mapped[bool] = mapped_column(default=True)
    # What the member may do in the console: the same roles as API keys.
    console_role: Mapped[str] = mapped_column(String(20), default="viewer", server_default="viewer")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Account(Base):
    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    external_id: Mapped[str] = mapped_column(String(200), unique=True)
    name: Mapped[str] = mapped_column(String(300))
    segment: Mapped[str | None] = mapped_column(String(100), index=True)
    tier: Mapped[str | None] = mapped_column(String(100), index=True)
    plan: Mapped[str | None] = mapped_column(String(100))
    lifecycle_stage: Mapped[str | None] = mapped_column(String(100), index=True)
    created_on: Mapped[date | None] = mapped_column(Date)  # when the customer signed up
    renewal_on: Mapped[date | None] = mapped_column(Date, index=True)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("team_members.id", ondelete="SET NULL"))
    attributes: Mapped[dict[str, Any]] = mapped_column(JsonDocument, default=dict)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)

    owner: Mapped[TeamMember | None] = relationship(lazy="joined")


class Contact(Base):
    __tablename__ = "contacts"
    __table_args__ = (Index("ix_contacts_account_id_id", "account_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # Erasing a contact replaces its external id with a tombstone, so the same
    # person imported again later starts afresh instead of reviving the old row.
    external_id: Mapped[str] = mapped_column(String(200), unique=True)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="RESTRICT"))
    name: Mapped[str | None] = mapped_column(String(300))
    email: Mapped[str | None] = mapped_column(String(320), index=True)
    phone: Mapped[str | None] = mapped_column(String(20), index=True)  # E.164
    role: Mapped[str | None] = mapped_column(String(100), index=True)
    locale: Mapped[str] = mapped_column(String(20), default="en")
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    last_seen_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    attributes: Mapped[dict[str, Any]] = mapped_column(JsonDocument, default=dict)
    erased_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)

    account: Mapped[Account | None] = relationship(lazy="joined")
