"""The ledger's queries: lock the scopes, read what can matter, write touches, settle, release.

Every function flushes or executes inside the caller's transaction and never
commits: a reservation and the episode or message it belongs to are kept
together or not at all.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    Table,
    bindparam,
    exists,
    func,
    insert,
    literal,
    null,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.orm import Session

from campaigns.db import UtcDateTime, bound_time, one_of, rows_source
from campaigns.fatigue.models import FatigueTouch
from campaigns.fatigue.policy import Policy
from campaigns.fatigue.rules import Entry, Scope, Subject
from campaigns.people.models import Contact
from campaigns.programs.models import Campaign, Message

COUNTING = ("reserved", "planned", "sent")  # states that use up budget
UNSENT = ("reserved", "planned")
# Namespaces of the two-key advisory locks ("FTG3", "FTG4"), far from anything else's.
CONTACT_LOCK = 0x46544733
ACCOUNT_LOCK = 0x46544734
# One lock covers this many consecutive ids: a batch of 1,000 contacts in id order takes
# about 16 locks, not 1,000 (PostgreSQL's shared lock table holds only ~64 per connection,
# and eight racing batches of a thousand each would overflow it), while single touches
# (an answer's thank-you) rarely wait on a batch of other people.
LOCK_RANGE = 64
_TOUCHES = cast(Table, FatigueTouch.__table__)
# In Entry's field order, so a row builds an Entry positionally.
_ENTRY_COLUMNS = tuple(_TOUCHES.c[name] for name in (
    "id", "contact_id", "account_id", "kind", "step", "at", "campaign_id", "trigger", "state", "message_key",
))


def lock_scopes(session: Session, *, contact_ids: Collection[int], account_ids: Collection[int]) -> None:
    """Serialise every budget decision about these contacts and accounts until the transaction ends.

    PostgreSQL: transaction-scoped advisory locks on id ranges (``LOCK_RANGE``),
    accounts then contacts, each in order, so two batches can never wait on each
    other in a cycle. A range lock is coarser than one per contact, never weaker.
    Advisory rather than row locks, so imports updating contacts and inserts
    referencing them never queue behind the budget.

    SQLite needs no lock: it has one writer at a time, and in WAL mode a
    transaction whose snapshot is no longer the newest cannot write at all
    (SQLITE_BUSY_SNAPSHOT), so a reservation judged on a stale ledger fails
    instead of going through. Taking the write lock here would not make the
    caller's earlier reads fresher; it would only hold the lock longer.
    """
    if session.get_bind().dialect.name == "postgresql":
        keys = [(ACCOUNT_LOCK, a) for a in sorted({a // LOCK_RANGE for a in account_ids})]
        keys += [(CONTACT_LOCK, c) for c in sorted({c // LOCK_RANGE for c in contact_ids})]
        if keys:
            session.execute(
                text("SELECT count(pg_advisory_xact_lock(k.ns, k.id)) FROM unnest(CAST(:ns AS integer[]), CAST(:ids AS integer[])) WITH ORDINALITY AS k(ns, id, n)"),
                {"ns": [k[0] for k in keys], "ids": [k[1] for k in keys]},
            )


@dataclass(frozen=True)
class CampaignState:
    id: int
    status: str
    mode: str
    name: str


def campaign_for_reservation(session: Session, campaign_id: int, *, lock: bool) -> CampaignState | None:
    """The campaign's state, share-locked when reserving: cancel and close lock it for update, so a
    reservation commits either before their release (which then sees it) or after (and sees the status)."""
    query = select(Campaign.id, Campaign.status, Campaign.mode, Campaign.name).where(Campaign.id == campaign_id)
    if lock:
        query = query.with_for_update(read=True)
    row = session.execute(query).first()
    return CampaignState(*row) if row is not None else None


def _entry(row: Any) -> Entry:
    return Entry(*row)


def counting_entries(
    session: Session, *, contact_ids: Collection[int], account_ids: Collection[int], start: datetime, end: datetime | None,
) -> list[Entry]:
    """Entries that use up budget, of these contacts or accounts, strictly between ``start`` and ``end``. One query."""
    table = _TOUCHES
    scope = one_of(session, table.c.contact_id, contact_ids)
    if account_ids:
        scope = or_(scope, one_of(session, table.c.account_id, account_ids))
    query = select(*_ENTRY_COLUMNS).where(scope, table.c.state.in_(COUNTING), table.c.at > start)
    if end is not None:
        query = query.where(table.c.at < end)
    rows = session.connection().execute(query.order_by(table.c.at, table.c.id))
    return [Entry(*row) for row in rows]


def scopes_for(session: Session, contacts: Iterable[Subject], policy: Policy, *, start: datetime, end: datetime | None) -> dict[int, Scope]:
    """Per contact, the counting ledger entries that can touch a decision in (start, end). One query."""
    by_id = {c.id: c for c in contacts}
    accounts = {c.account_id for c in by_id.values() if c.account_id is not None} if policy.has_account_rules else set()
    entries = counting_entries(session, contact_ids=list(by_id), account_ids=accounts, start=start, end=end)
    mine: dict[int, list[Entry]] = defaultdict(list)
    theirs: dict[int, list[Entry]] = defaultdict(list)
    for entry in entries:
        if entry.contact_id in by_id:
            mine[entry.contact_id].append(entry)
        if entry.account_id in accounts:
            theirs[entry.account_id].append(entry)
    return {
        c.id: Scope(mine[c.id], theirs[c.account_id] if c.account_id in accounts else None)
        for c in by_id.values()
    }


def reserve_where_quiet(
    session: Session, *, contacts: Collection[Subject], policy: Policy, kind: str, campaign_id: int, trigger: str | None,
    at: datetime, start: datetime, end: datetime, now: datetime,
) -> list[int]:
    """Reserve an invitation at ``at`` for each contact whose ledger is quiet: no touch that uses up budget
    strictly between ``start`` and ``end`` — their own, nor (under account rules) their account's, and
    (under account rules) no other contact of their account in ``contacts``. The ids
    reserved. Two statements: the busy ones (an index probe by the ids), then ``INSERT … SELECT`` for the
    rest; the caller holds the scopes' locks, so nothing can be added between the two.

    No rule can refuse a touch with nothing else in any window it shares (``first_block`` on an empty
    scope), so this writes exactly what judging each contact in Python would, without reading the rows.
    """
    if not contacts:
        return []
    table, contact = _TOUCHES, cast(Table, Contact.__table__)
    counting = (table.c.state.in_(COUNTING), table.c.at > start, table.c.at < end)
    busy = set(session.scalars(select(table.c.contact_id).distinct().where(one_of(session, table.c.contact_id, [c.id for c in contacts]), *counting)))
    accounts = Counter(c.account_id for c in contacts if c.account_id is not None)
    if policy.has_account_rules and accounts:
        # Two contacts of one account in the batch share its account rules: each would take
        # room the other's judgement must see, so both are judged one by one.
        crowded = {a for a, n in accounts.items() if n > 1}
        crowded |= set(session.scalars(select(table.c.account_id).distinct().where(one_of(session, table.c.account_id, list(accounts)), *counting)))
        busy.update(c.id for c in contacts if c.account_id in crowded)
    quiet = [c.id for c in contacts if c.id not in busy]
    if not quiet:
        return []
    rows = select(
        contact.c.id, contact.c.account_id, literal(kind), literal("invite"), literal(campaign_id),
        literal(trigger) if trigger is not None else null(), literal("reserved"), literal(policy.version),
        literal(at, UtcDateTime), literal(now, UtcDateTime),
    ).where(one_of(session, contact.c.id, quiet))
    columns = ["contact_id", "account_id", "kind", "step", "campaign_id", "trigger", "state", "policy_version", "at", "created_at"]
    return list(session.scalars(insert(table).from_select(columns, rows).returning(table.c.contact_id)))


def record_where_quiet(session: Session, rows: Mapping[str, Sequence[Any]], *, policy: Policy, now: datetime) -> set[str]:
    """Record, set-based, the planned messages (not invitations) that no rule could refuse; their keys.

    ``rows`` holds one list per column (``contact_id``, ``account_id``, ``kind``, ``step``, ``medium``,
    ``campaign_id``, ``trigger``, ``message_key``, ``at``), one position per touch, each touch the only
    one of its contact (and, under account rules, of its account) among those the caller judges. A
    rule counting messages can only be broken by a touch at ``at`` if some window holding ``at`` is
    full, and every such window lies within (at − window, at + window): fewer counted touches than
    the limit there, for every rule the kind counts against, and the touch is allowed — exactly what
    ``first_block`` would say, without reading the rows. One ``INSERT … SELECT`` whose ``NOT EXISTS``-
    style counts are index probes (contact or account, then time); what it leaves out the caller
    judges one by one. The caller holds the scopes' locks.
    """
    if not rows["message_key"]:
        return set()
    rules = [rule for rule in policy.rules if rule.counts == "messages"]
    columns: list[tuple[str, str]] = [
        ("contact_id", "integer"), ("account_id", "integer"), ("kind", "text"), ("step", "text"), ("medium", "text"),
        ("campaign_id", "integer"), ("trigger", "text"), ("message_key", "text"), ("at", "timestamptz"),
    ]
    values: dict[str, Sequence[Any]] = dict(rows)
    conditions = []
    for k, rule in enumerate(rules):
        assert all(kind.isalpha() for kind in rule.kinds)  # checked names (policy.KINDS), safe as literals
        kinds = ", ".join(f"'{kind}'" for kind in sorted(rule.kinds))
        columns += [(f"lo{k}", "timestamptz"), (f"hi{k}", "timestamptz")]
        values[f"lo{k}"] = [at - rule.window for at in rows["at"]]
        values[f"hi{k}"] = [at + rule.window for at in rows["at"]]
        counted = (f"SELECT count(*) FROM fatigue_touches e WHERE e.{{pool}} AND e.state IN ('reserved', 'planned', 'sent') "
                   f"AND e.kind IN ({kinds}) AND e.at > r.lo{k} AND e.at < r.hi{k}")
        mine = f"({counted.format(pool='contact_id = r.contact_id')})"
        pool = (f"CASE WHEN r.account_id IS NULL THEN {mine} ELSE ({counted.format(pool='account_id = r.account_id')}) END"
                if rule.scope == "account" else mine)
        conditions.append(f"(r.kind NOT IN ({kinds}) OR {pool} < {int(rule.limit)})")
    source, params = rows_source(session, columns, values)
    inserted = session.execute(text(
        "INSERT INTO fatigue_touches (contact_id, account_id, kind, step, medium, campaign_id, trigger, message_key, state, "
        "policy_version, at, created_at) "
        "SELECT r.contact_id, r.account_id, r.kind, r.step, r.medium, r.campaign_id, r.trigger, r.message_key, 'planned', "
        f":version, r.at, :now FROM {source} WHERE {' AND '.join(conditions) or 'true'} "
        "ON CONFLICT (message_key) DO NOTHING RETURNING message_key"
    ), {**params, "version": policy.version, "now": bound_time(session, now)})
    return set(inserted.scalars())


def known_keys(session: Session, keys: Iterable[str | None]) -> set[str]:
    wanted = [k for k in keys if k]
    if not wanted:
        return set()
    return set(session.scalars(select(FatigueTouch.message_key).where(one_of(session, FatigueTouch.message_key, wanted))))


def insert_touches(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """One bulk insert (executemany) for a whole batch; Core, not the ORM's bulk path, which costs a third more."""
    if rows:
        session.execute(insert(_TOUCHES), list(rows))


def link_reservations(session: Session, links: Sequence[dict[str, Any]]) -> None:
    """Attach planned invite messages to their reservations: ``{"entry_id", "message_key", "medium"}``."""
    if links:
        table = _TOUCHES  # Core, not the ORM: an executemany UPDATE keyed by bound ids
        session.execute(
            update(table).where(table.c.id == bindparam("entry_id"), table.c.state == "reserved")
            .values(message_key=bindparam("key"), medium=bindparam("via"), state="planned"),
            [{"entry_id": link["entry_id"], "key": link["message_key"], "via": link["medium"]} for link in links],
        )


def held_invitations(session: Session, *, campaign_id: int, contact_ids: Collection[int]) -> dict[int, int]:
    """Contacts holding exactly one open invitation reservation of the campaign: its id, by contact. One query."""
    table = _TOUCHES
    rows = session.connection().execute(
        select(table.c.contact_id, func.min(table.c.id)).where(
            one_of(session, table.c.contact_id, contact_ids), table.c.campaign_id == campaign_id, table.c.step == "invite",
            table.c.state == "reserved", table.c.message_key.is_(None),
        ).group_by(table.c.contact_id).having(func.count() == 1)
    )
    return {contact_id: entry_id for contact_id, entry_id in rows}


def link_invitations(session: Session, links: Mapping[str, Sequence[Any]]) -> None:
    """Planned invite messages take over their reservations: one ``UPDATE … FROM`` over the lists
    ``{"entry_id", "message_key"}``, the medium read from the messages just written (found by their
    unique key; a reservation already taken is left alone)."""
    if not links["entry_id"]:
        return
    source, params = rows_source(session, (("entry_id", "integer"), ("message_key", "text")), links)
    # The ids again as a plain filter, so the planner probes the primary key instead of
    # hashing every open reservation of the ledger for each batch.
    postgres = session.get_bind().dialect.name == "postgresql"
    ids = "= ANY(CAST(:entry_ids AS integer[]))" if postgres else "IN (SELECT value FROM json_each(:entry_ids))"
    session.execute(text(
        f"UPDATE fatigue_touches SET state = 'planned', message_key = m.idempotency_key, medium = m.medium FROM {source} "
        "JOIN messages m ON m.idempotency_key = r.message_key "
        f"WHERE fatigue_touches.id = r.entry_id AND fatigue_touches.id {ids} "
        "AND fatigue_touches.state = 'reserved' AND fatigue_touches.message_key IS NULL"
    ), {**params, "entry_ids": list(links["entry_id"]) if postgres else json.dumps(list(links["entry_id"]))})


def mark_sent(session: Session, keys: Sequence[str], now: datetime) -> set[str]:
    """The touches of these messages went out (a released one too: what was sent counts); the keys it changed."""
    if not keys:
        return set()
    return set(session.scalars(
        update(_TOUCHES).where(one_of(session, _TOUCHES.c.message_key, keys), _TOUCHES.c.state != "sent")
        .values(state="sent", sent_at=now).returning(_TOUCHES.c.message_key)
    ))


def release_keys(session: Session, keys: Sequence[str], now: datetime) -> set[str]:
    """The unsent touches of these messages are given back; the keys it changed."""
    if not keys:
        return set()
    return set(session.scalars(
        update(_TOUCHES).where(one_of(session, _TOUCHES.c.message_key, keys), _TOUCHES.c.state.in_(UNSENT))
        .values(state="released", released_at=now).returning(_TOUCHES.c.message_key)
    ))


def unlinked_invites(session: Session, keys: Collection[str]) -> list[Any]:
    """Invite messages among ``keys`` that no touch knows yet (transactional sends reserve before planning)."""
    if not keys:
        return []
    return list(session.execute(
        select(Message.idempotency_key, Message.contact_id, Message.campaign_id, Message.not_before, Message.medium)
        .where(one_of(session, Message.idempotency_key, keys), Message.step == "invite", Message.contact_id.is_not(None))
    ))


def open_reservations(session: Session, *, contact_id: int, campaign_id: int) -> list[Entry]:
    rows = session.execute(select(*_ENTRY_COLUMNS).where(
        FatigueTouch.contact_id == contact_id, FatigueTouch.campaign_id == campaign_id, FatigueTouch.step == "invite",
        FatigueTouch.state == "reserved", FatigueTouch.message_key.is_(None),
    ).order_by(FatigueTouch.at))
    return [_entry(r) for r in rows]


def attach_key(session: Session, entry_id: int, key: str, *, medium: str | None, sent: bool, now: datetime) -> None:
    values: dict[str, Any] = {"message_key": key, "medium": medium}
    values.update({"state": "sent", "sent_at": now} if sent else {"state": "released", "released_at": now})
    session.execute(update(FatigueTouch).where(FatigueTouch.id == entry_id).values(**values).execution_options(synchronize_session=False))


def release_preempted(session: Session, entry_ids: Sequence[int], *, note: str, now: datetime) -> None:
    if entry_ids:
        session.execute(
            update(FatigueTouch).where(FatigueTouch.id.in_(list(entry_ids)), FatigueTouch.state == "reserved")
            .values(state="released", released_at=now, note=note).execution_options(synchronize_session=False)
        )


def preemption_notes(session: Session, pairs: Collection[tuple[int, int]]) -> dict[tuple[int, int], str]:
    """For (contact, campaign) pairs: the note of a reservation that was preempted, if one was."""
    if not pairs:
        return {}
    contacts, campaigns = {c for c, _ in pairs}, {k for _, k in pairs}
    rows = session.execute(select(FatigueTouch.contact_id, FatigueTouch.campaign_id, FatigueTouch.note).where(
        FatigueTouch.contact_id.in_(contacts), FatigueTouch.campaign_id.in_(campaigns), FatigueTouch.step == "invite",
        FatigueTouch.state == "released", FatigueTouch.note.is_not(None),
    ))
    return {(c, k): note for c, k, note in rows if k is not None and note and (c, k) in pairs}


def release_unsent(session: Session, *, campaign_id: int, now: datetime) -> int:
    """Release the campaign's touches that will never go out; how many.

    A reservation never planned into a message, or planned into one that was
    skipped or failed, goes back; one whose message may still go out (queued
    thank-yous after close, a send in flight) is kept so that it keeps counting.
    """
    live_message = exists().where(Message.idempotency_key == FatigueTouch.message_key, Message.state.not_in(("skipped", "failed")))
    result = session.execute(
        update(FatigueTouch).where(
            FatigueTouch.campaign_id == campaign_id, FatigueTouch.state.in_(UNSENT),
            or_(FatigueTouch.message_key.is_(None), ~live_message),
        ).values(state="released", released_at=now).execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
