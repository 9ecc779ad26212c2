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

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session, object_session

from campaigns.events import service
from campaigns.events.models import SmsConversation
from campaigns.events.service import OpenEpisode
from campaigns.events.sms_replies import keyword, normalize, read_score
from campaigns.followups.models import FollowUp
from campaigns.programs.kinds import kind_named
from campaigns.programs.models import Response, Suppression
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
    """
    inbound_id = service.log_inbound(session, message_sid=sms.message_sid, from_number=sms.sender, to_number=sms.to, body=sms.body, now=now)
    if inbound_id is None:
        return SmsOutcome(service.stored_reply(session, sms.message_sid))
    outcome, reply, response_id, episode_id, opted_out = _respond(runtime, session, sms, now)
    if reply is not None and outcome not in ("opted_out", "opted_in") and (opted_out if opted_out is not None else _opted_out(session, sms.sender)):
        # The answer is kept, but nothing but the opt-out confirmation may go to an
        # opted-out number (carriers refuse it: Twilio error 21610).
        reply = None
    session.flush()
    service.note_inbound_outcome(session, inbound_id, episode_id=episode_id, outcome=outcome, reply=reply)  # after the episode's lock
    return SmsOutcome(reply, response_id)


def _opted_out(session: Session, phone: str) -> bool:
    return session.scalar(_SMS_SUPPRESSED, {"phone": phone}) is not None


_SMS_SUPPRESSED = select(Suppression.id).where(Suppression.medium == "sms", Suppression.address == bindparam("phone")).limit(1)


def _respond(runtime: Runtime, session: Session, sms: InboundSmsMessage, now: datetime) -> tuple[str, str | None, int | None, int | None, bool | None]:
    """(outcome, reply, the answer to follow through if any, the episode replied to if any,
    whether the number is opted out if the match read it already)."""
    word = keyword(sms.body)
    if word is not None:
        return (*_keyword(runtime, session, word, sms, now), None, None, None)
    match = service.find_open_sms_episode(session, sms.sender)
    if match is None:
        return "unmatched", None, None, None, None
    # One lock order for every reply: the episode row, then its conversation. Any
    # write naming the episode first (the inbound row's foreign key takes a share
    # lock on it) would let two replies from one number deadlock against
    # ``accept_answer``, which locks the episode row while holding the conversation;
    # so the inbound row names its episode only at the end, with the outcome. The
    # episode's lock is taken by the query that found it.
    conversation = service.lock_conversation(session, episode_id=match.episode.id, phone=sms.sender, now=now)
    text = normalize(sms.body)
    if conversation.stage == "awaiting_score":
        outcome, reply = _awaiting_score(runtime, session, match, conversation, text, now)
        return outcome, reply, conversation.response_id if outcome == "score" else None, match.episode.id, match.opted_out
    outcome, reply = _reply_after_score(runtime, session, match, conversation, text, now)
    # A comment updates the answer: its response.updated webhook goes out after the commit.
    return outcome, reply, conversation.response_id if outcome == "comment" else None, match.episode.id, match.opted_out


def _reply_after_score(runtime: Runtime, session: Session, match: OpenEpisode, conversation: SmsConversation, text: str, now: datetime) -> tuple[str, str | None]:
    """Words after the score: the comment (then the thank-you), later more of it."""
    if not text:
        return "ignored", None
    response = session.get(Response, conversation.response_id) if conversation.response_id else None
    if response is not None:
        accept_comment(runtime, session, response=response, text=text, now=now)
    else:
        conversation.pending_comment = service.append_text(conversation.pending_comment, text)
    if conversation.stage == "awaiting_comment" and response is not None:
        conversation.stage = "complete"
        return "comment", _thank(runtime, match, response, now)
    return "comment", _say(runtime, session, "thanks_comment", match.campaign.kind, match.contact.locale)


def _awaiting_score(runtime: Runtime, session: Session, match: OpenEpisode, conversation: SmsConversation, text: str, now: datetime) -> tuple[str, str | None]:
    kind = kind_named(match.campaign.kind)
    reply = read_score(text, kind.low, kind.high)
    locale = match.contact.locale
    if reply is not None:
        comment = "\n".join(part for part in (conversation.pending_comment, reply.comment) if part) or None
        response = accept_answer(runtime, session, episode=match.episode, score=reply.score, comment=comment, medium="sms", now=now,
                                 credit=True, message_id=match.message_id, locked=True)
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
    names = locale_names(session, runtime.settings, locale)  # on the reply's own connection: it may hold locks
    context = ConversationContext(
        company_name=names.company_name, support_contact=names.support_contact,
        scale=default_scale(kind, resolve_language(locale)) if with_scale else None, follow_up_question=follow_up,
    )
    return runtime.renderer.render(TemplateKey("sms", kind, step, locale), context).text


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
