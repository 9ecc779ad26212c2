"""Handing planned messages to their channels, exactly once.

1. Claim: ``queued``/``retrying`` → ``sending`` with a conditional UPDATE,
   committed before any provider is called. Two workers never claim one row.
2. Before each chunk goes out, look again: a message whose campaign paused
   goes back to ``queued``; one whose address was suppressed, whose contact
   was erased, or whose campaign was cancelled or closed is skipped (its
   budget released). The chunk's claim is stamped anew, so the timeout below
   measures one provider call, not a long SMS batch.
3. Send through the medium's adapter and record the results (``outcomes``).

A worker that dies between sending and recording leaves ``sending`` rows; the
scheduler reports them as ``unknown`` after a timeout and never resends them.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from campaigns.followups.models import FollowUp
from campaigns.people.models import Contact, TeamMember
from campaigns.programs.models import Campaign, Message, MessageContent
from campaigns.programs.reach import suppressed_addresses
from campaigns.programs.window import SendingWindow
from channels.base import OutgoingMessage
from channels.email_headers import list_unsubscribe_headers
from dispatcher.clock import utcnow
from dispatcher.metrics import count_results, provider_request
from dispatcher.outcomes import record_results
from dispatcher.prompts import prompt_expiries
from dispatcher.runtime import Runtime

log = logging.getLogger(__name__)

CONTACT_STEPS = ("pre_notice", "invite", "reminder", "thank_you", "you_said_we_did")
AT_CLOSE = ("thank_you", "summary", "you_said_we_did")


@dataclass(frozen=True)
class Verdict:
    action: str  # send, wait (paused), defer (window shut), skip
    rule: str | None = None
    reason: str | None = None
    opens: datetime | None = None


SEND = Verdict("send")


def _verdicts(session: Session, messages: Sequence[Message], now: datetime) -> dict[int, Verdict]:
    """What to do with each message now (the same questions at claim and before each chunk)."""
    contacts = {c.id: c for c in session.scalars(select(Contact).where(Contact.id.in_({m.contact_id for m in messages if m.contact_id})))}
    campaigns = _campaigns(session, messages)
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
    # Transactional sends chose at request time whether sending hours apply (not_before says when).
    if message.step in CONTACT_STEPS and campaign.mode != "transactional" and contact is not None:
        opens = windows[campaign.id].next_open(now, contact.timezone)
        if opens > now:  # the window closed since it was planned: wait for the next one
            return Verdict("defer", opens=opens)
    return SEND


def _apply(runtime: Runtime, session: Session, messages: Sequence[Message], verdicts: dict[int, Verdict], states: tuple[str, ...], now: datetime) -> list[int]:
    """Carry out every verdict but ``send``; returns the ids still to send."""
    skipped: dict[tuple[str, str], list[int]] = defaultdict(list)
    unclaim: list[int] = []
    for message in messages:
        verdict = verdicts[message.id]
        if verdict.action == "skip":
            skipped[(verdict.rule or "", verdict.reason or "")].append(message.id)
        elif verdict.action == "defer":
            session.execute(update(Message).where(Message.id == message.id, Message.state.in_(states))
                            .values(state="queued", not_before=verdict.opens, enqueued_at=None, claimed_at=None))
            if message.state == "sending":
                session.execute(update(Message).where(Message.id == message.id).values(attempts=Message.attempts - 1))
        elif verdict.action == "wait" and message.state == "sending":
            unclaim.append(message.id)
    for (rule, reason), ids in skipped.items():
        keys = list(session.scalars(
            update(Message).where(Message.id.in_(ids), Message.state.in_(states))
            .values(state="skipped", skip_rule=rule, skip_reason=reason, updated_at=now).returning(Message.idempotency_key)
        ))
        if keys:
            runtime.budget.settle(session, message_keys=keys, sent=False, now=now)
    _unclaim(session, unclaim)
    return [m.id for m in messages if verdicts[m.id].action == "send"]


def claim(runtime: Runtime, message_ids: Sequence[int]) -> list[int]:
    """Move due messages that should go now to ``sending``; the rest wait, defer or are
    skipped (see ``_verdict``). Commits before anything reaches a channel."""
    now = runtime.clock.now()
    waiting = ("queued", "retrying")
    with runtime.sessions() as session:
        messages = list(session.scalars(
            select(Message).where(Message.id.in_(message_ids), Message.state.in_(waiting), Message.not_before <= now)
        ))
        ready = _apply(runtime, session, messages, _verdicts(session, messages, now), waiting, now)
        claimed = list(session.scalars(
            update(Message).where(Message.id.in_(ready), Message.state.in_(waiting))
            .values(state="sending", claimed_at=utcnow(), attempts=Message.attempts + 1, updated_at=now)
            .returning(Message.id)
        )) if ready else []
        session.commit()
    return claimed


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
    """Send claimed messages chunk by chunk. Whatever raises, nothing claimed is stranded:
    chunks never handed over go back to ``queued``; a chunk whose hand-off raised is ``unknown``."""
    done = 0
    in_flight: list[int] = []
    try:
        adapter = runtime.channels.for_medium(medium)
        size = max(1, adapter.max_batch)
        while done < len(ids):
            chunk = ids[done:done + size]
            outgoing = _prepare_chunk(runtime, chunk)
            done += len(chunk)
            if not outgoing:
                continue
            in_flight = [int(m.message_id) for m in outgoing]
            with provider_request(adapter.name) as outcome:
                results = adapter.send(outgoing)
                outcome["outcome"] = count_results(adapter.name, results)
            in_flight = []
            if record_results(runtime, results) is not None:  # bad credentials: hand nothing more over
                break
    finally:
        with runtime.sessions() as session:
            if in_flight:  # the adapter raised mid-call: what reached the provider is unknown
                session.execute(update(Message).where(Message.id.in_(in_flight), Message.state == "sending").values(
                    state="unknown", error_text="the channel failed while handing the message over; not resent"))
                log.exception("channel %s raised while sending", medium, extra={"message_ids": in_flight[:50]})
            _unclaim(session, ids[done:])
            session.commit()


def _prepare_chunk(runtime: Runtime, chunk: list[int]) -> list[OutgoingMessage]:
    """Look again at a claimed chunk just before it goes, re-stamp its claim, build its messages."""
    now = runtime.clock.now()
    with runtime.sessions() as session:
        messages = list(session.scalars(select(Message).where(Message.id.in_(chunk), Message.state == "sending").order_by(Message.id)))
        ready = set(_apply(runtime, session, messages, _verdicts(session, messages, now), ("sending",), now))
        if ready:
            session.execute(update(Message).where(Message.id.in_(ready), Message.state == "sending").values(claimed_at=utcnow()))
        session.commit()
        loaded = _load(session, sorted(ready))
        expiries = prompt_expiries(session, [m for m, _, _ in loaded], {c.id: c for _, _, c in loaded if c is not None}, now)
        replies = _reply_to(runtime, session, [message for message, _, _ in loaded])
        return [
            replace(_outgoing(runtime, message, content, campaign, expiries.get(message.id)), reply_to=replies.get(message.id))
            for message, content, campaign in loaded
        ]


def _reply_to(runtime: Runtime, session: Session, messages: Sequence[Message]) -> dict[int, str]:
    """Reply-To for email thank-yous, which invite a reply: the follow-up's owner, else the configured address."""
    thanks = {m.episode_id: m.id for m in messages if m.step == "thank_you" and m.medium == "email" and m.episode_id is not None}
    if not thanks:
        return {}
    owners = dict(session.execute(
        select(FollowUp.episode_id, TeamMember.email).join(TeamMember, TeamMember.id == FollowUp.owner_id)
        .where(FollowUp.episode_id.in_(list(thanks)))
    ).all())
    settings = runtime.settings
    fallback = settings.reply_to or (settings.support_contact if "@" in settings.support_contact else None)
    return {message_id: address for episode_id, message_id in thanks.items() if (address := owners.get(episode_id) or fallback)}


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


def _outgoing(runtime: Runtime, message: Message, content: MessageContent | None, campaign: Campaign | None, prompt_ends: datetime | None) -> OutgoingMessage:
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
        expires_at=prompt_ends if message.medium == "in_app" else None, payload=payload,
    )

