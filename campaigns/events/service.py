"""Storing what comes back: each function flushes at most, never commits (the caller does).

Idempotency rests on unique keys and ``INSERT … ON CONFLICT DO NOTHING``: a
provider's retry that races its first delivery waits on the unique index until
the first transaction commits, then finds the row and does nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from campaigns.db import dialect_insert
from campaigns.events.decay import DEFAULT_HALF_LIFE_DAYS, forward_weight
from campaigns.events.models import EngagementCounter, InboundSms, ProviderEvent, SmsConversation
from campaigns.events.outcomes import Outcome
from campaigns.events.progress import FAILED, NOT_YET_SENT, levels_reached, may_move
from campaigns.people.models import Contact
from campaigns.programs.models import Campaign, Episode, Message, Suppression

# Episodes that still take an SMS reply (late answers after close are kept too).
OPEN_EPISODE_STATES = ("selected", "pre_noticed", "invited", "reminded", "answered", "thanked")
# Messages a customer can have received, and so be replying to.
REACHED_STATES = ("sending", "unknown", "sent", "delivered", "opened", "clicked", "answered")


@dataclass(frozen=True)
class Move:
    """A message that moved forward: from where to where, for whom."""

    message_id: int
    before: str
    after: str
    medium: str
    contact_id: int | None


PENDING: Literal["pending"] = "pending"


def log_inbound(session: Session, *, message_sid: str, from_number: str, to_number: str | None, body: str, now: datetime) -> InboundSms | None:
    """Keep an inbound SMS; None if this ``MessageSid`` was kept before (a redelivery)."""
    return session.scalars(
        dialect_insert(session, InboundSms).values(
            message_sid=message_sid, from_number=from_number, to_number=to_number, body=body, received_at=now,
        ).on_conflict_do_nothing(index_elements=["message_sid"]).returning(InboundSms)
    ).first()


def stored_reply(session: Session, message_sid: str) -> str | None:
    """What we answered the first delivery of this ``MessageSid``."""
    return session.scalar(select(InboundSms.reply).where(InboundSms.message_sid == message_sid))


@dataclass(frozen=True)
class OpenEpisode:
    episode: Episode
    campaign: Campaign
    contact: Contact
    message_id: int  # the latest SMS of the episode to this number: what the reply answers


def find_open_sms_episode(session: Session, phone: str) -> OpenEpisode | None:
    """The episode whose latest SMS went to ``phone``, if it still takes replies.

    Walks contacts.phone → episodes.contact_id → messages.episode_id, every step
    indexed, so a busy messages table is never scanned per reply.
    """
    row = session.execute(
        select(Message.id, Episode, Campaign, Contact)
        .join(Episode, Episode.id == Message.episode_id)
        .join(Contact, Contact.id == Episode.contact_id)
        .join(Campaign, Campaign.id == Episode.campaign_id)
        .where(
            Contact.phone == phone, Message.medium == "sms", Message.recipient == phone,
            Message.state.in_(REACHED_STATES), Episode.state.in_(OPEN_EPISODE_STATES),
            Campaign.status.in_(("active", "paused", "closed")),
        )
        .order_by(Message.created_at.desc(), Message.id.desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    message_id, episode, campaign, contact = row
    return OpenEpisode(episode, campaign, contact, message_id)


def contact_for_phone(session: Session, phone: str) -> Contact | None:
    return session.scalars(select(Contact).where(Contact.phone == phone, Contact.erased_at.is_(None)).order_by(Contact.id).limit(1)).first()


def lock_conversation(session: Session, *, episode_id: int, phone: str, now: datetime) -> SmsConversation:
    """The episode's conversation, created on first use and locked for this transaction.

    One statement: the upsert takes the row lock, so replies from one phone are
    handled one at a time in arrival order (the second waits here until the
    first has committed, then sees what it did).
    """
    insert = dialect_insert(session, SmsConversation).values(
        episode_id=episode_id, phone=phone, stage="awaiting_score", clarified=False, created_at=now, updated_at=now,
    )
    return session.scalars(
        insert.on_conflict_do_update(index_elements=["episode_id"], set_={"updated_at": now}).returning(SmsConversation),
        execution_options={"populate_existing": True},
    ).one()


def record_event(
    session: Session, *, provider: str, event_id: str, event: str, medium: str, address: str | None,
    message_id: int | None, outcome: Outcome, occurred_at: datetime | None, now: datetime,
) -> ProviderEvent | None:
    """Keep one provider event; None if it was kept before (a redelivery)."""
    return session.scalars(
        dialect_insert(session, ProviderEvent).values(
            provider=provider, event_id=event_id[:200], event=event[:40], medium=medium, address=address, message_id=message_id,
            target_state=outcome.target, pending=False, bounced=outcome.bounced, error_code=outcome.error_code, detail=outcome.detail,
            occurred_at=occurred_at, received_at=now,
        ).on_conflict_do_nothing(index_elements=["provider", "event_id"]).returning(ProviderEvent)
    ).first()


def lock_messages(session: Session, message_ids: Iterable[int]) -> None:
    """Lock messages in id order, so two batches touching the same messages cannot deadlock."""
    ids = sorted(set(message_ids))
    if ids:
        session.execute(select(Message.id).where(Message.id.in_(ids)).order_by(Message.id).with_for_update())


def advance_message(
    session: Session, *, message_id: int, target: str, now: datetime,
    error_code: str | None = None, detail: str | None = None, provider_message_id: str | None = None,
) -> Move | Literal["pending"] | None:
    """Move a message forward to ``target`` if that is forward; None if it stays.

    ``pending`` when the message is still being handed to its provider: its
    send result is not recorded yet and must not be overtaken (the caller keeps
    the event and applies it later). A conditional UPDATE under a row lock, so
    concurrent events never move a message backwards.
    """
    for _ in range(3):
        row = session.execute(
            select(Message.state, Message.medium, Message.contact_id).where(Message.id == message_id).with_for_update()
        ).first()
        if row is None:
            return None
        state, medium, contact_id = row
        if state in NOT_YET_SENT:
            return PENDING
        if not may_move(state, target):
            return None
        values: dict[str, object] = {"state": target, "updated_at": now}
        if target == FAILED:
            values.update(error_code=error_code, error_text=detail)
        result = session.execute(update(Message).where(Message.id == message_id, Message.state == state).values(**values))
        if result.rowcount:  # type: ignore[attr-defined]
            if provider_message_id:
                session.execute(update(Message).where(Message.id == message_id, Message.provider_message_id.is_(None)).values(provider_message_id=provider_message_id))
            return Move(message_id, state, target, medium or "", contact_id)
    return None


COUNTED = ("sent", "delivered", "opened", "clicked", "answered", "dismissed", "bounced")
WEIGHTED = ("sent", "opened", "clicked", "answered", "dismissed", "bounced")


def count_engagement(session: Session, moves: Sequence[Move], *, bounced: set[int], now: datetime, half_life_days: float = DEFAULT_HALF_LIFE_DAYS) -> None:
    """Add each move's first-time levels (and bounces) to the counters, in key order."""
    totals: dict[tuple[int, str], dict[str, int]] = {}
    for move in moves:
        if move.contact_id is None:
            continue
        counts = totals.setdefault((move.contact_id, move.medium), {})
        for level in levels_reached(move.before, move.after, move.medium):
            counts[level] = counts.get(level, 0) + 1
        if move.after == FAILED and move.message_id in bounced:
            counts["bounced"] = counts.get("bounced", 0) + 1
    add_evidence(session, totals, now=now, half_life_days=half_life_days)


def add_evidence(session: Session, totals: Mapping[tuple[int, str], Mapping[str, int]], *, now: datetime, half_life_days: float = DEFAULT_HALF_LIFE_DAYS) -> None:
    """Add counts per (contact, medium) — plain and forward-decayed — in key order (no deadlocks).

    The callers make each count happen once (a message reaches a level once; an
    event is kept once by its unique id), so this only adds: one cached upsert
    over the signals present, executed for every row at once (``excluded``
    holds each row's increments; a thousand sends cost ~20 ms of CPU, not 300).
    """
    present = [(key, counts) for key, counts in sorted(totals.items()) if any(counts.get(level) for level in COUNTED)]
    if not present:
        return
    levels = [level for level in COUNTED if any(counts.get(level) for _, counts in present)]
    weighted = [level for level in levels if level in WEIGHTED]
    weight = forward_weight(now, half_life_days)
    rows = [
        {"contact_id": contact_id, "medium": medium, "updated_at": now,
         **{level: counts.get(level, 0) for level in levels}, **{f"weight_{level}": counts.get(level, 0) * weight for level in weighted}}
        for (contact_id, medium), counts in present
    ]
    insert = dialect_insert(session, EngagementCounter)
    columns = [*levels, *(f"weight_{level}" for level in weighted)]
    increments = {name: getattr(EngagementCounter, name) + getattr(insert.excluded, name) for name in columns}
    session.execute(insert.on_conflict_do_update(index_elements=["contact_id", "medium"], set_={"updated_at": insert.excluded.updated_at, **increments}), rows)


def pending_events(session: Session, *, limit: int) -> list[ProviderEvent]:
    """Events waiting for their message's send to be recorded, whose send now is."""
    return list(session.scalars(
        select(ProviderEvent).join(Message, Message.id == ProviderEvent.message_id)
        .where(ProviderEvent.pending.is_(True), Message.state.not_in(NOT_YET_SENT + ("queued", "retrying")))
        .order_by(ProviderEvent.message_id, ProviderEvent.id).limit(limit)
    ))


def lift_suppression(session: Session, *, medium: str, address: str, reasons: Sequence[str]) -> int:
    """Remove the address's suppressions for these reasons only (START lifts a STOP, never a bounce)."""
    result = session.execute(
        delete(Suppression).where(Suppression.medium == medium, Suppression.address == address, Suppression.reason.in_(reasons))
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def append_text(existing: str | None, text: str) -> str:
    """Customer words kept in arrival order, one reply per line."""
    return f"{existing}\n{text}" if existing else text
