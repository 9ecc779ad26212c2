"""Campaigns, their plan steps, episodes (one contact's path) and messages."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from campaigns.db import Base, JsonDocument, UtcDateTime


class Campaign(Base):
    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(10))  # nps, csat, ces
    mode: Mapped[str] = mapped_column(String(20), default="one_off")  # one_off, continuous, transactional
    period_days: Mapped[int | None] = mapped_column(Integer)  # continuous: each contact once per period
    status: Mapped[str] = mapped_column(String(20), default="draft", index=True)
    # draft → active (launched) ⇄ paused → closed; or cancelled at any point
    survey: Mapped[dict[str, Any]] = mapped_column(JsonDocument)  # question / follow_up per locale, deadline
    audience: Mapped[dict[str, Any]] = mapped_column(JsonDocument)
    exclusions: Mapped[dict[str, Any]] = mapped_column(JsonDocument)
    plan: Mapped[list[dict[str, Any]]] = mapped_column(JsonDocument)
    sending_window: Mapped[dict[str, Any]] = mapped_column(JsonDocument)
    channels: Mapped[list[str]] = mapped_column(JsonDocument)
    # learned: each contact's medium by engagement (dispatcher.routing); ordered: the first reachable
    channel_choice: Mapped[str] = mapped_column(String(10), default="learned")
    internal_recipients: Mapped[dict[str, Any]] = mapped_column(JsonDocument)
    review_link: Mapped[str | None] = mapped_column(String(500))
    send_at: Mapped[datetime | None] = mapped_column(UtcDateTime)  # T, the invite
    you_said_we_did: Mapped[str | None] = mapped_column(Text)
    paused_reason: Mapped[str | None] = mapped_column(Text)  # why it is paused: a person's words, or Pulse's (bad credentials)
    paused_by: Mapped[str | None] = mapped_column(String(320))  # who paused it: a team member's email, an API key's name, "pulse"
    paused_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    selection_state: Mapped[str] = mapped_column(String(20), default="pending")  # pending, running, done
    selection_claimed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)  # wall time
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    launched_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    cancelled_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class PlanStep(Base):
    """One step of a launched campaign's plan (or of one daily wave of a continuous one)."""

    __tablename__ = "plan_steps"
    __table_args__ = (UniqueConstraint("campaign_id", "key", "wave"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"), index=True)
    key: Mapped[str] = mapped_column(String(40))  # kickoff, pre_notice, invite, reminder_1, close, ...
    step: Mapped[str] = mapped_column(String(40))  # the step type: reminder for reminder_1
    number: Mapped[int] = mapped_column(Integer, default=0)  # reminder number
    final: Mapped[bool] = mapped_column(default=False)  # the last reminder
    wave: Mapped[int] = mapped_column(Integer, default=0)  # continuous programs: the day's wave
    due_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    status: Mapped[str] = mapped_column(String(20), default="pending", index=True)
    # pending → running (claimed by one scheduler) → dispatched (every batch handed out) → done
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    claimed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)  # wall time, to recover a dead claim
    dispatched_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # Batches handed out and not yet planned: while some are, a batch sends only whole
    # requests' worth of each content and leaves the rest to the later batches.
    batches_left: Mapped[int | None] = mapped_column(Integer)
    halted_reason: Mapped[str | None] = mapped_column(Text)  # e.g. the channel is misconfigured

    campaign: Mapped[Campaign] = relationship(lazy="joined")


class Episode(Base):
    """One contact's path through one campaign: selected or excluded (with the reason), then its steps."""

    __tablename__ = "episodes"
    __table_args__ = (
        UniqueConstraint("campaign_id", "contact_id", "wave"),
        Index("ix_episodes_campaign_id_state", "campaign_id", "state"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True)  # random; what links carry
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"), index=True)
    wave: Mapped[int] = mapped_column(Integer, default=0)
    state: Mapped[str] = mapped_column(String(20))
    # selected, excluded, pre_noticed, invited, reminded, answered, thanked, cancelled
    exclusion_reason: Mapped[str | None] = mapped_column(Text)
    exclusion_rule: Mapped[str | None] = mapped_column(String(60))  # the reason's code, for counts
    channel: Mapped[str | None] = mapped_column(String(20))  # the medium of the last contact message
    trigger: Mapped[str | None] = mapped_column(String(200))  # transactional: what started it
    reference: Mapped[str | None] = mapped_column(String(200))  # transactional: e.g. the ticket id
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    invited_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    answered_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    thanked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class MessageContent(Base):
    """Rendered content shared by every message of one (step, channel, locale).

    Per-recipient values live on the message as substitutions, so a step for
    100,000 contacts stores its HTML once, and providers that support it
    (SendGrid personalizations) carry many recipients in one request.
    """

    __tablename__ = "message_contents"

    id: Mapped[int] = mapped_column(primary_key=True)
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    subject: Mapped[str | None] = mapped_column(Text)
    text: Mapped[str] = mapped_column(Text)
    html: Mapped[str | None] = mapped_column(Text)


class Message(Base):
    """Exactly one row per (episode, step), committed before anything reaches a channel."""

    __tablename__ = "messages"
    __table_args__ = (
        # Only the rows still to send are indexed by due time: a sent message leaves
        # this index, and no other index of the table holds ``state``.
        Index("ix_messages_due", "not_before", postgresql_where=text("state IN ('queued', 'retrying')"),
              sqlite_where=text("state IN ('queued', 'retrying')")),
        Index("ix_messages_in_flight", "claimed_at", postgresql_where=text("state = 'sending'"), sqlite_where=text("state = 'sending'")),
        Index("ix_messages_step_id", "step_id"),
        # Planned and not yet handed out, by step: what a step's batches gather into full requests.
        Index("ix_messages_unsent", "step_id", postgresql_where=text("state = 'queued' AND enqueued_at IS NULL"),
              sqlite_where=text("state = 'queued' AND enqueued_at IS NULL")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(120), unique=True)
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"), index=True)
    step_id: Mapped[int | None] = mapped_column(ForeignKey("plan_steps.id", ondelete="CASCADE"))
    episode_id: Mapped[int | None] = mapped_column(ForeignKey("episodes.id", ondelete="CASCADE"), index=True)
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"))
    step: Mapped[str] = mapped_column(String(40))  # step type, e.g. invite, reminder, thank_you
    medium: Mapped[str | None] = mapped_column(String(20))  # email, sms, in_app, slack
    channel: Mapped[str | None] = mapped_column(String(40))  # the adapter: sendgrid, smtp, twilio, outbox_email…
    channel_reason: Mapped[str | None] = mapped_column(Text)  # why this medium, in words
    # Each candidate medium's estimated chance of an answer when the choice was made.
    channel_estimates: Mapped[dict[str, Any] | None] = mapped_column(JsonDocument)
    recipient: Mapped[str | None] = mapped_column(String(500))
    locale: Mapped[str | None] = mapped_column(String(20))
    content_id: Mapped[int | None] = mapped_column(ForeignKey("message_contents.id"))
    substitutions: Mapped[dict[str, Any]] = mapped_column(JsonDocument, default=dict)
    state: Mapped[str] = mapped_column(String(20))
    # queued → sending → sent → delivered → opened → clicked → answered;
    # skipped (with reason), retrying, failed (with reason), unknown
    skip_reason: Mapped[str | None] = mapped_column(Text)
    skip_rule: Mapped[str | None] = mapped_column(String(60))
    not_before: Mapped[datetime | None] = mapped_column(UtcDateTime)  # deferred to a window, or a retry
    enqueued_at: Mapped[datetime | None] = mapped_column(UtcDateTime)  # wall time
    # ``sending`` means in flight: a worker (``claimed_by``) marked it, committed, and is
    # sending it now. Nothing is marked before the request that carries it is about to start.
    claimed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)  # wall time of the hand-off
    claimed_by: Mapped[str | None] = mapped_column(String(100))  # the worker process (see heartbeats)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    provider_message_id: Mapped[str | None] = mapped_column(String(200), index=True)
    error_code: Mapped[str | None] = mapped_column(String(60))
    error_text: Mapped[str | None] = mapped_column(Text)
    segments: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Suppression(Base):
    """An address that must never get another message on its medium (opt-out, bounce, spam report)."""

    __tablename__ = "suppressions"
    __table_args__ = (UniqueConstraint("medium", "address"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    medium: Mapped[str] = mapped_column(String(20))
    address: Mapped[str] = mapped_column(String(320))
    reason: Mapped[str] = mapped_column(String(60))  # opted_out, unsubscribed, bounced, spam_report
    source: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Response(Base):
    """An answer. A second answer in the same episode supersedes the first; both are kept."""

    __tablename__ = "responses"
    # Results find each contact's previous answer of the same kind (score change).
    __table_args__ = (Index("ix_responses_contact_id_kind_created_at", "contact_id", "kind", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    episode_id: Mapped[int] = mapped_column(ForeignKey("episodes.id", ondelete="CASCADE"), index=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"), index=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(10))
    score: Mapped[int] = mapped_column(Integer)
    category: Mapped[str] = mapped_column(String(20))
    comment: Mapped[str | None] = mapped_column(Text)
    medium: Mapped[str] = mapped_column(String(20))
    current: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class AnswerOutbox(Base):
    """What an answer still has to set off, written in the answer's own transaction.

    A worker (``dispatcher.answers.follow_through``) claims rows, does the follow-up
    task, the thank-you, the detractor alert, the webhooks and the channel-choice
    signal, and marks them done in the same transaction; a claim whose worker died is
    taken again (``claimed_by`` and heartbeats, or ``claimed_at`` past a grace period).
    """

    __tablename__ = "answer_outbox"
    __table_args__ = (
        # Only what is still to do is indexed: a done row leaves the index.
        Index("ix_answer_outbox_pending", "id", postgresql_where=text("done_at IS NULL"), sqlite_where=text("done_at IS NULL")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(10))  # answer: a score recorded; comment: words after it (SMS)
    episode_id: Mapped[int] = mapped_column(ForeignKey("episodes.id", ondelete="CASCADE"), index=True)
    response_id: Mapped[int] = mapped_column(ForeignKey("responses.id", ondelete="CASCADE"))
    previous_id: Mapped[int | None] = mapped_column(ForeignKey("responses.id", ondelete="SET NULL"))  # the answer it replaced
    comment: Mapped[str | None] = mapped_column(Text)  # kind comment: the words, for the follow-up task's note
    # Channel choice learns from answers: the message the answer is credited to (``credit``;
    # no ``message_id``: the episode's latest one reached on the answer's medium).
    credit: Mapped[bool] = mapped_column(default=False)
    message_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    claimed_by: Mapped[str | None] = mapped_column(String(100))  # the worker process (see heartbeats)
    claimed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)  # wall time
    done_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class InAppPrompt(Base):
    __tablename__ = "in_app_prompts"

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"), unique=True)
    contact_external_id: Mapped[str] = mapped_column(String(200), index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JsonDocument)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    status: Mapped[str] = mapped_column(String(20), default="pending")  # pending, answered, dismissed, expired
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class IdempotentRequest(Base):
    """A remembered answer to a request sent with an ``Idempotency-Key``."""

    __tablename__ = "idempotent_requests"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    body_digest: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    response: Mapped[dict[str, Any]] = mapped_column(JsonDocument)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class WorkerHeartbeat(Base):
    """A worker process says it is alive; what it holds is recovered soon after it stops saying so."""

    __tablename__ = "worker_heartbeats"

    worker: Mapped[str] = mapped_column(String(100), primary_key=True)  # host:pid
    beat_at: Mapped[datetime] = mapped_column(UtcDateTime)  # wall time
