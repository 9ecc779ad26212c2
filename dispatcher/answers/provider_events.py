"""Provider events → message state (forward only), engagement counters and suppressions.

Every event is kept once (``provider_events``, unique per provider event id)
before it changes anything, so a provider's retry changes nothing. Message
state moves along ``campaigns.events.progress`` under a row lock; counters
grow when a message first reaches a level, so a thousand opens of one email
count once. Hard bounces, spam reports, unsubscribes and STOPs suppress the
address on its medium for good, and messages still waiting to go to it are
skipped. Functions flush, never commit: the route commits before it answers.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from campaigns.db import ID_MAX
from campaigns.events import service
from campaigns.events.decay import DEFAULT_HALF_LIFE_DAYS
from campaigns.events.models import ProviderEvent
from campaigns.events.outcomes import Outcome, sendgrid_outcome, twilio_outcome
from campaigns.events.service import PENDING, Move
from campaigns.programs.models import Message
from dispatcher.runtime.core import Runtime
from dispatcher.sending.outcomes import suppress

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


@dataclass
class _Effects:
    """What a batch of events did, applied together in a fixed order."""

    moves: list[Move]
    bounced: set[int]

    @classmethod
    def empty(cls) -> _Effects:
        return cls([], set())


def suppress_address(runtime: Runtime, session: Session, *, medium: str, address: str, reason: str, source: str, now: datetime) -> int:
    """Suppress ``address`` on ``medium`` for good and skip what still waits to go to it.

    Idempotent. Returns how many planned messages were skipped (their budget
    reservations go back).
    """
    suppress(session, medium=medium, address=address, reason=reason, source=source[:200], now=now)
    keys = list(session.scalars(
        update(Message).where(Message.medium == medium, Message.recipient == address, Message.state.in_(("queued", "retrying")))
        .values(state="skipped", skip_rule="suppressed", skip_reason=f"{medium}: {SUPPRESSED_BECAUSE.get(reason, reason)} ({source})"[:2000], updated_at=now)
        .returning(Message.idempotency_key)
    ))
    if keys:
        runtime.budget.settle(session, message_keys=keys, sent=False, now=now)
    return len(keys)


def _apply(session: Session, event: ProviderEvent, outcome: Outcome, effects: _Effects, now: datetime, provider_message_id: str | None = None) -> None:
    if outcome.target is None or event.message_id is None:
        return
    moved = service.advance_message(
        session, message_id=event.message_id, target=outcome.target, now=now,
        error_code=outcome.error_code, detail=outcome.detail, provider_message_id=provider_message_id,
    )
    if moved == PENDING:
        event.pending = True
    elif moved is not None:
        effects.moves.append(moved)
        if outcome.bounced:
            effects.bounced.add(moved.message_id)


# -- SendGrid -------------------------------------------------------------------------


def _event_id(event: Mapping[str, Any]) -> str:
    """SendGrid's ``sg_event_id``; for an event without one, a digest of the event itself."""
    given = event.get("sg_event_id")
    if isinstance(given, str) and given:
        return given
    return "sha256:" + hashlib.sha256(json.dumps(event, sort_keys=True, default=str).encode()).hexdigest()


def _occurred(value: Any) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(value), tz=UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


MAX_ADDRESS = 320  # the longest email address a suppression (or a message) holds


def _clean_text(value: str) -> str:
    """Text a database column can hold: no NUL, no lone surrogate."""
    return value.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")


def _clean_event(event: Any) -> dict[str, Any] | None:
    """The event with its text made storable, or None for one that is no event at all.

    Each event is judged alone, so one bad event never fails its batch: an
    over-long address is dropped (the event still moves its message), text
    loses NUL characters and lone surrogates.
    """
    if not isinstance(event, Mapping) or not isinstance(event.get("event"), str):
        return None
    clean = {str(key): _clean_text(value) if isinstance(value, str) else value for key, value in event.items()}
    if len(str(clean.get("email") or "")) > MAX_ADDRESS:
        clean.pop("email")
    return clean


def _sendgrid_messages(session: Session, events: Sequence[Mapping[str, Any]]) -> dict[int, tuple[int, str]]:
    """Our email message (id, address as we sent it) for each event by position, checked against the event's address."""
    wanted: dict[int, int] = {}
    for index, event in enumerate(events):
        value = str(event.get(MESSAGE_ID_ARG) or "")
        if value.isdigit() and int(value) <= ID_MAX:
            wanted[index] = int(value)
    found: dict[int, tuple[int, str]] = {}
    if wanted:
        rows = {m_id: (medium, recipient) for m_id, medium, recipient in session.execute(
            select(Message.id, Message.medium, Message.recipient).where(Message.id.in_(set(wanted.values())))
        )}
        for index, message_id in wanted.items():
            medium, recipient = rows.get(message_id, (None, None))
            if medium == "email" and recipient and recipient.lower() == str(events[index].get("email") or "").lower():
                found[index] = (message_id, recipient)
    # Fallback for events without our custom arg: X-Message-Id (the prefix of
    # sg_message_id) is shared by one request's recipients, so match the address too.
    rest = {i: str(e.get("sg_message_id") or "").split(".")[0] for i, e in enumerate(events) if i not in found}
    rest = {i: v for i, v in rest.items() if v}
    if rest:
        rows2 = session.execute(
            select(Message.id, Message.provider_message_id, Message.recipient)
            .where(Message.provider_message_id.in_(set(rest.values())), Message.medium == "email")
        ).all()
        by_key = {(pid, recipient.lower()): (m_id, recipient) for m_id, pid, recipient in rows2 if recipient}
        for index, provider_id in rest.items():
            match = by_key.get((provider_id, str(events[index].get("email") or "").lower()))
            if match is not None:
                found[index] = match
    return found


def receive_sendgrid_events(runtime: Runtime, session: Session, events: Sequence[Mapping[str, Any]], *, now: datetime) -> BatchResult:
    """Apply one verified Event Webhook batch. Idempotent per ``sg_event_id``; flushes only.

    Rows are touched in a fixed order (event ids, then message ids, then
    addresses), so two overlapping batches in flight cannot deadlock.
    """
    received = len(events)
    events = [clean for clean in map(_clean_event, events) if clean is not None]
    messages = _sendgrid_messages(session, events)
    order = sorted(range(len(events)), key=lambda i: _event_id(events[i]))
    fresh: list[tuple[ProviderEvent, Outcome, Mapping[str, Any]]] = []
    for index in order:
        event = events[index]
        outcome = sendgrid_outcome(event)
        message_id, address = messages.get(index, (None, str(event.get("email") or "") or None))
        row = service.record_event(
            session, provider="sendgrid", event_id=_event_id(event), event=str(event.get("event") or "unknown"),
            medium="email", address=address, message_id=message_id,  # the address as we sent it, when it is ours
            outcome=outcome, occurred_at=_occurred(event.get("timestamp")), now=now,
        )
        if row is not None:
            fresh.append((row, outcome, event))
    service.lock_messages(session, (row.message_id for row, _, _ in fresh if row.message_id is not None))
    effects = _Effects.empty()
    for row, outcome, _ in fresh:
        _apply(session, row, outcome, effects, now)
    service.count_engagement(session, effects.moves, bounced=effects.bounced, now=now, half_life_days=runtime.settings.channel_half_life_days)
    suppressions = sorted({(row.address, outcome.suppress, f"sendgrid {row.event} {row.event_id}") for row, outcome, _ in fresh if outcome.suppress and row.address})
    for address, reason, source in suppressions:
        suppress_address(runtime, session, medium="email", address=address, reason=reason, source=source, now=now)
    return BatchResult(received=received, new=len(fresh), ignored=received - len(events))


# -- Twilio ---------------------------------------------------------------------------


def _twilio_message(session: Session, message_id: str | None, message_sid: str) -> Message | None:
    """Our SMS behind a status callback: the id in its URL, else Twilio's MessageSid."""
    if message_id and message_id.isdigit():
        message = session.get(Message, int(message_id))
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
    row = service.record_event(
        session, provider="twilio", event_id=f"{message_sid}:{status.lower()}", event=status.lower(), medium="sms",
        address=address, message_id=message.id if message is not None else None, outcome=outcome, occurred_at=None, now=now,
    )
    if row is None:
        return False
    effects = _Effects.empty()
    _apply(session, row, outcome, effects, now, provider_message_id=message_sid)
    service.count_engagement(session, effects.moves, bounced=effects.bounced, now=now, half_life_days=runtime.settings.channel_half_life_days)
    if outcome.suppress and address:
        suppress_address(runtime, session, medium="sms", address=address, reason=outcome.suppress, source=f"twilio {status.lower()} {outcome.error_code}", now=now)
    return True


# -- Answers and late application ---------------------------------------------------------


def mark_shown(session: Session, *, message_id: int, now: datetime, half_life_days: float = DEFAULT_HALF_LIFE_DAYS) -> None:
    """The widget showed this in-app prompt: the message moves to ``opened`` and the contact's
    in-app ``opened`` counter grows once per message. Idempotent; flushes only."""
    _pulse_event(session, message_id=message_id, medium="in_app", event="shown", target="opened", now=now, half_life_days=half_life_days)


def mark_dismissed(session: Session, *, message_id: int, contact_id: int, now: datetime, half_life_days: float = DEFAULT_HALF_LIFE_DAYS) -> None:
    """The contact closed this in-app prompt unanswered: ``dismissed`` grows once per message
    (the message keeps its state: it was delivered). Idempotent; flushes only."""
    row = service.record_event(
        session, provider="pulse", event_id=f"dismissed:{message_id}", event="dismissed", medium="in_app", address=None,
        message_id=message_id, outcome=Outcome(), occurred_at=now, now=now,
    )
    if row is not None:
        service.add_evidence(session, {(contact_id, "in_app"): {"dismissed": 1}}, now=now, half_life_days=half_life_days)


def _pulse_event(session: Session, *, message_id: int, medium: str, event: str, target: str, now: datetime, half_life_days: float) -> None:
    """A signal Pulse itself observed about one message, kept once by (event, message)."""
    outcome = Outcome(target=target)
    row = service.record_event(
        session, provider="pulse", event_id=f"{event}:{message_id}", event=event, medium=medium, address=None,
        message_id=message_id, outcome=outcome, occurred_at=now, now=now,
    )
    if row is None:
        return
    effects = _Effects.empty()
    _apply(session, row, outcome, effects, now)
    service.count_engagement(session, effects.moves, bounced=set(), now=now, half_life_days=half_life_days)


def mark_answered(session: Session, *, episode_id: int, medium: str, now: datetime, message_id: int | None = None, half_life_days: float = DEFAULT_HALF_LIFE_DAYS) -> None:
    """The episode was answered on ``medium``: its latest message there moves to ``answered``
    and the contact's ``answered`` counter grows once per message. Idempotent; flushes only.

    Any channel's answer path may call it (SMS replies do); without ``message_id``
    the episode's latest message on the medium is taken.
    """
    if message_id is None:
        message_id = session.scalar(
            select(Message.id).where(Message.episode_id == episode_id, Message.medium == medium, Message.state.in_(service.REACHED_STATES))
            .order_by(Message.created_at.desc(), Message.id.desc()).limit(1)
        )
        if message_id is None:
            return
    _pulse_event(session, message_id=message_id, medium=medium, event="answered", target="answered", now=now, half_life_days=half_life_days)


def apply_pending_events(runtime: Runtime, limit: int = 200) -> int:
    """Task: apply events that arrived while their message was still being sent. Commits.

    Called after each provider webhook and safe to run from the scheduler tick;
    best effort (a busy database leaves the rest for the next run).
    """
    now = runtime.clock.now()
    applied = 0
    try:
        with runtime.sessions() as session:
            events = service.pending_events(session, limit=limit)
            if not events:
                return 0
            service.lock_messages(session, (e.message_id for e in events if e.message_id is not None))
            effects = _Effects.empty()
            for event in events:
                event.pending = False
                outcome = Outcome(target=event.target_state, bounced=event.bounced, error_code=event.error_code, detail=event.detail)
                _apply(session, event, outcome, effects, now)
                applied += 0 if event.pending else 1
            service.count_engagement(session, effects.moves, bounced=effects.bounced, now=now, half_life_days=runtime.settings.channel_half_life_days)
            session.commit()
    except OperationalError as exc:  # SQLite busy, or a PostgreSQL deadlock victim: next run
        log.warning("pending provider events left for the next run: %s", exc)
        return 0
    return applied

