"""Handing planned messages to their channels, exactly once, and never ``unknown`` unsent.

A task gets message ids and sends them chunk by chunk, one provider request's
worth at a time:

1. Claim-and-load (one ``UPDATE … RETURNING``): ``queued``/``retrying`` →
   ``sending`` for the chunk about to go, stamped with this worker's name, and
   committed right before the request starts. ``sending`` therefore means
   *in flight*: a row is never in it while it waits behind other chunks. The
   same statement re-checks what may have changed since planning (suppressed
   address, erased contact, paused/cancelled/closed campaign); the few rows it
   leaves go through ``_verdicts`` (skipped with the reason, or left to wait).
2. Send through the medium's adapter.
3. Record every result in one statement (``outcomes.record_results``).

A worker that dies mid-request leaves its chunk in ``sending``: the scheduler
reports it ``unknown`` (never resent) as soon as the worker's heartbeat stops.
Whatever the dead worker had not claimed yet is still ``queued`` and is sent
once, by the task's redelivery or the next tick.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple, cast

from sqlalchemy import (
    Row,
    Table,
    and_,
    exists,
    func,
    literal_column,
    or_,
    select,
    type_coerce,
    update,
)
from sqlalchemy.orm import Session

from campaigns.db import one_of
from campaigns.followups.models import FollowUp
from campaigns.people.models import Contact, TeamMember
from campaigns.programs.models import Campaign, Episode, Message, MessageContent, Suppression
from campaigns.programs.reach import suppressed_addresses
from campaigns.programs.window import SendingWindow
from channels.base import Channel, ChannelError, OutgoingMessage, SendResult
from channels.email_headers import list_unsubscribe_headers
from dispatcher.runtime.clock import utcnow
from dispatcher.runtime.core import Runtime
from dispatcher.runtime.metrics import count_results, provider_request
from dispatcher.runtime.settings import Settings
from dispatcher.sending.contents import RecipientValues
from dispatcher.sending.heartbeat import worker_name
from dispatcher.sending.outcomes import record_results
from dispatcher.sending.prompts import prompt_expiries

log = logging.getLogger(__name__)

CONTACT_STEPS = ("pre_notice", "invite", "reminder", "thank_you", "you_said_we_did")
AT_CLOSE = ("thank_you", "summary", "you_said_we_did")
WAITING = ("queued", "retrying")


@dataclass(frozen=True)
class Verdict:
    action: str  # send, wait (paused), defer (window shut), skip
    rule: str | None = None
    reason: str | None = None
    opens: datetime | None = None


SEND = Verdict("send")


def _verdicts(session: Session, messages: Sequence[Message], now: datetime) -> dict[int, Verdict]:
    """What to do with each message now (the rows the claim statement left)."""
    contacts = {c.id: c for c in session.scalars(select(Contact).where(Contact.id.in_({m.contact_id for m in messages if m.contact_id})))}
    campaigns = _campaigns(session, {m.campaign_id for m in messages})
    windows = {c.id: SendingWindow.parse(c.sending_window) for c in campaigns.values()}
    # An address may have unsubscribed, opted out or bounced since its message was planned.
    suppressed = suppressed_addresses(session, [(m.medium, m.recipient) for m in messages if m.medium and m.recipient])
    verdicts: dict[int, Verdict] = {}
    for message in messages:
        contact = contacts.get(message.contact_id) if message.contact_id else None
        campaign = campaigns.get(message.campaign_id) if message.campaign_id else None
        verdicts[message.id] = _verdict(message, contact, campaign, windows, suppressed, now)
    return verdicts


def _verdict(message: Message, contact: Contact | None, campaign: Campaign | None, windows: dict[int, SendingWindow], suppressed: set[tuple[str, str]], now: datetime) -> Verdict:
    if (message.medium, message.recipient) in suppressed:
        return Verdict("skip", "suppressed", "the address opted out, unsubscribed or bounced after the message was planned")
    if contact is not None and contact.erased_at is not None:
        return Verdict("skip", "erased", "the contact was erased")
    if campaign is None or message.step == "alert":  # alerts about a paused campaign must still reach the team
        return SEND
    if campaign.status == "cancelled":
        return Verdict("skip", "campaign_cancelled", "the campaign was cancelled")
    if campaign.status == "closed" and message.step not in AT_CLOSE:
        return Verdict("skip", "campaign_closed", "the campaign closed before it could be sent")
    if campaign.status != "active" and not (campaign.status == "closed" and message.step in AT_CLOSE):
        return Verdict("wait")  # paused (or a draft): stays queued until resumed
    return _window_verdict(message.step, campaign, contact.timezone if contact else None, windows, now)


def _window_verdict(step: str, campaign: Campaign, zone: str | None, windows: dict[int, SendingWindow], now: datetime) -> Verdict:
    # Transactional sends chose at request time whether sending hours apply (not_before says when).
    if step in CONTACT_STEPS and campaign.mode != "transactional" and zone is not None:
        opens = windows[campaign.id].next_open(now, zone)
        if opens > now:  # the window closed since it was planned: wait for the next one
            return Verdict("defer", opens=opens)
    return SEND


def _apply(runtime: Runtime, session: Session, messages: Sequence[Message], verdicts: dict[int, Verdict], now: datetime) -> list[int]:
    """Carry out every verdict but ``send`` on waiting rows; returns the ids still to send."""
    skipped: dict[tuple[str, str], list[int]] = defaultdict(list)
    waiting: list[int] = []
    for message in messages:
        verdict = verdicts[message.id]
        if verdict.action == "skip":
            skipped[(verdict.rule or "", verdict.reason or "")].append(message.id)
        elif verdict.action == "wait":
            waiting.append(message.id)
        elif verdict.action == "defer":
            session.execute(update(Message).where(Message.id == message.id, Message.state.in_(WAITING))
                            .values(state="queued", not_before=verdict.opens, enqueued_at=None))
    if waiting:  # paused: not handed out any more, so the step's batches or the tick take them again on resume
        session.execute(update(Message).where(Message.id.in_(waiting), Message.state.in_(WAITING)).values(enqueued_at=None))
    for (rule, reason), ids in skipped.items():
        keys = list(session.scalars(
            update(Message).where(Message.id.in_(ids), Message.state.in_(WAITING))
            .values(state="skipped", skip_rule=rule, skip_reason=reason, updated_at=now).returning(Message.idempotency_key)
        ))
        if keys:
            runtime.budget.settle(session, message_keys=keys, sent=False, now=now)
    return [m.id for m in messages if verdicts[m.id].action == "send"]


# The claim is a Core statement over the tables (no ORM entity in it), so its RETURNING rows come
# back as plain rows without the ORM's loading and session bookkeeping.
_MESSAGES = cast(Table, Message.__table__)
_M, _C, _S, _CAMPAIGN, _E = (_MESSAGES.c, Contact.__table__.c, Suppression.__table__.c, Campaign.__table__.c, Episode.__table__.c)


def _still_sendable() -> Any:
    """SQL for what ``_verdict`` checks, but the sending window (checked on the claimed rows)."""
    m = _M
    return and_(
        ~exists(select(_S.id).where(_S.medium == m.medium, _S.address == m.recipient)),
        or_(m.contact_id.is_(None), ~exists(select(_C.id).where(_C.id == m.contact_id, _C.erased_at.is_not(None)))),
        or_(m.campaign_id.is_(None), m.step == "alert", exists(select(_CAMPAIGN.id).where(
            _CAMPAIGN.id == m.campaign_id,
            or_(_CAMPAIGN.status == "active", and_(_CAMPAIGN.status == "closed", m.step.in_(AT_CLOSE))),
        ))),
    )


class Claimed(NamedTuple):
    """A claimed message as the claim returns it: its row's columns, and the contact's and
    episode's ones a contact step's values are derived from (not stored).

    A plain named tuple rather than SQLAlchemy's ``Row``: the hand-off reads some thirty fields
    of each message (build, window, results), and a ``Row`` attribute costs ~0.4 µs against a
    tuple's ~0.03 (about 8 µs a message in the builder alone)."""

    id: int
    idempotency_key: str
    campaign_id: int | None
    episode_id: int | None
    step: str
    medium: str | None
    channel: str | None
    recipient: str | None
    content_id: int | None
    substitutions: dict[str, Any] | None
    attempts: int
    not_before: datetime
    locale: str | None
    created_at: datetime
    step_id: int | None
    contact_id: int | None
    zone: str | None
    contact_name: str | None
    public_id: str | None


def _claimed_columns() -> tuple[Any, ...]:
    """What the claim returns, in ``Claimed``'s order."""
    derived = {
        # A contact step stores no values (``{}``: derived when sent): NULL then, so the driver
        # parses no JSON document per row for nothing.
        "substitutions": type_coerce(func.nullif(_M.substitutions, literal_column("'{}'")), _M.substitutions.type),
        "zone": select(_C.timezone).where(_C.id == _M.contact_id).scalar_subquery(),
        "contact_name": select(_C.name).where(_C.id == _M.contact_id).scalar_subquery(),
        "public_id": select(_E.public_id).where(_E.id == _M.episode_id).scalar_subquery(),
    }
    return tuple(derived[name].label(name) if name in derived else _M[name] for name in Claimed._fields)


CLAIMED = _claimed_columns()


def _waiting_by_key(state: Any) -> Any:
    """``state IN ('queued', 'retrying')`` for statements that name their rows by id: written so the
    planner cannot match it with the partial indexes over states, and reaches the rows by primary key.

    Statistics taken while nothing was due (autovacuum analyzes a table at rest; a step then
    queues a million) make ``ix_messages_due`` look empty, and a claim of 1,000 ids walked every
    due message to find them: 99,000 rows thrown away a chunk at 100,000 due, quadratic over a
    step. ``state`` is never NULL, so the ``coalesce`` changes no row's verdict."""
    return func.coalesce(state, "").in_(WAITING)


def _claim_statement(session: Session, ids: Sequence[int], now: datetime, wall: datetime, *, checked: bool) -> Any:
    conditions = [one_of(session, _M.id, ids), _waiting_by_key(_M.state), _M.not_before <= now]
    if checked:
        conditions.append(_still_sendable())
    return (
        update(_MESSAGES).where(*conditions)
        .values(state="sending", claimed_at=wall, claimed_by=worker_name(), attempts=_M.attempts + 1, updated_at=now)
        .returning(*CLAIMED)
    )


@dataclass(frozen=True)
class Loaded:
    """What building a claimed chunk's messages reads besides its rows, loaded in the claim's transaction."""

    contents: dict[int, MessageContent]
    campaigns: dict[int, Campaign]  # in-app messages' campaigns
    expiries: dict[int, datetime]  # in-app prompts' ends, by message id
    replies: dict[int, str]  # Reply-To by message id


NOTHING_LOADED = Loaded({}, {}, {}, {})


def claim_chunk(runtime: Runtime, ids: Sequence[int]) -> list[Claimed]:
    """Mark these messages in flight (those that should go now) and load what sending needs. Commits.

    Call it right before the request that carries them starts: a row it returns
    is ``unknown`` if this process dies before its result is recorded.
    """
    return _claim_and_load(runtime, ids)[0]


def _claim_and_load(runtime: Runtime, ids: Sequence[int]) -> tuple[list[Claimed], Loaded]:
    """``claim_chunk``, and in the same transaction what building the chunk's messages reads."""
    now, wall = runtime.clock.now(), utcnow()
    with runtime.sessions() as session:
        claimed = list(map(Claimed._make, session.execute(_claim_statement(session, ids, now, wall, checked=True))))
        rest = set(ids) - {row.id for row in claimed}
        if rest:  # suppressed, erased, paused, cancelled, closed (or already sent): say why, one by one
            # An array parameter (one_of): rows another sender claimed first can be a whole chunk.
            messages = list(session.scalars(select(Message).where(one_of(session, Message.id, sorted(rest)), _waiting_by_key(Message.state), Message.not_before <= now)))
            ready = _apply(runtime, session, messages, _verdicts(session, messages, now), now) if messages else []
            if ready:
                claimed += map(Claimed._make, session.execute(_claim_statement(session, ready, now, wall, checked=False)))
        claimed = _outside_window(session, claimed, now)
        loaded = _load(runtime, session, claimed, now) if claimed else NOTHING_LOADED
        session.commit()
    return sorted(claimed, key=lambda row: row.id), loaded


def _load(runtime: Runtime, session: Session, claimed: list[Claimed], now: datetime) -> Loaded:
    contents = _contents(runtime, session, {row.content_id for row in claimed if row.content_id is not None})
    campaigns = _campaigns(session, {row.campaign_id for row in claimed if row.medium == "in_app"})
    expiries = prompt_expiries(session, claimed, campaigns, now) if campaigns else {}  # type: ignore[arg-type]
    return Loaded(contents, campaigns, expiries, _reply_to(runtime, session, claimed))


def _outside_window(session: Session, claimed: list[Claimed], now: datetime) -> list[Claimed]:
    """The sending window may have shut since planning: those rows go back to wait for it."""
    campaigns = _campaigns(session, {row.campaign_id for row in claimed if row.step in CONTACT_STEPS})
    windows = {c.id: SendingWindow.parse(c.sending_window) for c in campaigns.values()}
    keep: list[Claimed] = []
    verdicts: dict[tuple[str, int, str | None], Verdict] = {}  # a chunk's rows share a few (step, campaign, zone)
    verdict: Verdict | None
    for row in claimed:
        campaign = campaigns.get(row.campaign_id) if row.campaign_id is not None else None
        if campaign is None:
            verdict = SEND
        else:
            verdict = verdicts.get((row.step, campaign.id, row.zone))
            if verdict is None:
                verdict = verdicts[(row.step, campaign.id, row.zone)] = _window_verdict(row.step, campaign, row.zone, windows, now)
        if verdict.action == "defer":
            session.execute(update(Message).where(Message.id == row.id, Message.state == "sending").values(
                state="queued", not_before=verdict.opens, attempts=Message.attempts - 1, claimed_at=None, claimed_by=None, enqueued_at=None))
        else:
            keep.append(row)
    return keep


def take_step_messages(runtime: Runtime, session: Session, step_id: int, now: datetime, *, whole_requests_only: bool,
                       held: Collection[int] = ()) -> list[int]:
    """Due messages of a step that nobody has handed out yet.

    With ``whole_requests_only`` (the step still has batches to plan), only whole
    requests' worth of each content (and medium) are taken; the rest wait for the
    step's later batches, so provider requests leave full (up to SendGrid's 1,000
    personalizations) across batches. Those are not stamped: the claim that marks a
    chunk in flight right before its request hands it out (one write per message, not
    two). The tick keeps off a step that has batches left, and a batch that took the
    same rows as another claims none of them (each claim takes a row once, whole
    chunks in id order); a batch that dies before its claim leaves them to the next.

    Without it (the step's last batch, in the transaction that counts it done) every due
    message is taken and stamped as handed out: the tick takes a step's unstamped
    messages once no batch is left, and would split the last requests otherwise. ``held``:
    ids that this process's sender already has (left out). Commits.
    """
    # A message is queued with its medium (only skipped ones have none).
    rows = cast("Sequence[Row[int, str, int | None]]", session.execute(select(Message.id, Message.medium, Message.content_id).where(
        Message.step_id == step_id, Message.state == "queued", Message.enqueued_at.is_(None), Message.not_before <= now,
    ).order_by(Message.id)).all())
    if whole_requests_only:
        groups: dict[tuple[str, int | None], list[int]] = defaultdict(list)
        for message_id, medium, content_id in rows:
            if message_id not in held:
                groups[(medium, content_id)].append(message_id)
        chosen: list[int] = []
        for (medium, _), ids in groups.items():
            size = max(1, runtime.channels.for_medium(medium).max_batch)
            chosen += ids[: len(ids) // size * size]
        session.commit()
        return sorted(chosen)
    if not rows:
        session.commit()
        return []
    # Over the table, not the entity: the ids come back as plain rows, without the ORM's loading.
    taken = session.execute(update(_MESSAGES).where(one_of(session, _M.id, [row.id for row in rows]), _M.state == "queued", _M.enqueued_at.is_(None))
                            .values(enqueued_at=utcnow()).returning(_M.id)).scalars().all()
    session.commit()
    return sorted(taken)


def send_messages(runtime: Runtime, message_ids: Sequence[int]) -> None:
    """Task: send these messages, one request's worth at a time. Safe to run twice: only one run claims a row."""
    now = runtime.clock.now()
    groups: dict[tuple[str, int | None], list[int]] = defaultdict(list)
    by_content: dict[str, bool] = {}
    with runtime.sessions() as session:
        # A waiting message has its medium (only skipped ones have none).
        for message_id, medium, content_id in cast("Sequence[Row[int, str, int | None]]", session.execute(
            select(Message.id, Message.medium, Message.content_id).where(one_of(session, Message.id, message_ids), Message.state.in_(WAITING), Message.not_before <= now)
            .order_by(Message.id)
        ).all()):
            if medium not in by_content:
                by_content[medium] = getattr(runtime.channels.for_medium(medium), "request_per_content", False)
            groups[(medium, content_id if by_content[medium] else None)].append(message_id)
    # One content a chunk where a request carries one content (SendGrid): what is marked in
    # flight is what one request carries, and requests leave full. Adapters that make a
    # request (or file) per message take any mix of contents: a batch of answers' detractor
    # alerts, each with its own content, then share one claim and one results write.
    # The development outbox's files are expanded from its spool after sends pause, not here.
    for (medium, _), ids in groups.items():
        _send_medium(runtime, medium, ids)


def _flight_size(runtime: Runtime, adapter: Channel) -> int:
    """How many messages are marked in flight at once: one request's worth (SendGrid, SMTP
    batches), or about a second of a rate-limited channel's sending (one request each)."""
    size = max(1, adapter.max_batch)
    if adapter.medium == "sms":
        size = min(size, max(1, int(runtime.settings.sms_mps)))
    return size


def _send_medium(runtime: Runtime, medium: str, ids: list[int]) -> None:
    """Claim, send and record chunk by chunk; unclaimed chunks stay ``queued`` whatever happens.

    With an adapter that takes concurrent requests (``max_in_flight`` > 1), the
    next chunk is claimed, built and its request started while the previous
    request is still out; that one's results are recorded meanwhile. A chunk is
    claimed only when a thread is free to start its request at once, so
    ``sending`` still means a request carrying it has started (or is about to).
    """
    adapter = runtime.channels.for_medium(medium)
    size = _flight_size(runtime, adapter)
    chunks = [ids[start:start + size] for start in range(0, len(ids), size)]
    if getattr(adapter, "max_in_flight", 1) < 2 or len(chunks) < 2:
        for chunk in chunks:
            claimed, loaded = _claim_and_load(runtime, chunk)
            if claimed and _finish(runtime, medium, claimed, _request(adapter, _build(runtime, claimed, loaded))) is not None:
                break  # bad credentials: hand nothing more over
        return
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix=f"pulse-{medium}") as requests:
        out: tuple[Future[list[SendResult]], list[Claimed]] | None = None
        try:
            for chunk in chunks:
                claimed, loaded = _claim_and_load(runtime, chunk)
                if not claimed:
                    continue
                started = requests.submit(_send_chunk, adapter, _build(runtime, claimed, loaded))  # a thread is free: it starts now
                previous, out = out, (started, claimed)
                if previous is not None and _finish(runtime, medium, previous[1], previous[0]) is not None:
                    break
        finally:
            if out is not None:  # its request started: wait for it and record what it says
                _finish(runtime, medium, out[1], out[0])


def _send_chunk(adapter: Channel, outgoing: list[OutgoingMessage]) -> list[SendResult]:
    with provider_request(adapter.name) as outcome:
        results = adapter.send(outgoing)
        outcome["outcome"] = count_results(adapter.name, results)
    return results


def _build(runtime: Runtime, claimed: list[Claimed], loaded: Loaded) -> list[OutgoingMessage]:
    """The chunk's messages; if that fails no request started, so the chunk goes back to ``queued``."""
    try:
        return _outgoing_chunk(runtime.settings, claimed, loaded)
    except BaseException:
        with runtime.sessions() as session:
            session.execute(update(Message).where(one_of(session, Message.id, [row.id for row in claimed]), Message.state == "sending").values(
                state="queued", attempts=Message.attempts - 1, claimed_at=None, claimed_by=None, enqueued_at=None))
            session.commit()
        raise


def _request(adapter: Channel, outgoing: list[OutgoingMessage]) -> Future[list[SendResult]]:
    """The request of one chunk, made in this thread (a finished future: one way to read it)."""
    done: Future[list[SendResult]] = Future()
    try:
        done.set_result(_send_chunk(adapter, outgoing))
    except BaseException as exc:  # noqa: BLE001 - carried to _finish, which marks the chunk unknown and re-raises it
        done.set_exception(exc)
    return done


def _finish(runtime: Runtime, medium: str, claimed: list[Claimed], request: Future[list[SendResult]]) -> ChannelError | None:
    """Record a request's results (``unknown`` for all it carried if the adapter raised, and
    re-raise); returns the error if the channel turned out misconfigured."""
    try:
        results = request.result()
    except BaseException:
        _mark_unknown(runtime, [row.id for row in claimed])
        log.exception("channel %s raised while sending", medium, extra={"message_ids": [row.id for row in claimed][:50]})
        raise
    return record_results(runtime, results, claimed)


def _mark_unknown(runtime: Runtime, ids: list[int]) -> None:
    """The adapter raised mid-call: what reached the provider is unknown."""
    with runtime.sessions() as session:
        session.execute(update(Message).where(one_of(session, Message.id, ids), Message.state == "sending").values(
            state="unknown", error_text="the channel failed while handing the message over; not resent"))
        session.commit()


def _reply_to(runtime: Runtime, session: Session, claimed: Sequence[Claimed]) -> dict[int, str]:
    """Reply-To for email thank-yous, which invite a reply: the follow-up's owner, else the configured address."""
    thanks = {row.episode_id: row.id for row in claimed if row.step == "thank_you" and row.medium == "email" and row.episode_id is not None}
    if not thanks:
        return {}
    owners = dict(session.execute(
        select(FollowUp.episode_id, TeamMember.email).join(TeamMember, TeamMember.id == FollowUp.owner_id)
        .where(FollowUp.episode_id.in_(list(thanks)))
    ).all())
    settings = runtime.settings
    fallback = settings.reply_to or (settings.support_contact if "@" in settings.support_contact else None)
    return {message_id: address for episode_id, message_id in thanks.items() if (address := owners.get(episode_id) or fallback)}


def _campaigns(session: Session, ids: set[int | None]) -> dict[int, Campaign]:
    """Campaigns by id, each loaded once (not joined onto every message row)."""
    wanted = {i for i in ids if i is not None}
    return {c.id: c for c in session.scalars(select(Campaign).where(Campaign.id.in_(wanted)))} if wanted else {}


def _contents(runtime: Runtime, session: Session, ids: set[int]) -> dict[int, MessageContent]:
    """Contents by id, loaded for each chunk: a chunk carries one content, so this is one small
    read per provider request (a cache across chunks would outlive a database whose ids restart)."""
    return {c.id: c for c in session.scalars(select(MessageContent).where(MessageContent.id.in_(ids)))} if ids else {}


def _outgoing_chunk(settings: Settings, claimed: list[Claimed], loaded: Loaded) -> list[OutgoingMessage]:
    build = _Builder(settings, loaded)
    return [build(row) for row in claimed]


class _Builder:
    """Each claimed row as an ``OutgoingMessage``; what rows of a chunk share (links' keys and
    expiries, categories, custom args) is worked out once."""

    def __init__(self, settings: Settings, loaded: Loaded) -> None:
        self.loaded = loaded
        self.links = RecipientValues(settings)
        self.labels: dict[tuple[int | None, str], tuple[tuple[str, ...], Mapping[str, str]]] = {}

    def _labels(self, campaign_id: int | None, step: str) -> tuple[tuple[str, ...], Mapping[str, str]]:
        found = self.labels.get((campaign_id, step))
        if found is None:
            categories = (f"campaign-{campaign_id}", f"step-{step}") if campaign_id is not None else (f"step-{step}",)
            # Shared by the chunk's messages; adapters read custom args, never change them.
            found = self.labels[(campaign_id, step)] = (categories, {"pulse_campaign_id": str(campaign_id)} if campaign_id is not None else {})
        return found

    def __call__(self, message: Claimed) -> OutgoingMessage:
        loaded = self.loaded
        content = loaded.contents.get(message.content_id) if message.content_id else None
        substitutions = dict(message.substitutions) if message.substitutions else {}
        if not substitutions and message.step in CONTACT_STEPS and message.public_id is not None:
            substitutions = self.links.values(public_id=message.public_id, name=message.contact_name, locale=message.locale,
                                              planned_at=message.created_at, step_id=message.step_id)
        headers: dict[str, str] = {}
        unsubscribe = substitutions.get("-pulse_unsubscribe_url-")
        if message.medium == "email" and unsubscribe and unsubscribe.startswith("https://"):
            headers = list_unsubscribe_headers(unsubscribe)
        categories, custom_args = self._labels(message.campaign_id, message.step)
        payload: dict[str, Any] = {}
        in_app = message.medium == "in_app"
        campaign = loaded.campaigns.get(message.campaign_id) if in_app and message.campaign_id else None
        if campaign is not None:
            payload = {"kind": campaign.kind, "answer_url": substitutions.get("-pulse_answer_url-")}
        return OutgoingMessage(
            message_id=str(message.id), channel=message.medium or "", to=message.recipient or "",
            subject=content.subject if content else None, text=content.text if content else "",
            html=content.html if content else None, substitutions=substitutions, headers=headers,
            categories=categories, custom_args=custom_args,
            expires_at=loaded.expiries.get(message.id) if in_app else None, payload=payload,
            reply_to=loaded.replies.get(message.id) if loaded.replies else None,
        )
