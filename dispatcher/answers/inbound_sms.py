"""The SMS conversation: a reply is a keyword, a score, or words; we answer in the thread.

    customer: 9                       → answer recorded; we ask the follow-up question
    customer: the onboarding was slow → kept as the comment; we thank (category thank-you)
    customer: also the app crashes    → added to the comment; "thank you for your comment"

A reply that is no score gets one clarifying message ("please reply with a
number from 0 to 10"); after that, words are kept as a comment and thanked.
STOP and its synonyms opt the number out of every Pulse SMS, START and its
synonyms opt it back in, HELP and INFO get the help text; none of them is ever
read as a score. Each ``MessageSid`` is handled once: Twilio's redelivery gets
the first answer again and changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, object_session

from campaigns.events import service
from campaigns.events.service import Conversation, OpenEpisode
from campaigns.events.sms_replies import keyword, normalize, read_score
from campaigns.followups.models import FollowUp
from campaigns.programs.kinds import kind_named
from campaigns.programs.models import Response
from dispatcher.answers.answering import accept_answer, accept_comment
from dispatcher.answers.provider_events import suppress_address
from dispatcher.loop.follow_ups import someone_is_told
from dispatcher.runtime.core import Runtime
from dispatcher.sending.contents import follow_up_question, locale_names, survey_context
from templates import (
    ConversationContext,
    TemplateKey,
    default_scale,
    recipient_values,
    resolve_language,
    thank_you_step,
)

DEFAULT_KIND = "nps"  # the conversation texts are shared by every kind; any key finds them


@dataclass(frozen=True)
class InboundSmsMessage:
    """The parts of Twilio's incoming-message webhook that Pulse uses."""

    message_sid: str
    sender: str  # From, E.164
    to: str | None
    body: str
    opt_out_type: str | None = None  # set when Twilio's Advanced Opt-Out already answered the keyword


@dataclass(frozen=True)
class SmsOutcome:
    reply: str | None  # the text to answer with; None: answer nothing
    response_id: int | None = None  # the answer this SMS recorded or commented: kick the worker after the commit


def receive_sms(runtime: Runtime, session: Session, sms: InboundSmsMessage, *, now: datetime) -> SmsOutcome:
    """Handle one incoming SMS: what to answer, and the answer it recorded if any.

    Idempotent per ``MessageSid`` (a redelivery gets the first reply and records
    nothing). Flushes, never commits: the caller commits before it answers Twilio.
    A score is five statements on PostgreSQL: the inbound row with the match (the
    episode's lock), the conversation's lock, the answer and its episode, then the
    outbox row, the conversation and the inbound row's outcome together (``note_reply``).
    """
    word = keyword(sms.body)
    if word is not None:
        inbound_id = service.log_inbound(session, message_sid=sms.message_sid, from_number=sms.sender, to_number=sms.to, body=sms.body, now=now)
        if inbound_id is None:
            return SmsOutcome(service.stored_reply(session, sms.message_sid))
        outcome, reply = _keyword(runtime, session, word, sms, now)
        if reply is not None and outcome == "help" and service.sms_opted_out(session, sms.sender):
            reply = None  # nothing but the opt-out confirmations may go to an opted-out number (below)
        service.note_reply(session, inbound_id, episode_id=None, outcome=outcome, reply=reply, now=now)
        return SmsOutcome(reply)
    logged = service.log_reply(session, message_sid=sms.message_sid, from_number=sms.sender, to_number=sms.to, body=sms.body, now=now)
    if logged is None:
        return SmsOutcome(service.stored_reply(session, sms.message_sid))
    inbound_id, match = logged
    if match is None:
        service.note_reply(session, inbound_id, episode_id=None, outcome="unmatched", reply=None, now=now)
        return SmsOutcome(None)
    # One lock order for every reply: the episode row, then its conversation. Any
    # write naming the episode first (the inbound row's foreign key takes a share
    # lock on it) would let two replies from one number deadlock against
    # ``accept_answer``, which locks the episode row while holding the conversation;
    # so the inbound row names its episode only at the end, with the outcome. The
    # episode's lock is taken by the query that found it.
    conversation = service.lock_conversation(session, episode_id=match.episode.id, phone=sms.sender, now=now)
    outbox: list[dict[str, Any]] = []  # the answer's outbox row, written with the outcome
    text = normalize(sms.body)
    if conversation.stage == "awaiting_score":
        outcome, reply = _awaiting_score(runtime, session, match, conversation, text, now, outbox)
    else:
        outcome, reply = _reply_after_score(runtime, session, match, conversation, text, now, outbox)
    if reply is not None and match.opted_out:
        # The answer is kept, but nothing but the opt-out confirmation may go to an
        # opted-out number (carriers refuse it: Twilio error 21610).
        reply = None
    session.flush()
    service.note_reply(session, inbound_id, episode_id=match.episode.id, outcome=outcome, reply=reply, conversation=conversation,
                       outbox=outbox[0] if outbox else None, now=now)  # after the episode's lock
    # A score sets off the follow-through; a comment updates the answer (its response.updated webhook).
    return SmsOutcome(reply, conversation.response_id if outbox else None)


def _reply_after_score(
    runtime: Runtime, session: Session, match: OpenEpisode, conversation: Conversation, text: str, now: datetime, outbox: list[dict[str, Any]],
) -> tuple[str, str | None]:
    """Words after the score: the comment (then the thank-you), later more of it."""
    if not text:
        return "ignored", None
    response = session.get(Response, conversation.response_id) if conversation.response_id else None
    if response is not None:
        accept_comment(runtime, session, response=response, text=text, now=now, outbox=outbox)
    else:
        conversation.pending_comment = service.append_text(conversation.pending_comment, text)
    if conversation.stage == "awaiting_comment" and response is not None:
        conversation.stage = "complete"
        return "comment", _thank(runtime, match, response, now)
    return "comment", _say(runtime, session, "thanks_comment", match.campaign.kind, match.contact.locale)


def _awaiting_score(
    runtime: Runtime, session: Session, match: OpenEpisode, conversation: Conversation, text: str, now: datetime, outbox: list[dict[str, Any]],
) -> tuple[str, str | None]:
    kind = kind_named(match.campaign.kind)
    reply = read_score(text, kind.low, kind.high)
    locale = match.contact.locale
    if reply is not None:
        comment = "\n".join(part for part in (conversation.pending_comment, reply.comment) if part) or None
        response = accept_answer(runtime, session, episode=match.episode, score=reply.score, comment=comment, medium="sms", now=now,
                                 credit=True, message_id=match.message_id, locked=True, outbox=outbox)
        conversation.stage, conversation.response_id, conversation.pending_comment = "awaiting_comment", response.id, None
        # Only the question is read: the whole survey context (deadline, plan, time zones) costs more than the reply.
        return "score", _say(runtime, session, "follow_up_question", kind.name, locale, follow_up=follow_up_question(match.campaign, locale))
    if not text:
        return "ignored", None
    conversation.pending_comment = service.append_text(conversation.pending_comment, text)
    if not conversation.clarified:
        conversation.clarified = True
        return "clarify", _say(runtime, session, "clarify", kind.name, locale, with_scale=True)
    return "comment", _say(runtime, session, "thanks_comment", kind.name, locale)


def _keyword(runtime: Runtime, session: Session, word: str, sms: InboundSmsMessage, now: datetime) -> tuple[str, str | None]:
    contact = service.contact_for_phone(session, sms.sender)
    locale = contact.locale if contact is not None else "en"
    # With Advanced Opt-Out, Twilio has already answered the keyword itself.
    answer = sms.opt_out_type is None
    if word == "stop":
        source = f"sms reply {normalize(sms.body).upper()[:20]} ({sms.message_sid})"
        suppress_address(runtime, session, medium="sms", address=sms.sender, reason="opted_out", source=source, now=now)
        return "opted_out", _say(runtime, session, "opted_out", DEFAULT_KIND, locale) if answer else None
    if word == "start":
        service.lift_suppression(session, medium="sms", address=sms.sender, reasons=("opted_out",))
        return "opted_in", _say(runtime, session, "opted_in", DEFAULT_KIND, locale) if answer else None
    return "help", _say(runtime, session, "help", DEFAULT_KIND, locale) if answer else None


def _say(runtime: Runtime, session: Session, step: str, kind: str, locale: str, *, follow_up: str | None = None, with_scale: bool = False) -> str:
    key = TemplateKey("sms", kind, step, locale)
    # The studio's names for the locale only if the text shows them (the follow-up question does not);
    # read on the reply's own connection, as it may hold locks.
    used = runtime.renderer.names_used(key)
    names = locale_names(session if used is None or not used.isdisjoint(_LOCALE_NAMES) else None, runtime.settings, locale)
    context = ConversationContext(
        company_name=names.company_name, support_contact=names.support_contact,
        scale=default_scale(kind, resolve_language(locale)) if with_scale else None, follow_up_question=follow_up,
    )
    return runtime.renderer.render(key, context).text


_LOCALE_NAMES = frozenset({"company_name", "support_contact"})


def _thank(runtime: Runtime, match: OpenEpisode, response: Response, now: datetime) -> str:
    """The category's thank-you, in the thread; the episode counts as thanked (no thank-you SMS follows)."""
    contact, episode = match.contact, match.episode
    owner = contact.account.owner if contact.account is not None else None
    step = thank_you_step(response.category)
    recipient = recipient_values({"first_name": (contact.name or "").split(" ")[0], "name": contact.name or ""}, locale=contact.locale)
    session = object_session(response)
    names = locale_names(session, runtime.settings, contact.locale)  # on the reply's own connection: it holds locks
    follow_up = session.scalar(select(FollowUp).where(FollowUp.episode_id == episode.id)) if session is not None else None
    promised = follow_up is not None and someone_is_told(runtime, session, campaign=match.campaign, follow_up=follow_up)  # type: ignore[arg-type]
    context = survey_context(match.campaign, runtime.settings, template_step=step, locale=contact.locale, recipient=recipient,
                             owner_name=owner.name if owner else None, names=names, follow_up_promised=promised)
    if episode.thanked_at is None:
        episode.thanked_at = now
    if episode.state == "answered":
        episode.state = "thanked"
    return runtime.renderer.render(TemplateKey("sms", match.campaign.kind, step, contact.locale), context).text
