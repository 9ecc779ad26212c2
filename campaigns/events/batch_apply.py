"""Provider events applied as a set: a batch costs a few statements, whatever its size.

1. ``keep_events``: one ``INSERT … SELECT … ON CONFLICT DO NOTHING RETURNING``
   over the batch (a JSON parameter), so each provider event is kept once and a
   redelivery changes nothing;
2. ``apply_signals``: the batch's messages locked in id order (one ``SELECT …
   FOR UPDATE``), each message's events settled together in Python
   (``progress.furthest``), one forward-only ``UPDATE … FROM`` the settled
   rows, and the counters upserted grouped by (contact, medium);
3. ``suppress_addresses``: the suppressions inserted in address order and the
   messages still queued to those addresses skipped by one ``UPDATE … FROM``.

Deadlock-free by construction: a transaction takes its row locks in one fixed
order — provider event ids (sorted), message ids (sorted, including the queued
messages a suppression will skip), counter keys (sorted), suppressed addresses
(sorted) — so two overlapping batches wait for each other, never in a circle.
Functions flush at most, never commit.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any, NamedTuple, cast

from sqlalchemy import (
    ColumnElement,
    String,
    and_,
    any_,
    bindparam,
    false,
    func,
    literal_column,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from campaigns.db import UtcDateTime, insert_ignoring_conflicts, one_of, rows_source
from campaigns.events.decay import DEFAULT_HALF_LIFE_DAYS
from campaigns.events.models import ProviderEvent
from campaigns.events.outcomes import Outcome
from campaigns.events.progress import FAILED, NOT_YET_SENT, furthest, levels_reached
from campaigns.events.service import add_evidence
from campaigns.people.models import Contact
from campaigns.programs.models import Episode, Message, Suppression

WAITING = ("queued", "retrying")  # planned messages a suppression skips


class EventRow(NamedTuple):
    """One provider event as it is kept: its id, what it says, whose message it is (a tuple: a batch makes thousands)."""

    event_id: str
    event: str
    address: str | None  # the address as we sent it when the message is ours
    message_id: int | None
    outcome: Outcome
    occurred_at: datetime | None = None  # the provider's clock
    request_id: str | None = None  # the provider's id of the request that sent it (SendGrid's X-Message-Id)


class Signal(NamedTuple):
    """A kept event that moves a message: the row that holds it, and where it points."""

    event_row_id: int
    message_id: int
    target: str
    bounced: bool = False
    error_code: str | None = None
    detail: str | None = None


_EVENT_COLUMNS = (
    ("event_id", "text"), ("event", "text"), ("address", "text"), ("message_id", "int"), ("target_state", "text"),
    ("bounced", "boolean"), ("error_code", "text"), ("detail", "text"), ("occurred_at", "timestamptz"),
)
# A matched event's message: the one it names (or its request went to), sent on this medium to the event's address.
_MATCHED = " LEFT JOIN messages m ON m.id = b.message_id AND m.medium = :medium AND lower(m.recipient) = lower(b.address)"


def _by_request(session: Session, medium: str, events: list[EventRow]) -> list[EventRow]:
    """Events naming no message of ours, given the one their request sent to their address (SendGrid's
    X-Message-Id is shared by one request's recipients); one lookup, and only when there are such events."""
    wanted = {e.request_id for e in events if e.message_id is None and e.request_id and e.address}
    if not wanted:
        return events
    found: dict[tuple[str | None, str], int] = {}  # (request id, address): the query reads only wanted request ids
    for message_id, request_id, recipient in session.execute(
        select(Message.id, Message.provider_message_id, Message.recipient)
        .where(one_of(session, Message.provider_message_id, sorted(wanted)), Message.medium == medium).order_by(Message.id)
    ):
        if recipient:
            found.setdefault((request_id, recipient.lower()), message_id)
    return [
        e._replace(message_id=found.get((e.request_id, e.address.lower()))) if e.message_id is None and e.request_id and e.address else e
        for e in events
    ]


def keep_events(
    session: Session, *, provider: str, medium: str, events: Sequence[EventRow], now: datetime, match: bool = False,
) -> list[tuple[int, EventRow]]:
    """Keep each event once; (row id, event) of those not kept before, in event-id order.

    One statement for the whole batch. An event id twice in the batch is kept
    once (its first occurrence). Rows go in in event-id order: a concurrent
    batch with some of the same events waits on the first shared one.

    ``match``: the events' messages are checked inside that statement (a join,
    not a separate lookup): the message the event names — or, naming none, the
    one its ``request_id`` went to (``_by_request``) — counts only if it was
    sent on ``medium`` to the event's address (case aside); otherwise the
    event is kept without a message. The returned events carry the message
    found and its address as we sent it.
    """
    first: dict[str, EventRow] = {}
    for event in events:
        first.setdefault(event.event_id[:200], event)
    if not first:
        return []
    kept = sorted(first.items())
    if match:
        kept = list(zip((k for k, _ in kept), _by_request(session, medium, [e for _, e in kept]), strict=True))
    source, params = rows_source(session, _EVENT_COLUMNS, [
        (event_id, e.event[:40], e.address, e.message_id, e.outcome.target, e.outcome.bounced, e.outcome.error_code,
         e.outcome.detail, e.occurred_at)
        for event_id, e in kept
    ], alias="b")
    message, address = ("m.id", "coalesce(m.recipient, b.address)") if match else ("b.message_id", "b.address")
    statement = text(
        "INSERT INTO provider_events (provider, event_id, event, medium, address, message_id, target_state, pending, bounced,"
        " error_code, detail, occurred_at, received_at)"
        f" SELECT :provider, b.event_id, b.event, :medium, {address}, {message}, b.target_state, false, b.bounced,"
        f" b.error_code, b.detail, b.occurred_at, :now FROM {source}{_MATCHED if match else ''}"
        " WHERE true ORDER BY b.event_id"  # WHERE: SQLite reads ON CONFLICT after a FROM only so
        " ON CONFLICT (provider, event_id) DO NOTHING RETURNING event_id, id, message_id, address"
    ).bindparams(bindparam("now", type_=UtcDateTime))
    result = session.execute(statement, {**params, "provider": provider, "medium": medium, "now": now})
    ids = {event_id: (row_id, message_id, address) for event_id, row_id, message_id, address in result.all()}
    out = []
    for event_id, e in kept:
        found = ids.get(event_id)
        if found is not None:
            row_id, message_id, address = found
            out.append((row_id, e if message_id == e.message_id and address == e.address else e._replace(message_id=message_id, address=address)))
    return out


def waiting_to(session: Session, medium: str, addresses: Collection[str]) -> tuple[ColumnElement[bool], dict[str, Any]]:
    """Messages still queued to these addresses on ``medium``, found through the contacts who have them:
    the condition and the parameters to execute it with.

    Every step is indexed (contacts by address, episodes by contact, messages by
    episode; on PostgreSQL the episode ids are one array computed once), so a
    campaign with a million queued messages is not scanned for a bounce. A
    message outside any episode, or planned to an address its contact no longer
    has, is left to the send path, which checks suppressions again when it claims.
    """
    if medium not in _ADDRESS_COLUMNS or not addresses:
        return false(), {}
    return _waiting(session.get_bind().dialect.name, medium), {"waiting_addresses": sorted(addresses)}


_ADDRESS_COLUMNS = {"email": Contact.email, "sms": Contact.phone}


@lru_cache(maxsize=8)  # built once per (backend, medium): a batch costs a bound list, not a new expression tree
def _waiting(dialect: str, medium: str) -> ColumnElement[bool]:
    column = _ADDRESS_COLUMNS[medium]
    if dialect == "postgresql":
        addresses: Any = bindparam("waiting_addresses", type_=ARRAY(String()))
        found = select(Episode.id).join(Contact, Contact.id == Episode.contact_id).where(column == any_(addresses)).subquery()
        # An array expression (not "ANY (subquery)"), so it is computed once and the episode index is used.
        in_episodes = Message.episode_id == any_(func.coalesce(select(func.array_agg(found.c.id)).scalar_subquery(), literal_column("'{}'::int[]")))
        to_them = Message.recipient == any_(addresses)
    else:
        addresses = bindparam("waiting_addresses", expanding=True)
        in_episodes = Message.episode_id.in_(select(Episode.id).join(Contact, Contact.id == Episode.contact_id).where(column.in_(addresses)))
        to_them = Message.recipient.in_(addresses)
    return and_(in_episodes, Message.medium == medium, to_them, Message.state.in_(WAITING))


def lock_messages(session: Session, message_ids: Iterable[int], *, queued_to: tuple[str, Collection[str]] | None = None) -> dict[int, Any]:
    """Lock messages in id order, so two batches touching the same messages cannot deadlock.

    ``queued_to`` (medium, addresses) adds the messages still waiting to go to
    those addresses (``waiting_to``), which a suppression will skip. Returns
    each locked message's (state, medium, contact_id) by id.
    """
    ids = sorted(set(message_ids))
    where = [one_of(session, Message.id, ids)] if ids else []
    params: dict[str, Any] = {}
    if queued_to and queued_to[1]:
        waiting, params = waiting_to(session, *queued_to)
        where.append(waiting)
    if not where:
        return {}
    rows = session.execute(
        select(Message.id, Message.state, Message.medium, Message.contact_id).where(or_(*where)).order_by(Message.id).with_for_update(), params,
    )
    return {row[0]: row for row in rows.all()}


_MOVE_COLUMNS = (("id", "int"), ("before", "text"), ("state", "text"), ("noted", "boolean"), ("error_code", "text"), ("error_text", "text"))


def apply_signals(
    session: Session, signals: Sequence[Signal], *, now: datetime, half_life_days: float = DEFAULT_HALF_LIFE_DAYS,
    queued_to: tuple[str, Collection[str]] | None = None,
) -> list[int]:
    """Move each signalled message forward, count what it reached; the event rows left pending.

    A message still being handed to its provider (``sending``) does not move:
    its send result must not be overtaken, so its events are returned to be
    kept pending and applied later. The rest settle together
    (``progress.furthest``: order-free, forward only) and are written by one
    ``UPDATE … FROM`` guarded by the state they were read in under the lock.
    Levels a message reaches for the first time are counted once per message,
    so a thousand opens of one email count once.
    """
    by_message: dict[int, list[Signal]] = defaultdict(list)
    for signal in signals:
        by_message[signal.message_id].append(signal)
    locked = lock_messages(session, by_message, queued_to=queued_to)
    pending: list[int] = []
    moves: list[tuple[Any, ...]] = []
    totals: dict[tuple[int, str], dict[str, int]] = {}
    for message_id in sorted(by_message):
        row = locked.get(message_id)
        if row is None:
            continue
        _, state, medium, contact_id = row
        found = by_message[message_id]
        if state in NOT_YET_SENT:
            pending.extend(s.event_row_id for s in found)
            continue
        settled = furthest(state, [s.target for s in found])
        if settled.state == state and not settled.failure_noted:
            continue
        failure = _failure(found, settled.state == FAILED) if settled.state == FAILED or settled.failure_noted else None
        moves.append((message_id, state, settled.state, failure is not None, failure.error_code if failure else None,
                      failure.detail if failure else None))
        if contact_id is not None and settled.state != state:
            counts = totals.setdefault((contact_id, medium or ""), {})
            for level in levels_reached(state, settled.reached, medium or ""):
                counts[level] = counts.get(level, 0) + 1
            if settled.state == FAILED and failure is not None and failure.bounced:
                counts["bounced"] = counts.get("bounced", 0) + 1
    if moves:
        source, params = rows_source(session, _MOVE_COLUMNS, moves, alias="v")
        session.execute(
            text(
                "UPDATE messages AS m SET state = v.state, updated_at = :now,"
                " error_code = CASE WHEN v.noted THEN v.error_code ELSE m.error_code END,"
                " error_text = CASE WHEN v.noted THEN v.error_text ELSE m.error_text END"
                f" FROM {source} WHERE m.id = v.id AND m.state = v.before"
            ).bindparams(bindparam("now", type_=UtcDateTime)),
            {**params, "now": now},
        )
    add_evidence(session, totals, now=now, half_life_days=half_life_days)
    return pending


def _failure(signals: Sequence[Signal], moved: bool) -> Signal | None:
    """The failure whose code the message keeps: the first that failed it, else the last refused."""
    failures = [s for s in signals if s.target == FAILED]
    if not failures:
        return None
    return failures[0] if moved else failures[-1]


def set_pending(session: Session, event_row_ids: Sequence[int], *, pending: bool) -> None:
    if event_row_ids:
        session.execute(update(ProviderEvent).where(one_of(session, ProviderEvent.id, event_row_ids)).values(pending=pending))


_SKIP_COLUMNS = (("id", "int"), ("skip_reason", "text"))


def suppress_addresses(session: Session, *, medium: str, reasons: Mapping[str, tuple[str, str, str]], now: datetime) -> list[str]:
    """Suppress addresses on ``medium`` for good and skip what still waits to go to them (``waiting_to``).

    ``reasons``: address → (reason, source, skip_reason). Idempotent; the first
    suppression of an address stays. Returns the idempotency keys of the
    skipped messages, whose budget the caller settles. Lock the waiting
    messages first (``lock_messages(queued_to=…)``) to keep the lock order.
    """
    if not reasons:
        return []
    insert_ignoring_conflicts(session, Suppression, [
        {"medium": medium, "address": address, "reason": reason, "source": source[:200], "created_at": now}
        for address, (reason, source, _) in sorted(reasons.items())
    ], unique=["medium", "address"])
    condition, params = waiting_to(session, medium, reasons.keys())
    waiting = session.execute(select(Message.id, Message.recipient).where(condition).order_by(Message.id), params).all()
    if not waiting:
        return []
    # waiting_to matched each recipient in ``reasons``: never None here.
    source, params = rows_source(session, _SKIP_COLUMNS, [(message_id, reasons[cast(str, recipient)][2][:2000]) for message_id, recipient in waiting], alias="v")
    result = session.execute(
        text(
            "UPDATE messages AS m SET state = 'skipped', skip_rule = 'suppressed', skip_reason = v.skip_reason, updated_at = :now"
            f" FROM {source} WHERE m.id = v.id AND m.state IN ('queued', 'retrying') RETURNING idempotency_key"
        ).bindparams(bindparam("now", type_=UtcDateTime)),
        {**params, "now": now},
    )
    return list(result.scalars())
