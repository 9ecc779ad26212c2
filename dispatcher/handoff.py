"""Handing planned messages to their channels, exactly once, and recording what happened.

1. Claim: ``queued``/``retrying`` → ``sending`` with a conditional UPDATE,
   committed before any provider is called. Two workers never claim one row.
2. Send through the medium's adapter, a chunk at a time; before each chunk the
   campaign must still be live (a pause stops the batch).
3. Record each result: ``sent``; ``retrying`` with exponential backoff (capped);
   ``failed`` with the provider's code and text; an opt-out also suppresses
   the address. A misconfigured channel (bad credentials) fails nobody: the
   messages go back to ``queued``, the campaign pauses, the team is alerted.

A worker that dies between 2 and 3 leaves ``sending`` rows; the scheduler
reports them as ``unknown`` after a timeout and never resends them.
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
from campaigns.people.models import Contact
from campaigns.programs.models import Campaign, Episode, Message, MessageContent, Suppression
from campaigns.programs.reach import suppressed_addresses
from campaigns.programs.window import SendingWindow
from channels.base import ChannelError, ErrorKind, OutgoingMessage, SendResult
from channels.email_headers import list_unsubscribe_headers
from dispatcher.clock import utcnow
from dispatcher.runtime import Runtime

log = logging.getLogger(__name__)

BACKOFF_BASE = timedelta(seconds=30)
BACKOFF_CAP = timedelta(hours=1)
EPISODE_ORDER = ("selected", "pre_noticed", "invited", "reminded", "answered", "thanked")
EPISODE_AFTER = {"pre_notice": "pre_noticed", "invite": "invited", "reminder": "reminded", "thank_you": "thanked"}
CONTACT_STEPS = ("pre_notice", "invite", "reminder", "thank_you", "you_said_we_did", "transactional")


def backoff(attempts: int, retry_after: float | None) -> timedelta:
    """30 s, 1 min, 2 min … capped at an hour, with jitter; never sooner than the provider asked."""
    delay = min(BACKOFF_CAP, BACKOFF_BASE * (2 ** max(attempts - 1, 0)))
    delay *= random.uniform(0.9, 1.1)
    if retry_after is not None:
        delay = max(delay, timedelta(seconds=retry_after))
    return delay


def _live(campaign: Campaign | None, step: str) -> bool:
    if campaign is None or step == "alert":  # alerts about a paused campaign must still reach the team
        return True
    if campaign.status == "active":
        return True
    return campaign.status == "closed" and step in ("thank_you", "summary", "you_said_we_did", "alert")


def claim(runtime: Runtime, message_ids: Sequence[int]) -> list[int]:
    """Move due, live messages to ``sending``; defer those outside their window; skip those
    whose address was suppressed since they were planned (releasing their budget). Commits."""
    now = runtime.clock.now()
    with runtime.sessions() as session:
        found = session.execute(
            select(Message, Contact.timezone)
            .outerjoin(Contact, Contact.id == Message.contact_id)
            .where(Message.id.in_(message_ids), Message.state.in_(("queued", "retrying")), Message.not_before <= now)
        ).all()
        campaigns = _campaigns(session, [m for m, _ in found])
        rows = [(m, timezone, campaigns.get(m.campaign_id)) for m, timezone in found]
        windows = {c.id: SendingWindow.parse(c.sending_window) for c in campaigns.values()}
        ready: list[int] = []
        # An address may have unsubscribed, opted out or bounced since its message was planned.
        suppressed = suppressed_addresses(session, [(m.medium, m.recipient) for m, _, _ in rows if m.medium and m.recipient])
        dropped: list[int] = []
        for message, timezone, campaign in rows:
            if (message.medium, message.recipient) in suppressed:
                dropped.append(message.id)
                continue
            if not _live(campaign, message.step):
                continue  # paused: stays queued until resumed
            if message.step in CONTACT_STEPS and campaign is not None and timezone:
                opens = windows[campaign.id].next_open(now, timezone)
                if opens > now:  # the window closed since it was planned: wait for the next one
                    message.not_before, message.enqueued_at = opens, None
                    continue
            ready.append(message.id)
        if dropped:
            _skip_suppressed(runtime, session, dropped, now)
        claimed = list(session.scalars(
            update(Message).where(Message.id.in_(ready), Message.state.in_(("queued", "retrying")))
            .values(state="sending", claimed_at=utcnow(), attempts=Message.attempts + 1, updated_at=now)
            .returning(Message.id)
        )) if ready else []
        session.commit()
    return claimed


def _skip_suppressed(runtime: Runtime, session: Session, ids: list[int], now: datetime) -> None:
    """Skip these messages unless another worker claimed them meanwhile; release their budget."""
    keys = list(session.scalars(
        update(Message).where(Message.id.in_(ids), Message.state.in_(("queued", "retrying")))
        .values(state="skipped", skip_rule="suppressed", updated_at=now,
                skip_reason="the address opted out, unsubscribed or bounced after the message was planned")
        .returning(Message.idempotency_key)
    ))
    if keys:
        runtime.budget.settle(session, message_keys=keys, sent=False, now=now)


def send_messages(runtime: Runtime, message_ids: Sequence[int]) -> None:
    """Task: claim, send and record these messages. Safe to run twice: only one run claims a row."""
    claimed = claim(runtime, message_ids)
    if not claimed:
        return
    by_medium: dict[str, list[int]] = defaultdict(list)
    with runtime.sessions() as session:
        for message_id, medium in session.execute(select(Message.id, Message.medium).where(Message.id.in_(claimed)).order_by(Message.id)):
            by_medium[medium].append(message_id)
    for medium, ids in by_medium.items():
        _send_medium(runtime, medium, ids)


def _send_medium(runtime: Runtime, medium: str, ids: list[int]) -> None:
    adapter = runtime.channels.for_medium(medium)
    size = max(1, adapter.max_batch)
    for start in range(0, len(ids), size):
        chunk = ids[start:start + size]
        with runtime.sessions() as session:
            messages = _load(session, chunk)
            stopped = [m.id for m, _, campaign in messages if not _live(campaign, m.step)]
            if stopped:  # paused or cancelled since the claim: hand nothing more over
                _unclaim(session, stopped)
                session.commit()
            outgoing = [_outgoing(runtime, m, content, campaign) for m, content, campaign in messages if m.id not in stopped]
        if not outgoing:
            continue
        results = adapter.send(outgoing)
        halted = record_results(runtime, results)
        if halted is not None:
            with runtime.sessions() as session:
                _unclaim(session, ids[start + size:])
                session.commit()
            return


def _campaigns(session: Session, messages: Sequence[Message]) -> dict[int, Campaign]:
    """The messages' campaigns, each loaded once (not joined onto every message row)."""
    ids = {m.campaign_id for m in messages if m.campaign_id is not None}
    return {c.id: c for c in session.scalars(select(Campaign).where(Campaign.id.in_(ids)))} if ids else {}


def _load(session: Session, ids: list[int]) -> list[tuple[Message, MessageContent | None, Campaign | None]]:
    """Claimed messages with their content and campaign; shared rows are fetched once per chunk."""
    messages = list(session.scalars(select(Message).where(Message.id.in_(ids), Message.state == "sending").order_by(Message.id)))
    content_ids = {m.content_id for m in messages if m.content_id is not None}
    contents = {c.id: c for c in session.scalars(select(MessageContent).where(MessageContent.id.in_(content_ids)))} if content_ids else {}
    campaigns = _campaigns(session, messages)
    return [(m, contents.get(m.content_id) if m.content_id else None, campaigns.get(m.campaign_id) if m.campaign_id else None) for m in messages]


def _unclaim(session: Session, ids: Sequence[int]) -> None:
    """Claimed but never handed over: back to ``queued``, the attempt not counted."""
    if ids:
        session.execute(update(Message).where(Message.id.in_(ids), Message.state == "sending").values(state="queued", attempts=Message.attempts - 1, claimed_at=None, enqueued_at=None))


def _outgoing(runtime: Runtime, message: Message, content: MessageContent | None, campaign: Campaign | None) -> OutgoingMessage:
    substitutions = dict(message.substitutions or {})
    headers: dict[str, str] = {}
    unsubscribe = substitutions.get("-pulse_unsubscribe_url-")
    if message.medium == "email" and unsubscribe and unsubscribe.startswith("https://"):
        headers = list_unsubscribe_headers(unsubscribe)
    categories = (f"campaign-{campaign.id}", f"step-{message.step}") if campaign is not None else (f"step-{message.step}",)
    payload: dict[str, Any] = {}
    if message.medium == "in_app" and campaign is not None:
        payload = {"kind": campaign.kind, "answer_url": substitutions.get("-pulse_answer_url-")}
    return OutgoingMessage(
        message_id=str(message.id), channel=message.medium or "", to=message.recipient or "",
        subject=content.subject if content else None, text=content.text if content else "",
        html=content.html if content else None, substitutions=substitutions, headers=headers,
        categories=categories, custom_args={"pulse_campaign_id": str(campaign.id)} if campaign else {},
        expires_at=_prompt_expiry(campaign) if message.medium == "in_app" else None, payload=payload,
    )


def _prompt_expiry(campaign: Campaign | None) -> datetime | None:
    from dispatcher.contents import close_date

    if campaign is None:
        return None
    from datetime import time, timezone

    return datetime.combine(close_date(campaign) + timedelta(days=1), time(0), tzinfo=timezone.utc)


def record_results(runtime: Runtime, results: Sequence[SendResult]) -> ChannelError | None:
    """Store each result; returns the error if the channel turned out misconfigured. Commits."""
    now = runtime.clock.now()
    settings = runtime.settings
    halted: ChannelError | None = None
    with runtime.sessions() as session:
        rows = {m.id: m for m in session.scalars(select(Message).where(Message.id.in_([int(r.message_id) for r in results])))}
        sent_keys, released_keys = [], []
        for result in results:
            message = rows.get(int(result.message_id))
            if message is None or message.state not in ("sending", "unknown"):
                continue
            message.updated_at = now
            error = result.error
            if error is None:
                message.state, message.sent_at = "sent", now
                message.provider_message_id, message.segments = result.provider_message_id, result.segments
                message.error_code = message.error_text = None
                sent_keys.append(message.idempotency_key)
            elif error.kind is ErrorKind.MISCONFIGURED:
                message.state, message.attempts, message.claimed_at, message.enqueued_at = "queued", message.attempts - 1, None, None
                message.error_code, message.error_text = error.code, error.text
                halted = error
            elif error.kind is ErrorKind.TRANSIENT and message.attempts < settings.max_attempts:
                message.state, message.not_before = "retrying", now + backoff(message.attempts, error.retry_after)
                message.enqueued_at = None  # due again later: the tick may hand it out then
                message.error_code, message.error_text = error.code, error.text
            else:
                message.state = "failed"
                message.error_code = error.code
                message.error_text = error.text if error.kind is not ErrorKind.TRANSIENT else f"gave up after {message.attempts} attempts: {error.text}"
                released_keys.append(message.idempotency_key)
                if error.kind is ErrorKind.OPTED_OUT and message.medium and message.recipient:
                    suppress(session, medium=message.medium, address=message.recipient, reason="opted_out", source=f"{message.channel} {error.code}", now=now)
        _advance_episodes(session, [m for m in rows.values() if m.state == "sent"], now)
        if sent_keys:
            runtime.budget.settle(session, message_keys=sent_keys, sent=True, now=now)
        if released_keys:
            runtime.budget.settle(session, message_keys=released_keys, sent=False, now=now)
        if halted is not None:
            campaign_ids = {m.campaign_id for m in rows.values() if m.campaign_id is not None}
            _halt(runtime, session, campaign_ids, halted, next(iter(rows.values())).channel or "", now)
        session.commit()
    return halted


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


def _halt(runtime: Runtime, session: Session, campaign_ids: set[int], error: ChannelError, channel: str, now: datetime) -> None:
    """Bad credentials: pause the campaigns, keep every message queued, tell the team."""
    from dispatcher.alerts import alert_team

    reason = f"the {channel} channel refused our credentials ({error.code}: {error.text}); fix the settings and resume the campaign"
    log.error("pausing campaigns %s: %s", sorted(campaign_ids), reason)
    for campaign in session.scalars(select(Campaign).where(Campaign.id.in_(campaign_ids), Campaign.status == "active")):
        campaign.status, campaign.paused_reason = "paused", reason
        alert_team(runtime, session, campaign, subject=f"Pulse paused {campaign.name}", text=reason, avoid_channel=channel, now=now)
