"""Storing what comes back: each function flushes at most, never commits (the caller does).

Idempotency rests on unique keys and ``INSERT … ON CONFLICT DO NOTHING``: a
provider's retry that races its first delivery waits on the unique index until
the first transaction commits, then finds the row and does nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from operator import itemgetter
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, exists, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, lazyload

from campaigns.db import UtcDateTime, rows_source
from campaigns.events.decay import DEFAULT_HALF_LIFE_DAYS, forward_weight
from campaigns.events.models import InboundSms, ProviderEvent, SmsConversation
from campaigns.events.progress import NOT_YET_SENT
from campaigns.people.models import Contact
from campaigns.programs.models import Campaign, Episode, Message, Suppression

# Episodes that still take an SMS reply (late answers after close are kept too).
OPEN_EPISODE_STATES = ("selected", "pre_noticed", "invited", "reminded", "answered", "thanked")
# Messages a customer can have received, and so be replying to.
REACHED_STATES = ("sending", "unknown", "sent", "delivered", "opened", "clicked", "answered")


def log_inbound(session: Session, *, message_sid: str, from_number: str, to_number: str | None, body: str, now: datetime) -> int | None:
    """Keep an inbound SMS; its id, or None if this ``MessageSid`` was kept before (a redelivery)."""
    return session.scalar(_log_inbound_statement(session.get_bind().dialect.name), {
        "message_sid": message_sid, "from_number": from_number, "to_number": to_number, "body": body, "received_at": now,
    })


@cache
def _log_inbound_statement(dialect: str) -> Any:
    """Built once per dialect (on the table: the ORM's INSERT path costs more than the row)."""
    table = cast(Table, InboundSms.__table__)
    insert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)
    return insert.on_conflict_do_nothing(index_elements=["message_sid"]).returning(table.c.id)


def note_inbound_outcome(session: Session, inbound_id: int, *, episode_id: int | None, outcome: str, reply: str | None) -> None:
    """What an inbound SMS was (``outcome``), the episode it answered, and what we replied."""
    session.execute(_NOTE_INBOUND, {"inbound_id": inbound_id, "episode_id": episode_id, "outcome": outcome, "reply": reply})


_INBOUND = cast(Table, InboundSms.__table__)
_NOTE_INBOUND = update(_INBOUND).where(_INBOUND.c.id == bindparam("inbound_id")).values(
    episode_id=bindparam("episode_id"), outcome=bindparam("outcome"), reply=bindparam("reply"),
)


def stored_reply(session: Session, message_sid: str) -> str | None:
    """What we answered the first delivery of this ``MessageSid``."""
    return session.scalar(select(InboundSms.reply).where(InboundSms.message_sid == message_sid))


@dataclass(frozen=True)
class OpenEpisode:
    episode: Episode
    campaign: Campaign
    contact: Contact
    message_id: int  # the latest SMS of the episode to this number: what the reply answers
    opted_out: bool  # the number is suppressed for SMS (opted out): no reply may go to it


def find_open_sms_episode(session: Session, phone: str) -> OpenEpisode | None:
    """The episode whose latest SMS went to ``phone``, if it still takes replies; its row
    locked until commit (PostgreSQL; as ``lock_episode`` takes it, and read as it is once locked).

    Walks contacts.phone → episodes.contact_id → messages.episode_id, every step
    indexed, so a busy messages table is never scanned per reply.
    """
    row = session.execute(_OPEN_SMS_EPISODE, {"phone": phone}).first()
    if row is None:
        return None
    message_id, episode, campaign, contact, opted_out = row
    return OpenEpisode(episode, campaign, contact, message_id, bool(opted_out))


# Built once per process: building and keying it cost more CPU than running it.
_OPEN_SMS_EPISODE = (
    select(Message.id, Episode, Campaign, Contact, exists(
        select(Suppression.id).where(Suppression.medium == "sms", Suppression.address == bindparam("phone"))
    ).label("opted_out"))
    .join(Episode, Episode.id == Message.episode_id)
    .join(Contact, Contact.id == Episode.contact_id)
    .join(Campaign, Campaign.id == Episode.campaign_id)
    .where(
        Contact.phone == bindparam("phone"), Message.medium == "sms", Message.recipient == bindparam("phone"),
        Message.state.in_(REACHED_STATES), Episode.state.in_(OPEN_EPISODE_STATES),
        Campaign.status.in_(("active", "paused", "closed")),
    )
    .order_by(Message.created_at.desc(), Message.id.desc())
    .limit(1)
    # The account (and its owner) load only if a reply needs them: no joins to accounts and team members.
    .options(lazyload(Contact.account))
    .with_for_update(of=Episode)
    .execution_options(populate_existing=True)
)


def contact_for_phone(session: Session, phone: str) -> Contact | None:
    return session.scalars(select(Contact).where(Contact.phone == phone, Contact.erased_at.is_(None)).order_by(Contact.id).limit(1)).first()


def lock_episode(session: Session, episode: Episode) -> None:
    """Hold the episode's row lock (PostgreSQL) until the transaction ends, and reload it.

    Every answer path takes this lock before any other row of the episode (its
    conversation, its response), so concurrent answers queue up instead of deadlocking.
    """
    session.refresh(episode, with_for_update=True)


def lock_conversation(session: Session, *, episode_id: int, phone: str, now: datetime) -> SmsConversation:
    """The episode's conversation, created on first use and locked for this transaction.

    One statement: the upsert takes the row lock, so replies from one phone are
    handled one at a time in arrival order (the second waits here until the
    first has committed, then sees what it did).
    """
    return session.scalars(
        _lock_conversation_statement(session.get_bind().dialect.name),
        {"episode_id": episode_id, "phone": phone, "stage": "awaiting_score", "clarified": False, "created_at": now, "updated_at": now},
        execution_options={"populate_existing": True},
    ).one()


@cache
def _lock_conversation_statement(dialect: str) -> Any:
    """Built once per dialect: building and keying the upsert cost more CPU than running it."""
    insert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(SmsConversation)
    return insert.on_conflict_do_update(index_elements=["episode_id"], set_={"updated_at": insert.excluded.updated_at}).returning(SmsConversation)


COUNTED = ("sent", "delivered", "opened", "clicked", "answered", "dismissed", "bounced")
WEIGHTED = ("sent", "opened", "clicked", "answered", "dismissed", "bounced")
_NONE_COUNTED = dict.fromkeys(COUNTED, 0)


_COUNTER_COLUMNS = (("contact_id", "int"), ("medium", "text"), *((level, "int") for level in COUNTED), *((f"weight_{level}", "float8") for level in WEIGHTED))


def add_evidence(session: Session, totals: Mapping[tuple[int, str], Mapping[str, int]], *, now: datetime, half_life_days: float = DEFAULT_HALF_LIFE_DAYS) -> None:
    """Add counts per (contact, medium) — plain and forward-decayed — in key order (no deadlocks).

    The callers make each count happen once (a message reaches a level once; an
    event is kept once by its unique id), so this only adds: one upsert for
    every (contact, medium) at once, reading the increments from one JSON
    parameter (a thousand contacts cost one statement, not a thousand).
    """
    present = [(key, counts) for key, counts in sorted(totals.items()) if any(counts.get(level) for level in COUNTED)]
    if not present:
        return
    weight = forward_weight(now, half_life_days)
    counted, weighted = itemgetter(*COUNTED), itemgetter(*WEIGHTED)
    rows = []
    for (contact_id, medium), counts in present:
        full = {**_NONE_COUNTED, **counts}
        rows.append((contact_id, medium, *counted(full), *(n * weight for n in weighted(full))))
    source, params = rows_source(session, _COUNTER_COLUMNS, rows, alias="c")
    names = [name for name, _ in _COUNTER_COLUMNS]
    listed = ", ".join(names)
    # Rows go in in key order (the JSON array's), so concurrent upserts take the row locks in one order.
    session.execute(
        text(
            f"INSERT INTO engagement_counters ({listed}, updated_at) SELECT {', '.join(f'c.{n}' for n in names)}, :now"
            f" FROM {source} WHERE true"
            " ON CONFLICT (contact_id, medium) DO UPDATE SET updated_at = excluded.updated_at, "
            + ", ".join(f"{n} = engagement_counters.{n} + excluded.{n}" for n in names[2:])
        ).bindparams(bindparam("now", type_=UtcDateTime)),
        {**params, "now": now},
    )


def pending_events(session: Session, *, limit: int) -> list[ProviderEvent]:
    """Events waiting for their message's send to be recorded, whose send now is."""
    return list(session.scalars(
        select(ProviderEvent).join(Message, Message.id == ProviderEvent.message_id)
        .where(ProviderEvent.pending.is_(True), Message.state.not_in(NOT_YET_SENT + ("queued", "retrying")))
        .order_by(ProviderEvent.message_id, ProviderEvent.id).limit(limit)
    ))


def events_waiting(session: Session) -> bool:
    """Whether any provider event still waits for its message's send to be recorded (one indexed probe)."""
    return session.execute(select(ProviderEvent.id).where(ProviderEvent.pending.is_(True)).limit(1)).first() is not None


def lift_suppression(session: Session, *, medium: str, address: str, reasons: Sequence[str]) -> int:
    """Remove the address's suppressions for these reasons only (START lifts a STOP, never a bounce)."""
    result = session.execute(
        delete(Suppression).where(Suppression.medium == medium, Suppression.address == address, Suppression.reason.in_(reasons))
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def append_text(existing: str | None, text: str) -> str:
    """Customer words kept in arrival order, one reply per line."""
    return f"{existing}\n{text}" if existing else text
