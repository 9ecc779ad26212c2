"""Template edits over the shipped defaults, where they were used, and per-locale names.

A key is (channel, kind, step, locale), optionally scoped to one campaign. Its
history is a list of published versions, each immutable, numbered 1, 2, … per
key and scope; at most one draft per key and scope is being worked on. A
version's ``parts`` maps a part (subject, txt, html, mrkdwn) to its source;
parts it leaves out come from the default files, so ``{}`` is "the defaults"
(what a revert publishes).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from campaigns.db import Base, JsonDocument, UtcDateTime


class TemplateVersion(Base):
    __tablename__ = "template_versions"
    __table_args__ = (
        Index("ix_template_versions_key", "channel", "kind", "step", "locale", "campaign_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(20))
    kind: Mapped[str] = mapped_column(String(10))
    step: Mapped[str] = mapped_column(String(40))
    locale: Mapped[str] = mapped_column(String(20))
    # Set for a campaign's own text (it wins over the company-wide edit of the same key).
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(20))  # draft, published
    number: Mapped[int | None] = mapped_column(Integer)  # published: 1, 2, … per key and scope
    parts: Mapped[dict[str, Any]] = mapped_column(JsonDocument)  # part → source; {} = the defaults
    action: Mapped[str] = mapped_column(String(20), default="edit")  # edit, revert, rollback
    based_on_id: Mapped[int | None] = mapped_column(Integer)  # rollback: the version restored
    note: Mapped[str | None] = mapped_column(Text)
    author: Mapped[str] = mapped_column(String(200))  # who saved (draft) or published it
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    published_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class TemplateUse(Base):
    """Which published versions a stored content was rendered from, per campaign.

    A message points at its content; this row says which edits (none: the
    defaults) made that content, so the message can be rendered again exactly
    as it was sent after later edits.
    """

    __tablename__ = "template_uses"
    __table_args__ = (
        Index("ix_template_uses_campaign_id_content_id", "campaign_id", "content_id", unique=True),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    content_id: Mapped[int] = mapped_column(ForeignKey("message_contents.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(20))
    kind: Mapped[str] = mapped_column(String(10))
    step: Mapped[str] = mapped_column(String(40))
    locale: Mapped[str] = mapped_column(String(20))
    version_ids: Mapped[list[int]] = mapped_column(JsonDocument)  # [] = only default files
    fallback: Mapped[str | None] = mapped_column(Text)  # why the current edit was not used
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class LocaleProfile(Base):
    """What customers read in one locale: the company's name, who signs, where to get help."""

    __tablename__ = "locale_profiles"

    locale: Mapped[str] = mapped_column(String(20), primary_key=True)
    company_name: Mapped[str | None] = mapped_column(String(200))
    sender_name: Mapped[str | None] = mapped_column(String(200))  # the signature under every email
    support_contact: Mapped[str | None] = mapped_column(String(320))
    updated_by: Mapped[str] = mapped_column(String(200))
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
