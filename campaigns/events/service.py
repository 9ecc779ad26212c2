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

from sqlalchemy import Table, bindparam, delete, exists, insert, select, text, true, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, lazyload

from campaigns.db import UtcDateTime, rows_source
from campaigns.events.decay import DEFAULT_HALF_LIFE_DAYS, forward_weight
from campaigns.events.models import InboundSms, ProviderEvent, SmsConversation
from campaigns.events.progress import NOT_YET_SENT
from campaigns.people.models import Contact
from campaigns.programs.models import AnswerOutbox, Campaign, Episode, Message, Suppression

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


@dataclass
class Conversation:
    """Where an episode's SMS conversation stands, as read under its lock (``lock_conversation``);
    the reply changes it in Python and ``note_reply`` writes it back."""

    episode_id: int
    stage: str  # awaiting_score, awaiting_comment, complete
    clarified: bool
    pending_comment: str | None
    response_id: int | None


def note_reply(
    session: Session, inbound_id: int, *, episode_id: int | None, outcome: str, reply: str | None,
    conversation: Conversation | None = None, outbox: Mapping[str, Any] | None = None, now: datetime,
) -> None:
    """What an inbound SMS was (``outcome``), the episode it answered and what we replied, with
    the conversation as it now stands and the answer's outbox row if the reply made one.

    One statement on PostgreSQL (the other writes are CTEs of the inbound row's update);
    one per row elsewhere. Call it after the answer is flushed (the outbox row names it)."""
    # Bound names are no column's: an UPDATE takes a parameter named for one of its columns as a value to set.
    params: dict[str, Any] = {"inbound_id": inbound_id, "inbound_episode_id": episode_id, "inbound_outcome": outcome, "inbound_reply": reply}
    if conversation is not None:
        params.update({
            "conversation_episode_id": conversation.episode_id, "conversation_stage": conversation.stage,
            "conversation_clarified": conversation.clarified, "conversation_pending_comment": conversation.pending_comment,
            "conversation_response_id": conversation.response_id, "conversation_updated_at": now,
        })
    if outbox is not None:
        params.update({f"outbox_{name}": value for name, value in outbox.items()})
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        session.execute(_note_reply_statement(conversation is not None, outbox is not None), params)
        return
    if outbox is not None:
        session.execute(_OUTBOX_INSERT, params)
    if conversation is not None:
        session.execute(_CONVERSATION_UPDATE, params)
    session.execute(_NOTE_INBOUND, params)


_INBOUND = cast(Table, InboundSms.__table__)
_NOTE_INBOUND = update(_INBOUND).where(_INBOUND.c.id == bindparam("inbound_id")).values(
    episode_id=bindparam("inbound_episode_id"), outcome=bindparam("inbound_outcome"), reply=bindparam("inbound_reply"),
)
_CONVERSATIONS = cast(Table, SmsConversation.__table__)
_CONVERSATION_UPDATE = update(_CONVERSATIONS).where(_CONVERSATIONS.c.episode_id == bindparam("conversation_episode_id")).values(
    {name: bindparam(f"conversation_{name}") for name in ("stage", "clarified", "pending_comment", "response_id", "updated_at")}
)
_OUTBOX = cast(Table, AnswerOutbox.__table__)
_OUTBOX_INSERT = insert(_OUTBOX).values({
    name: bindparam(f"outbox_{name}") for name in ("kind", "episode_id", "response_id", "previous_id", "credit", "message_id", "comment", "created_at")
})


@cache
def _note_reply_statement(conversation: bool, outbox: bool) -> Any:
    """Built once per shape: the conversation's update and the outbox row as CTEs of the
    inbound row's update (PostgreSQL runs every data-modifying CTE, referenced or not)."""
    statement = _NOTE_INBOUND
    if outbox:
        statement = statement.add_cte(_OUTBOX_INSERT.cte("outbox_row"))
    if conversation:
        statement = statement.add_cte(_CONVERSATION_UPDATE.cte("conversation"))
    return statement


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
    return _open_episode(row) if row is not None else None


def log_reply(session: Session, *, message_sid: str, from_number: str, to_number: str | None, body: str, now: datetime) -> tuple[int, OpenEpisode | None] | None:
    """Keep an inbound SMS (as ``log_inbound``) and find the episode it answers (as
    ``find_open_sms_episode``, its row locked): (the inbound row's id, the episode or None);
    None if this ``MessageSid`` was kept before (a redelivery: nothing is locked).

    One statement on PostgreSQL — the insert is a CTE of the match, and the match runs only
    if the row was new — plus one more when no episode matches; two elsewhere.
    """
    params = {"message_sid": message_sid, "from_number": from_number, "to_number": to_number, "body": body, "received_at": now}
    if session.get_bind().dialect.name != "postgresql":
        inbound_id = log_inbound(session, message_sid=message_sid, from_number=from_number, to_number=to_number, body=body, now=now)
        return None if inbound_id is None else (inbound_id, find_open_sms_episode(session, from_number))
    row = session.execute(_LOGGED_OPEN_SMS_EPISODE, {**params, "phone": from_number}).first()
    if row is not None:
        return row[-1], _open_episode(row)
    # No episode, or a redelivery: the row kept says which (ours has no outcome yet).
    kept = session.execute(_INBOUND_BY_SID, {"message_sid": message_sid}).first()
    return (kept.id, None) if kept is not None and kept.outcome is None else None


def _open_episode(row: Any) -> OpenEpisode:
    message_id, episode, campaign, contact, opted_out = row[:5]
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
_LOGGED = (
    postgresql.insert(_INBOUND)
    .values({name: bindparam(name) for name in ("message_sid", "from_number", "to_number", "body", "received_at")})
    .on_conflict_do_nothing(index_elements=["message_sid"]).returning(_INBOUND.c.id).cte("logged")
)
_LOGGED_OPEN_SMS_EPISODE = _OPEN_SMS_EPISODE.add_columns(_LOGGED.c.id).join(_LOGGED, true())
_INBOUND_BY_SID = select(_INBOUND.c.id, _INBOUND.c.outcome).where(_INBOUND.c.message_sid == bindparam("message_sid"))


def sms_opted_out(session: Session, phone: str) -> bool:
    """Whether the number is suppressed for SMS (it opted out): no reply may go to it."""
    return session.scalar(_SMS_SUPPRESSED, {"phone": phone}) is not None


_SMS_SUPPRESSED = select(Suppression.id).where(Suppression.medium == "sms", Suppression.address == bindparam("phone")).limit(1)


def contact_for_phone(session: Session, phone: str) -> Contact | None:
    return session.scalars(select(Contact).where(Contact.phone == phone, Contact.erased_at.is_(None)).order_by(Contact.id).limit(1)).first()


def lock_episode(session: Session, episode: Episode) -> None:
    """Hold the episode's row lock (PostgreSQL) until the transaction ends, and reload it.

    Every answer path takes this lock before any other row of the episode (its
    conversation, its response), so concurrent answers queue up instead of deadlocking.
    """
    session.refresh(episode, with_for_update=True)


def lock_conversation(session: Session, *, episode_id: int, phone: str, now: datetime) -> Conversation:
    """The episode's conversation, created on first use and locked for this transaction.

    One statement: the upsert takes the row lock, so replies from one phone are
    handled one at a time in arrival order (the second waits here until the
    first has committed, then sees what it did). ``note_reply`` writes it back.
    """
    row = session.execute(
        _lock_conversation_statement(session.get_bind().dialect.name),
        {"episode_id": episode_id, "phone": phone, "stage": "awaiting_score", "clarified": False, "created_at": now, "updated_at": now},
    ).one()
    return Conversation(*row)


@cache
def _lock_conversation_statement(dialect: str) -> Any:
    """Built once per dialect, on the table: building and keying the upsert cost more CPU than running it."""
    upsert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(_CONVERSATIONS)
    c = _CONVERSATIONS.c
    return upsert.on_conflict_do_update(index_elements=["episode_id"], set_={"updated_at": upsert.excluded.updated_at}).returning(
        c.episode_id, c.stage, c.clarified, c.pending_comment, c.response_id,
    )


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
