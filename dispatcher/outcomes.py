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
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from campaigns.db import dialect_insert
from campaigns.events.service import add_evidence
from campaigns.programs.models import Campaign, Episode, Message, Suppression
from channels.base import ChannelError, ErrorKind, SendResult
from dispatcher.runtime import Runtime

log = logging.getLogger(__name__)

BACKOFF_BASE = timedelta(seconds=30)
BACKOFF_CAP = timedelta(hours=1)
MISCONFIGURED_RETRY = timedelta(minutes=10)  # transactional sends wait this long for fixed credentials
EPISODE_ORDER = ("selected", "pre_noticed", "invited", "reminded", "answered", "thanked")
ASKS = ("invite", "reminder")  # messages that ask the question
ASK_MEDIA = ("email", "sms", "in_app")
EPISODE_AFTER = {"pre_notice": "pre_noticed", "invite": "invited", "reminder": "reminded", "thank_you": "thanked"}


def backoff(attempts: int, retry_after: float | None) -> timedelta:
    """30 s, 1 min, 2 min … capped at an hour, with jitter; never sooner than the provider asked."""
    delay = min(BACKOFF_CAP, BACKOFF_BASE * (2 ** max(attempts - 1, 0)))
    delay *= random.uniform(0.9, 1.1)
    if retry_after is not None:
        delay = max(delay, timedelta(seconds=retry_after))
    return delay


def record_results(runtime: Runtime, results: Sequence[SendResult]) -> ChannelError | None:
    """Store each result; returns the error if the channel turned out misconfigured. Commits."""
    now = runtime.clock.now()
    halted: ChannelError | None = None
    with runtime.sessions() as session:
        rows = {m.id: m for m in session.scalars(select(Message).where(Message.id.in_([int(r.message_id) for r in results])))}
        sent_keys, released_keys = [], []
        for result in results:
            message = rows.get(int(result.message_id))
            if message is None or message.state not in ("sending", "unknown"):
                continue
            message.updated_at = now
            outcome = _record(runtime, session, message, result, now)
            if outcome == "sent":
                sent_keys.append(message.idempotency_key)
            elif outcome == "failed":
                released_keys.append(message.idempotency_key)
            elif outcome == "halted":
                halted = result.error
        _advance_episodes(session, [m for m in rows.values() if m.state == "sent"], now)
        _count_asks(runtime, session, [rows[int(r.message_id)] for r in results if r.error is None and int(r.message_id) in rows], now)
        if sent_keys:
            runtime.budget.settle(session, message_keys=sent_keys, sent=True, now=now)
        if released_keys:
            runtime.budget.settle(session, message_keys=released_keys, sent=False, now=now)
        if halted is not None:
            campaign_ids = {m.campaign_id for m in rows.values() if m.campaign_id is not None}
            _halt(runtime, session, campaign_ids, halted, next(iter(rows.values())).channel or "", now)
        session.commit()
    return halted


def _record(runtime: Runtime, session: Session, message: Message, result: SendResult, now: datetime) -> str:
    error = result.error
    if error is None:
        message.state, message.sent_at = "sent", now
        message.provider_message_id, message.segments = result.provider_message_id, result.segments
        message.error_code = message.error_text = None
        return "sent"
    message.error_code, message.error_text = error.code, error.text
    if error.kind is ErrorKind.MISCONFIGURED:
        message.state, message.attempts, message.claimed_at, message.enqueued_at = "queued", message.attempts - 1, None, None
        return "halted"
    if error.kind is ErrorKind.TRANSIENT and error.maybe_sent:
        message.state = "unknown"
        message.error_text = f"the provider may have it ({error.code}: {error.text}); not resent, to never deliver twice"
        return "unknown"
    if error.kind is ErrorKind.TRANSIENT and message.attempts < runtime.settings.max_attempts:
        message.state, message.not_before = "retrying", now + backoff(message.attempts, error.retry_after)
        message.enqueued_at = None  # due again later: the tick may hand it out then
        return "retrying"
    message.state = "failed"
    if error.kind is ErrorKind.TRANSIENT:
        message.error_text = f"gave up after {message.attempts} attempts: {error.text}"
    if error.kind is ErrorKind.OPTED_OUT and message.medium and message.recipient:
        suppress(session, medium=message.medium, address=message.recipient, reason="opted_out", source=f"{message.channel} {error.code}", now=now)
    return "failed"


def suppress(session: Session, *, medium: str, address: str, reason: str, source: str, now: datetime) -> None:
    """Never send to this address on this medium again (idempotent)."""
    session.execute(
        dialect_insert(session, Suppression).values(medium=medium, address=address, reason=reason, source=source, created_at=now)
        .on_conflict_do_nothing(index_elements=["medium", "address"])
    )


def _advance_episodes(session: Session, sent: list[Message], now: datetime) -> None:
    """Episodes move forward only (a late invite never undoes 'answered')."""
    groups: dict[tuple[str, str | None], list[int]] = defaultdict(list)
    for message in sent:
        target = EPISODE_AFTER.get(message.step)
        if message.episode_id is not None and target:
            groups[(target, message.medium)].append(message.episode_id)
    for (target, medium), episode_ids in groups.items():
        earlier = EPISODE_ORDER[: EPISODE_ORDER.index(target)]
        session.execute(update(Episode).where(Episode.id.in_(episode_ids), Episode.state.in_(earlier)).values(state=target))
        values: dict[str, Any] = {"channel": medium}
        if target == "invited":
            session.execute(update(Episode).where(Episode.id.in_(episode_ids), Episode.invited_at.is_(None)).values(invited_at=now, **values))
        elif target == "thanked":
            session.execute(update(Episode).where(Episode.id.in_(episode_ids), Episode.thanked_at.is_(None)).values(thanked_at=now))
        else:
            session.execute(update(Episode).where(Episode.id.in_(episode_ids)).values(**values))


def _count_asks(runtime: Runtime, session: Session, sent: list[Message], now: datetime) -> None:
    """Each survey ask that went out is a trial for channel choice: without an answer it is the
    evidence against its medium that the next reminder is routed on."""
    asks: dict[tuple[int, str], dict[str, int]] = defaultdict(lambda: {"sent": 0})
    for message in sent:
        if message.state == "sent" and message.step in ASKS and message.contact_id is not None and message.medium in ASK_MEDIA:
            asks[(message.contact_id, message.medium)]["sent"] += 1
    add_evidence(session, asks, now=now, half_life_days=runtime.settings.channel_half_life_days)


def _halt(runtime: Runtime, session: Session, campaign_ids: set[int], error: ChannelError, channel: str, now: datetime) -> None:
    """Bad credentials: pause the campaigns, keep every message queued, tell the team.

    Transactional programs are not paused (nobody could resume them): their
    messages wait and try again every few minutes until the settings are fixed.
    """
    from dispatcher.alerts import alert_team

    reason = f"the {channel} channel refused our credentials ({error.code}: {error.text}); fix the settings and resume the campaign"
    log.error("campaigns %s halted: %s", sorted(campaign_ids), reason, extra={"campaign_ids": sorted(campaign_ids)})
    for campaign in session.scalars(select(Campaign).where(Campaign.id.in_(campaign_ids), Campaign.status == "active")):
        if campaign.mode == "transactional":
            session.execute(update(Message).where(Message.campaign_id == campaign.id, Message.state == "queued", Message.error_code == error.code)
                            .values(not_before=now + MISCONFIGURED_RETRY))
            continue
        campaign.status, campaign.paused_reason, campaign.paused_by, campaign.paused_at = "paused", reason, "Pulse", now
        alert_team(runtime, session, campaign, subject=f"Pulse paused {campaign.name}", text=reason, avoid_channel=channel, now=now)
