"""Recording what a channel said about each message, and what follows from it.

``sent``; ``retrying`` with exponential backoff (capped) for a transient error;
``unknown`` when the request may have reached the provider (a timeout after
sending): retrying could deliver twice, so it is reported, never resent;
``failed`` with the provider's code and text (an opt-out also suppresses the
address). A misconfigured channel (bad credentials) fails nobody: the messages
go back to ``queued``, the campaign pauses and the team is alerted.
"""

from __future__ import annotations

import logging
import random
from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, bindparam, case, func, or_, select, text, update
from sqlalchemy.orm import Session

from campaigns.db import dialect_insert, one_of
from campaigns.events.service import add_evidence
from campaigns.programs.models import Campaign, Episode, Message, Suppression
from channels.base import ChannelError, ErrorKind, SendResult
from dispatcher.runtime.core import Runtime

log = logging.getLogger(__name__)

BACKOFF_BASE = timedelta(seconds=30)
BACKOFF_CAP = timedelta(hours=1)
RETRY_AFTER_CAP = timedelta(days=1)  # a provider's or receiver's wait past this is a wrong header, not a plan
MISCONFIGURED_RETRY = timedelta(minutes=10)  # transactional sends wait this long for fixed credentials
EPISODE_ORDER = ("selected", "pre_noticed", "invited", "reminded", "answered", "thanked")
ASKS = ("invite", "reminder")  # messages that ask the question
ASK_MEDIA = ("email", "sms", "in_app")
EPISODE_AFTER = {"pre_notice": "pre_noticed", "invite": "invited", "reminder": "reminded", "thank_you": "thanked"}


def backoff(attempts: int, retry_after: float | None) -> timedelta:
    """30 s, 1 min, 2 min … capped at an hour, with jitter; never sooner than the provider asked,
    up to a day (a Retry-After of a trillion seconds overflowed the date; NaN is no request)."""
    delay = min(BACKOFF_CAP, BACKOFF_BASE * (2 ** max(attempts - 1, 0)))
    delay *= random.uniform(0.9, 1.1)
    if retry_after is not None and retry_after > 0:
        delay = max(delay, timedelta(seconds=min(retry_after, RETRY_AFTER_CAP.total_seconds())))
    return delay


RESULT_COLUMNS = ("state", "sent_at", "provider_message_id", "segments", "error_code", "error_text", "not_before", "attempts")
RESULT_TYPES = {"id": "integer", "state": "text", "sent_at": "timestamptz", "provider_message_id": "text", "segments": "integer",
                "error_code": "text", "error_text": "text", "not_before": "timestamptz", "attempts": "integer"}


def record_results(runtime: Runtime, results: Sequence[SendResult], claimed: Sequence[Any] | None = None) -> ChannelError | None:
    """Store each result in one statement; returns the error if the channel turned out misconfigured. Commits.

    ``claimed`` are the rows ``handoff.claim_chunk`` returned for these messages
    (loaded here when not given): the outcome of each is computed from them, so
    the messages are written once, not read again.
    """
    now = runtime.clock.now()
    halted: ChannelError | None = None
    with runtime.sessions() as session:
        if claimed is None:
            claimed = list(session.execute(select(Message.id, Message.idempotency_key, Message.campaign_id, Message.episode_id, Message.step, Message.medium,
                                                  Message.channel, Message.recipient, Message.attempts, Message.not_before, Message.contact_id)
                                           .where(Message.id.in_([int(r.message_id) for r in results]))))
        rows = {row.id: row for row in claimed}
        values: list[dict[str, Any]] = []
        sent_keys, released_keys, sent = [], [], []
        for result in results:
            row = rows.get(int(result.message_id))
            if row is None:
                continue
            outcome, changes = _outcome(runtime, row, result, now)
            values.append(changes)
            counted = row.contact_id is not None  # the budget counts what contacts get: internal messages (alerts) have no touch
            if outcome == "sent":
                if counted:
                    sent_keys.append(row.idempotency_key)
                sent.append(row)
            elif outcome == "failed":
                if counted:
                    released_keys.append(row.idempotency_key)
                if result.error is not None and result.error.kind is ErrorKind.OPTED_OUT and row.medium and row.recipient:
                    suppress(session, medium=row.medium, address=row.recipient, reason="opted_out", source=f"{row.channel} {result.error.code}", now=now)
            elif outcome == "halted":
                halted = result.error
        _write_results(session, values, now)
        _advance_episodes(session, sent, now)
        _count_asks(runtime, session, sent, now)
        if sent_keys:
            runtime.budget.settle(session, message_keys=sent_keys, sent=True, now=now)
        if released_keys:
            runtime.budget.settle(session, message_keys=released_keys, sent=False, now=now)
        if halted is not None and rows:
            campaign_ids = {row.campaign_id for row in rows.values() if row.campaign_id is not None}
            _halt(runtime, session, campaign_ids, halted, next(iter(rows.values())).channel or "", now)
        session.commit()
    return halted


def _outcome(runtime: Runtime, row: Any, result: SendResult, now: datetime) -> tuple[str, dict[str, Any]]:
    """What the message becomes: the outcome's name, and its id and every column ``_write_results`` sets."""
    error = result.error
    if error is None:  # nearly every message: its values written out, one dict
        return "sent", {"id": row.id, "state": "sent", "sent_at": now, "provider_message_id": result.provider_message_id, "segments": result.segments,
                        "error_code": None, "error_text": None, "not_before": row.not_before, "attempts": row.attempts}
    keep = {"id": row.id, "state": "sent", "sent_at": None, "provider_message_id": None, "segments": None, "error_code": error.code,
            "error_text": error.text, "not_before": row.not_before, "attempts": row.attempts}
    if error.kind is ErrorKind.MISCONFIGURED:
        return "halted", {**keep, "state": "queued", "attempts": row.attempts - 1}
    if error.kind is ErrorKind.TRANSIENT and error.maybe_sent:
        return "unknown", {**keep, "state": "unknown", "error_text": f"the provider may have it ({error.code}: {error.text}); not resent, to never deliver twice"}
    if error.kind is ErrorKind.TRANSIENT and row.attempts < runtime.settings.max_attempts:
        # due again later: the tick may hand it out then
        return "retrying", {**keep, "state": "retrying", "not_before": now + backoff(row.attempts, error.retry_after)}
    if error.kind is ErrorKind.TRANSIENT:
        keep["error_text"] = f"gave up after {row.attempts} attempts: {error.text}"
    return "failed", {**keep, "state": "failed"}


def _write_results(session: Session, values: list[dict[str, Any]], now: datetime) -> None:
    """One statement for the whole chunk: a ``MERGE`` from ``unnest(...)`` on PostgreSQL, an
    executemany on SQLite. Only rows still in flight (or reported unknown meanwhile) take a result.

    ``MERGE``, not ``UPDATE … FROM``, because of where the state check sits. In an ``UPDATE`` it is a
    filter on the table, and statistics taken while nothing was in flight (autovacuum analyzes a
    table at rest) put ``state IN ('sending', 'unknown')`` at one row: the planner then scanned
    the whole table and looped over the chunk's 1,000 values for each row it kept, 160 ms a chunk
    at 200,000 messages and growing with the table. In ``MERGE`` the check is the action's
    condition (``WHEN MATCHED AND``): rows are found by primary key from the chunk's ids whatever
    the statistics say (16 ms), and a row no longer in flight is skipped, not written; a row
    updated meanwhile is checked again in its new version, as ``UPDATE`` would."""
    if not values:
        return
    if session.get_bind().dialect.name == "postgresql":
        # A column whose value every row shares (the state, sent_at, nearly always the error
        # columns) is one bound value; only the others are arrays, read row by row with unnest.
        columns = {column: [row[column] for row in values] for column in ("id", *RESULT_COLUMNS)}
        shared = {column: found[0] for column, found in columns.items() if column != "id" and found.count(found[0]) == len(found)}
        varying = [column for column in columns if column not in shared]
        read = {column: f"CAST(:{column} AS {RESULT_TYPES[column]})" for column in shared}
        read.update({column: f"v.{column}" for column in varying})
        session.execute(text(
            "MERGE INTO messages AS m "
            "USING unnest(" + ", ".join(f"CAST(:{column} AS {RESULT_TYPES[column]}[])" for column in varying) + f") AS v({', '.join(varying)}) "
            "ON m.id = v.id WHEN MATCHED AND m.state IN ('sending', 'unknown') THEN UPDATE SET "
            + ", ".join(f"{column} = {read[column]}" for column in RESULT_COLUMNS)
            + f", claimed_at = CASE WHEN {read['state']} = 'queued' THEN NULL ELSE m.claimed_at END, "
            "claimed_by = NULL, enqueued_at = NULL, updated_at = :now"
        ), {"now": now, **shared, **{column: columns[column] for column in varying}})
        return
    table = cast(Table, Message.__table__)
    session.execute(
        table.update().where(table.c.id == bindparam("b_id"), or_(table.c.state == "sending", table.c.state == "unknown"))
        .values(updated_at=now, claimed_by=None, enqueued_at=None,
                claimed_at=case((bindparam("b_state") == "queued", None), else_=table.c.claimed_at),
                **{column: bindparam(f"b_{column}") for column in RESULT_COLUMNS}),
        [{f"b_{key}": value for key, value in row.items()} for row in values],
    )


def suppress(session: Session, *, medium: str, address: str, reason: str, source: str, now: datetime) -> None:
    """Never send to this address on this medium again (idempotent)."""
    session.execute(
        dialect_insert(session, Suppression).values(medium=medium, address=address, reason=reason, source=source, created_at=now)
        .on_conflict_do_nothing(index_elements=["medium", "address"])
    )


def _advance_episodes(session: Session, sent: Sequence[Any], now: datetime) -> None:
    """Episodes move forward only (a late invite never undoes 'answered'): one UPDATE per
    (step, medium), each episode written once."""
    groups: dict[tuple[str, str | None], list[int]] = defaultdict(list)
    for message in sent:
        target = EPISODE_AFTER.get(message.step)
        if message.episode_id is not None and target:
            groups[(target, message.medium)].append(message.episode_id)
    for (target, medium), episode_ids in groups.items():
        earlier = EPISODE_ORDER[: EPISODE_ORDER.index(target)]
        values: dict[str, Any] = {"state": case((Episode.state.in_(earlier), target), else_=Episode.state)}
        if target == "invited":  # the medium of the first invite that went out
            values.update(channel=case((Episode.invited_at.is_(None), medium), else_=Episode.channel),
                          invited_at=func.coalesce(Episode.invited_at, now))
        elif target == "thanked":
            values["thanked_at"] = func.coalesce(Episode.thanked_at, now)
        else:
            values["channel"] = medium
        session.execute(update(Episode).where(one_of(session, Episode.id, episode_ids)).values(**values).execution_options(synchronize_session=False))


def _count_asks(runtime: Runtime, session: Session, sent: Sequence[Any], now: datetime) -> None:
    """Each survey ask that went out is a trial for channel choice: without an answer it is the
    evidence against its medium that the next reminder is routed on. ``sent``: the rows recorded sent."""
    trials = Counter((message.contact_id, message.medium) for message in sent
                     if message.step in ASKS and message.contact_id is not None and message.medium in ASK_MEDIA)
    asks = {key: {"sent": count} for key, count in trials.items()}
    add_evidence(session, asks, now=now, half_life_days=runtime.settings.channel_half_life_days)


def _halt(runtime: Runtime, session: Session, campaign_ids: set[int], error: ChannelError, channel: str, now: datetime) -> None:
    """Bad credentials: pause the campaigns, keep every message queued, tell the team.

    Transactional programs are not paused (nobody could resume them): their
    messages wait and try again every few minutes until the settings are fixed.
    """
    from dispatcher.loop.alerts import alert_team

    reason = f"the {channel} channel refused our credentials ({error.code}: {error.text}); fix the settings and resume the campaign"
    log.error("campaigns %s halted: %s", sorted(campaign_ids), reason, extra={"campaign_ids": sorted(campaign_ids)})
    for campaign in session.scalars(select(Campaign).where(Campaign.id.in_(campaign_ids), Campaign.status == "active")):
        if campaign.mode == "transactional":
            session.execute(update(Message).where(Message.campaign_id == campaign.id, Message.state == "queued", Message.error_code == error.code)
                            .values(not_before=now + MISCONFIGURED_RETRY))
            continue
        campaign.status, campaign.paused_reason, campaign.paused_by, campaign.paused_at = "paused", reason, "Pulse", now
        alert_team(runtime, session, campaign, subject=f"Pulse paused {campaign.name}", text=reason, avoid_channel=channel, now=now)
