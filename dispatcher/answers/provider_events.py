"""Provider events → message state (forward only), engagement counters and suppressions.

Every event is kept once (``provider_events``, unique per provider event id)
before it changes anything, so a provider's retry changes nothing. Message
state moves along ``campaigns.events.progress`` under a row lock; counters
grow when a message first reaches a level, so a thousand opens of one email
count once. Hard bounces, spam reports, unsubscribes and STOPs suppress the
address on its medium for good, and messages still waiting to go to it are
skipped. A SendGrid batch is applied as a set, in a few statements whatever
its size (``campaigns.events.batch_apply``); a Twilio callback and Pulse's own
signals go the same way as batches of one. Functions flush, never commit: the
route commits before it answers.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from campaigns.db import id_in
from campaigns.events import batch_apply
from campaigns.events.batch_apply import EventRow, Signal
from campaigns.events.decay import DEFAULT_HALF_LIFE_DAYS
from campaigns.events.outcomes import Outcome, sendgrid_outcome, storable, twilio_outcome
from campaigns.events.service import REACHED_STATES, add_evidence, pending_events
from campaigns.programs.models import Message
from dispatcher.runtime.core import Runtime

log = logging.getLogger(__name__)
MESSAGE_ID_ARG = "pulse_message_id"  # the custom arg our SendGrid messages carry (channels.sendgrid)
SUPPRESSED_BECAUSE = {
    "opted_out": "opted out",
    "unsubscribed": "unsubscribed",
    "bounced": "bounced for good",
    "spam_report": "reported our message as spam",
}


@dataclass(frozen=True)
class BatchResult:
    received: int
    new: int  # not seen before
    ignored: int = 0  # not an event Pulse can read (not an object, no event name)


def _skip_reason(medium: str, reason: str, source: str) -> str:
    return f"{medium}: {SUPPRESSED_BECAUSE.get(reason, reason)} ({source})"


def _suppress(runtime: Runtime, session: Session, *, medium: str, found: dict[str, tuple[str, str]], now: datetime) -> int:
    """Suppress each address (address → (reason, source)); settle the budget of the messages skipped."""
    reasons = {address: (reason, source, _skip_reason(medium, reason, source)) for address, (reason, source) in found.items()}
    keys = batch_apply.suppress_addresses(session, medium=medium, reasons=reasons, now=now)
    if keys:
        runtime.budget.settle(session, message_keys=keys, sent=False, now=now)
    return len(keys)


def suppress_address(runtime: Runtime, session: Session, *, medium: str, address: str, reason: str, source: str, now: datetime) -> int:
    """Suppress ``address`` on ``medium`` for good and skip what still waits to go to it.

    Idempotent. Returns how many planned messages were skipped (their budget
    reservations go back).
    """
    return _suppress(runtime, session, medium=medium, found={address: (reason, source)}, now=now)


def _apply_kept(
    runtime: Runtime, session: Session, kept: Sequence[tuple[int, EventRow]], *, medium: str,
    suppressions: dict[str, tuple[str, str]], now: datetime,
) -> list[int]:
    """Apply kept events to their messages, then suppress; the event rows left pending."""
    signals = [
        Signal(row_id, row.message_id, row.outcome.target, row.outcome.bounced, row.outcome.error_code, row.outcome.detail)
        for row_id, row in kept if row.message_id is not None and row.outcome.target is not None
    ]
    pending = batch_apply.apply_signals(
        session, signals, now=now, queued_to=(medium, suppressions.keys()), half_life_days=runtime.settings.channel_half_life_days,
    )
    batch_apply.set_pending(session, pending, pending=True)
    if suppressions:
        _suppress(runtime, session, medium=medium, found=suppressions, now=now)
    return pending


# -- SendGrid -------------------------------------------------------------------------


def _event_id(event: Mapping[str, Any]) -> str:
    """SendGrid's ``sg_event_id``; for an event without one, a digest of the event itself."""
    given = event.get("sg_event_id")
    if isinstance(given, str) and given:
        return given
    return "sha256:" + hashlib.sha256(json.dumps(event, sort_keys=True, default=str).encode()).hexdigest()


def _occurred(value: Any) -> datetime | None:
    try:
        return _moment(int(value))
    except (TypeError, ValueError, OverflowError, OSError):
        return None


@lru_cache(maxsize=4096)  # a batch's events share their seconds
def _moment(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


MAX_ADDRESS = 320  # the longest email address a suppression (or a message) holds


def _sendgrid_row(event: Mapping[str, Any]) -> EventRow:
    """What is kept of one readable event; the message it names is a candidate that ``keep_events`` checks."""
    get = event.get
    email = get("email")
    address = (storable(email) or None) if type(email) is str and len(email) <= MAX_ADDRESS else None
    named = get(MESSAGE_ID_ARG)
    value = named if type(named) is str else str(named or "")
    message_id = id_in(value)
    # Without our custom arg: X-Message-Id (the prefix of sg_message_id), shared by one request's recipients.
    request_id = None if message_id is not None else (storable(str(get("sg_message_id") or "").partition(".")[0]) or None)
    return EventRow(
        storable(_event_id(event)), storable(event["event"]) or "unknown", address, message_id, sendgrid_outcome(event),
        _occurred(get("timestamp")), request_id,
    )


def receive_sendgrid_events(runtime: Runtime, session: Session, events: Sequence[Mapping[str, Any]], *, now: datetime) -> BatchResult:
    """Apply one verified Event Webhook batch as a set. Idempotent per ``sg_event_id``; flushes only.

    A few statements whatever the batch's size (``campaigns.events.batch_apply``);
    the events' messages are matched inside the statement that keeps them.
    Rows are locked in a fixed order (event ids, then message ids, then counter
    keys, then addresses), so two overlapping batches in flight cannot deadlock.
    """
    received = len(events)
    rows = [_sendgrid_row(event) for event in events if (type(event) is dict or isinstance(event, Mapping)) and type(event.get("event")) is str]
    kept = batch_apply.keep_events(session, provider="sendgrid", medium="email", events=rows, now=now, match=True)
    suppressions: dict[str, tuple[str, str]] = {}
    for _, row in kept:
        if row.outcome.suppress and row.address:
            suppressions.setdefault(row.address, (row.outcome.suppress, f"sendgrid {row.event} {row.event_id}"))
    _apply_kept(runtime, session, kept, medium="email", suppressions=suppressions, now=now)
    return BatchResult(received=received, new=len(kept), ignored=received - len(rows))


# -- Twilio ---------------------------------------------------------------------------


def _twilio_message(session: Session, message_id: str | None, message_sid: str) -> Message | None:
    """Our SMS behind a status callback: the id in its URL, else Twilio's MessageSid."""
    if message_id and (number := id_in(message_id)) is not None:
        message = session.get(Message, number)
        if message is not None and message.medium == "sms" and message.provider_message_id in (None, message_sid):
            return message
        return None
    return session.scalars(select(Message).where(Message.provider_message_id == message_sid, Message.medium == "sms").limit(1)).first()


def receive_twilio_status(
    runtime: Runtime, session: Session, *, message_id: str | None, message_sid: str, status: str,
    error_code: str | None, recipient: str | None, now: datetime,
) -> bool:
    """Apply one verified status callback; False if this status of this message came before."""
    message = _twilio_message(session, message_id, message_sid)
    outcome = twilio_outcome(status, error_code)
    address = (message.recipient if message is not None else None) or recipient
    event = EventRow(
        event_id=f"{message_sid}:{status.lower()}", event=status.lower(), address=address,
        message_id=message.id if message is not None else None, outcome=outcome,
    )
    kept = batch_apply.keep_events(session, provider="twilio", medium="sms", events=[event], now=now)
    if not kept:
        return False
    suppressions = {address: (outcome.suppress, f"twilio {status.lower()} {outcome.error_code}")} if outcome.suppress and address else {}
    pending = _apply_kept(runtime, session, kept, medium="sms", suppressions=suppressions, now=now)
    if message is not None and outcome.target is not None and not pending:
        session.execute(update(Message).where(Message.id == message.id, Message.provider_message_id.is_(None)).values(provider_message_id=message_sid))
    return True


# -- Answers and late application ---------------------------------------------------------


def mark_shown(session: Session, *, message_id: int, now: datetime, half_life_days: float = DEFAULT_HALF_LIFE_DAYS) -> None:
    """The widget showed this in-app prompt: the message moves to ``opened`` and the contact's
    in-app ``opened`` counter grows once per message. Idempotent; flushes only."""
    _pulse_event(session, message_id=message_id, medium="in_app", event="shown", target="opened", now=now, half_life_days=half_life_days)


def mark_dismissed(session: Session, *, message_id: int, contact_id: int, now: datetime, half_life_days: float = DEFAULT_HALF_LIFE_DAYS) -> None:
    """The contact closed this in-app prompt unanswered: ``dismissed`` grows once per message
    (the message keeps its state: it was delivered). Idempotent; flushes only."""
    event = EventRow(event_id=f"dismissed:{message_id}", event="dismissed", address=None, message_id=message_id, outcome=Outcome(), occurred_at=now)
    if batch_apply.keep_events(session, provider="pulse", medium="in_app", events=[event], now=now):
        add_evidence(session, {(contact_id, "in_app"): {"dismissed": 1}}, now=now, half_life_days=half_life_days)


def _pulse_event(session: Session, *, message_id: int, medium: str, event: str, target: str, now: datetime, half_life_days: float) -> None:
    """A signal Pulse itself observed about one message, kept once by (event, message)."""
    row = EventRow(event_id=f"{event}:{message_id}", event=event, address=None, message_id=message_id, outcome=Outcome(target=target), occurred_at=now)
    _pulse_events(session, medium=medium, rows=[row], now=now, half_life_days=half_life_days)


def _pulse_events(session: Session, *, medium: str, rows: Sequence[EventRow], now: datetime, half_life_days: float) -> None:
    kept = batch_apply.keep_events(session, provider="pulse", medium=medium, events=rows, now=now)
    signals = [Signal(row_id, row.message_id, row.outcome.target) for row_id, row in kept if row.message_id is not None and row.outcome.target is not None]
    batch_apply.set_pending(session, batch_apply.apply_signals(session, signals, now=now, half_life_days=half_life_days), pending=True)


def mark_answered(session: Session, *, episode_id: int, medium: str, now: datetime, message_id: int | None = None, half_life_days: float = DEFAULT_HALF_LIFE_DAYS) -> None:
    """The episode was answered on ``medium``: its latest message there moves to ``answered``
    and the contact's ``answered`` counter grows once per message. Idempotent; flushes only.

    Any channel's answer path may call it (SMS replies do); without ``message_id``
    the episode's latest message on the medium is taken.
    """
    mark_answered_many(session, [(episode_id, medium, message_id, now)], half_life_days=half_life_days)


def mark_answered_many(session: Session, answers: Sequence[tuple[int, str, int | None, datetime]], *, half_life_days: float = DEFAULT_HALF_LIFE_DAYS) -> None:
    """``mark_answered`` for a batch of answers, each (episode id, medium, message id or None, when):
    a few statements per medium, whatever the batch's size (counted at the batch's latest answer)."""
    by_medium: dict[str, list[EventRow]] = {}
    latest: dict[str, datetime] = {}
    for episode_id, medium, message_id, at in answers:
        if message_id is None:
            message_id = session.scalar(
                select(Message.id).where(Message.episode_id == episode_id, Message.medium == medium, Message.state.in_(REACHED_STATES))
                .order_by(Message.created_at.desc(), Message.id.desc()).limit(1)
            )
            if message_id is None:
                continue
        by_medium.setdefault(medium, []).append(
            EventRow(event_id=f"answered:{message_id}", event="answered", address=None, message_id=message_id, outcome=Outcome(target="answered"), occurred_at=at)
        )
        latest[medium] = max(at, latest.get(medium, at))
    for medium in sorted(by_medium):
        _pulse_events(session, medium=medium, rows=by_medium[medium], now=latest[medium], half_life_days=half_life_days)


def apply_pending_events(runtime: Runtime, limit: int = 200) -> int:
    """Task: apply events that arrived while their message was still being sent. Commits.

    Called after each provider webhook and safe to run from the scheduler tick;
    best effort (a busy database leaves the rest for the next run).
    """
    now = runtime.clock.now()
    try:
        with runtime.sessions() as session:
            events = pending_events(session, limit=limit)
            if not events:
                return 0
            signals = [
                Signal(e.id, e.message_id, e.target_state, e.bounced, e.error_code, e.detail)
                for e in events if e.message_id is not None and e.target_state is not None
            ]
            still = set(batch_apply.apply_signals(session, signals, now=now, half_life_days=runtime.settings.channel_half_life_days))
            applied = [e.id for e in events if e.id not in still]
            batch_apply.set_pending(session, applied, pending=False)
            session.commit()
    except OperationalError as exc:  # SQLite busy, or a PostgreSQL deadlock victim: next run
        log.warning("pending provider events left for the next run: %s", exc)
        return 0
    return len(applied)
