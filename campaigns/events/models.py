"""What comes back from customers and providers: SMS replies, delivery events, engagement.

Each table is idempotent on the provider's own id (``MessageSid``,
``sg_event_id``), so a provider's retry finds the first delivery's row and
changes nothing.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from campaigns.db import Base, UtcDateTime


class InboundSms(Base):
    """Every SMS a customer sent us, once per Twilio ``MessageSid``, with what we answered."""

    __tablename__ = "inbound_sms"

    id: Mapped[int] = mapped_column(primary_key=True)
    message_sid: Mapped[str] = mapped_column(String(64), unique=True)
    # E.164 for SMS; 64 leaves room for channel prefixes such as "whatsapp:+1…"
    from_number: Mapped[str] = mapped_column(String(64), index=True)
    to_number: Mapped[str | None] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(Text)
    episode_id: Mapped[int | None] = mapped_column(ForeignKey("episodes.id", ondelete="SET NULL"), index=True)
    # score, comment, clarify, opted_out, opted_in, help, unmatched, ignored
    outcome: Mapped[str | None] = mapped_column(String(20))
    reply: Mapped[str | None] = mapped_column(Text)  # the text we answered with; None: nothing
    received_at: Mapped[datetime] = mapped_column(UtcDateTime)


class SmsConversation(Base):
    """Where one episode's SMS conversation stands: waiting for a score, then for the reason."""

    __tablename__ = "sms_conversations"

    episode_id: Mapped[int] = mapped_column(ForeignKey("episodes.id", ondelete="CASCADE"), primary_key=True)
    phone: Mapped[str] = mapped_column(String(64))
    stage: Mapped[str] = mapped_column(String(20), default="awaiting_score")  # awaiting_score, awaiting_comment, complete
    clarified: Mapped[bool] = mapped_column(default=False)  # the "please reply with a number" went out once
    pending_comment: Mapped[str | None] = mapped_column(Text)  # words sent before any score
    response_id: Mapped[int | None] = mapped_column(ForeignKey("responses.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class ProviderEvent(Base):
    """One delivery or engagement event, once per provider event id.

    ``pending`` events arrived while their message was still being handed to the
    provider (``sending``); they are applied once the send is recorded.
    """

    __tablename__ = "provider_events"
    __table_args__ = (UniqueConstraint("provider", "event_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    provider: Mapped[str] = mapped_column(String(20))  # sendgrid, twilio
    event_id: Mapped[str] = mapped_column(String(200))  # sg_event_id; MessageSid:status for Twilio
    event: Mapped[str] = mapped_column(String(40))  # the provider's name: bounce, delivered, undelivered…
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="SET NULL"), index=True)
    medium: Mapped[str] = mapped_column(String(20))
    address: Mapped[str | None] = mapped_column(String(320))
    target_state: Mapped[str | None] = mapped_column(String(20))  # what the message moves to, if anything
    pending: Mapped[bool] = mapped_column(default=False, index=True)
    bounced: Mapped[bool] = mapped_column(default=False)  # a delivery failure, counted as a bounce
    error_code: Mapped[str | None] = mapped_column(String(60))
    detail: Mapped[str | None] = mapped_column(Text)  # the provider's reason or response
    occurred_at: Mapped[datetime | None] = mapped_column(UtcDateTime)  # the provider's clock
    received_at: Mapped[datetime] = mapped_column(UtcDateTime)


class EngagementCounter(Base):
    """How a contact responds on one medium, counted once per message; feeds channel choice.

    The integer columns are plain counts (what a person reads: "answered 2 of 3
    SMS"). The ``weight_*`` columns hold the same evidence with old events
    decayed, stored *forward-decayed* (``campaigns.events.decay``): each event adds
    ``2 ** (t / half_life)``, so an update is a plain addition and reading
    divides by the weight of now.
    """

    __tablename__ = "engagement_counters"

    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True)
    medium: Mapped[str] = mapped_column(String(20), primary_key=True)
    sent: Mapped[int] = mapped_column(Integer, default=0)  # survey asks (invites, reminders) handed to the channel
    delivered: Mapped[int] = mapped_column(Integer, default=0)
    opened: Mapped[int] = mapped_column(Integer, default=0)  # in-app: the prompt was shown
    clicked: Mapped[int] = mapped_column(Integer, default=0)
    answered: Mapped[int] = mapped_column(Integer, default=0)
    dismissed: Mapped[int] = mapped_column(Integer, default=0)  # in-app prompt closed unanswered
    bounced: Mapped[int] = mapped_column(Integer, default=0)
    weight_sent: Mapped[float] = mapped_column(Float, default=0.0)
    weight_opened: Mapped[float] = mapped_column(Float, default=0.0)
    weight_clicked: Mapped[float] = mapped_column(Float, default=0.0)
    weight_answered: Mapped[float] = mapped_column(Float, default=0.0)
    weight_dismissed: Mapped[float] = mapped_column(Float, default=0.0)
    weight_bounced: Mapped[float] = mapped_column(Float, default=0.0)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)

