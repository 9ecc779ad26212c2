"""Survey and unsubscribe links: from a token to its episode, and what a click may do.

A link carries a signed, expiring token (``dispatcher.answers.tokens``) whose subject
is the episode's random public id. This module reads it, describes the survey
as the contact sees it (question, scale and follow-up in their language),
records an answer or an unsubscribe, and issues the *form ticket* that tells a
person's answer from a mail scanner's:

- GET never records: scanners (Safe Links, Proofpoint, Mimecast) fetch every link.
- Some scanners render the page and run its JavaScript, even submitting forms.
  So the answer form carries a ticket signed with the episode and the wall time
  it was issued, and a POST records only when (a) the ticket is at least
  ``MIN_DWELL`` old — scanners submit at once — and (b) it carries ``human``, a
  proof the page's script copies into the form only after a *trusted* pointer
  or key event (``event.isTrusted``: a real click, tap or key press, never
  ``form.submit()``, ``requestSubmit()`` or ``element.click()`` from a script).
  A POST without both gets the form back with "press Send to confirm".
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from campaigns.events.service import REACHED_STATES
from campaigns.people.models import Contact
from campaigns.programs.answers import ANSWERABLE_BEFORE
from campaigns.programs.kinds import DEFAULT_FOLLOW_UP
from campaigns.programs.models import Campaign, Episode, Message, Response, Suppression
from dispatcher.answers.answering import accept_answer
from dispatcher.answers.provider_events import mark_answered
from dispatcher.answers.tokens import BadToken, read_token
from dispatcher.runtime.clock import utcnow
from dispatcher.runtime.core import Runtime
from dispatcher.sending.contents import STEP_MARK, close_date, localized
from dispatcher.sending.outcomes import suppress
from templates import (
    Scale,
    default_follow_up_question,
    default_question,
    default_scale,
    fill_recipient_text,
    resolve_language,
)

MIN_DWELL = timedelta(seconds=2)  # scanners submit at once; a person reads first
TICKET_MAX_AGE = timedelta(hours=24)  # a page left open longer asks to confirm again
COMMENT_MAX = 5000
ASKS = ("invite", "reminder")  # the messages that ask the question


@dataclass(frozen=True)
class SurveyView:
    """One episode's survey as its contact sees it, in their language."""

    lang: str
    company_name: str
    kind: str
    question: str
    follow_up_question: str
    scale: Scale
    deadline: str  # ISO date
    answerable: bool
    current_score: int | None
    current_comment: str | None


def episode_for_link(runtime: Runtime, session: Session, token: str, *, purpose: str, now: datetime, lock: bool = False) -> Episode:
    """The episode a valid token names; ``lock`` holds its row until commit (answers in one
    episode are then written one after the other). Raises ``BadToken`` — one error for a
    malformed, tampered, expired or unknown token, so the page cannot tell them apart."""
    subject = read_token(_secret(runtime), token, purpose=purpose, now=now).split(STEP_MARK)[0]
    # An erased contact's links die with their data: nothing new may attach to them.
    query = select(Episode).join(Contact, Contact.id == Episode.contact_id).where(Episode.public_id == subject, Contact.erased_at.is_(None))
    if lock:
        query = query.with_for_update(of=Episode)
    episode = session.scalar(query)
    if episode is None:
        raise BadToken("unknown")
    return episode


def survey_view(runtime: Runtime, session: Session, episode: Episode) -> SurveyView:
    campaign = session.get(Campaign, episode.campaign_id)
    contact = session.get(Contact, episode.contact_id)
    assert campaign is not None and contact is not None
    return view_for(runtime, session, episode, campaign, contact)


def view_for(runtime: Runtime, session: Session, episode: Episode, campaign: Campaign, contact: Contact) -> SurveyView:
    """What the contact is asked, in their language; placeholders a question quotes are filled with their name."""
    settings = runtime.settings
    locale = contact.locale
    name = contact.name or ""
    mine = {"first_name": name.split()[0] if name.strip() else "", "name": name}
    lang = resolve_language(locale)
    current = session.scalar(select(Response).where(Response.episode_id == episode.id, Response.current.is_(True)))
    survey = campaign.survey or {}
    return SurveyView(
        lang=lang, company_name=settings.company_name, kind=campaign.kind,
        question=fill_recipient_text(localized(survey.get("question") or {}, locale) or default_question(campaign.kind, lang, company_name=settings.company_name), mine, locale=locale),
        follow_up_question=fill_recipient_text(_follow_up(survey, locale, lang), mine, locale=locale),
        scale=default_scale(campaign.kind, lang), deadline=close_date(campaign).isoformat(),
        answerable=episode.state in ANSWERABLE_BEFORE,
        current_score=current.score if current else None, current_comment=current.comment if current else None,
    )


def _follow_up(survey: dict[str, Any], locale: str, lang: str) -> str:
    """The campaign's follow-up question; a spec that set none stores the English default,
    which other languages read in their own words."""
    text = localized(survey.get("follow_up_question") or {}, locale)
    if text is None or (text == DEFAULT_FOLLOW_UP and lang != "en"):
        return default_follow_up_question(lang)
    return text


def link_step_id(runtime: Runtime, token: str, *, now: datetime) -> int | None:
    """The plan step a (valid) survey link was sent in, if it names one."""
    try:
        subject = read_token(_secret(runtime), token, purpose="answer", now=now)
    except BadToken:
        return None
    step = subject.partition(STEP_MARK)[2]
    return int(step) if step.isdigit() else None


def answered_message(session: Session, episode: Episode, step_id: int | None) -> tuple[int, str] | None:
    """The message (id, medium) an answer by link is credited to: the one whose link was used;
    for a link that names no step, the episode's latest survey message that went out."""
    query = select(Message.id, Message.medium).where(Message.episode_id == episode.id, Message.state.in_(REACHED_STATES), Message.medium.is_not(None))
    if step_id is not None:
        found = session.execute(query.where(Message.step_id == step_id).limit(1)).first()
        if found is not None:
            return found[0], str(found[1])
    found = session.execute(query.where(Message.step.in_(ASKS)).order_by(Message.created_at.desc(), Message.id.desc()).limit(1)).first()
    return (found[0], str(found[1])) if found is not None else None


def answer_by_link(runtime: Runtime, session: Session, *, episode: Episode, score: int, comment: str | None, now: datetime, step_id: int | None = None) -> Response:
    """Record the answer (a later one replaces it, history kept), credited to the message whose
    link was used (its medium, its ``answered`` count). Flushes; the caller commits.
    Raises ``FieldError`` for a score outside the scale or an episode that takes no answers."""
    message = answered_message(session, episode, step_id)
    medium = message[1] if message is not None else (episode.channel or "email")
    response = accept_answer(runtime, session, episode=episode, score=score, comment=comment, medium=medium, now=now)
    if message is not None:
        mark_answered(session, episode_id=episode.id, medium=medium, message_id=message[0], now=now, half_life_days=runtime.settings.channel_half_life_days)
    return response


def _link_addresses(session: Session, episode: Episode) -> list[str]:
    """The addresses an unsubscribe link speaks for: where the episode's emails went, else the contact's."""
    addresses = sorted({address for address in session.scalars(
        select(Message.recipient).where(Message.episode_id == episode.id, Message.medium == "email")
    ) if address})
    if not addresses:
        contact = session.get(Contact, episode.contact_id)
        addresses = [contact.email] if contact is not None and contact.email else []
    return addresses


def link_unsubscribed(session: Session, *, episode: Episode) -> bool:
    """Whether every address the episode's unsubscribe link speaks for is already suppressed."""
    addresses = _link_addresses(session, episode)
    if not addresses:
        return False
    suppressed = set(session.scalars(select(Suppression.address).where(Suppression.medium == "email", Suppression.address.in_(addresses))))
    return suppressed >= set(addresses)


def unsubscribe_by_link(runtime: Runtime, session: Session, *, episode: Episode, source: str, now: datetime) -> list[str]:
    """Suppress email to the addresses this episode's emails went to (the contact's address
    if none was sent yet). Idempotent; flushes, the caller commits. The addresses suppressed."""
    addresses = _link_addresses(session, episode)
    for address in addresses:
        suppress(session, medium="email", address=address, reason="unsubscribed", source=source, now=now)
    session.flush()
    return addresses


# --- the form ticket ---------------------------------------------------------------


def form_ticket(runtime: Runtime, public_id: str, *, issued_at: datetime | None = None) -> str:
    """A ticket for one answer form: the wall time it was issued, signed with the episode."""
    stamp = str(int((issued_at or utcnow()).timestamp() * 1000))
    return f"{stamp}.{_mac(runtime, 'form-ticket', public_id, stamp)}"


def human_proof(runtime: Runtime, ticket: str) -> str:
    """What the page's script puts in ``human`` after a trusted interaction."""
    return _mac(runtime, "human", ticket)


def ticket_accepted(runtime: Runtime, public_id: str, *, ticket: str | None, human: str | None, now: datetime | None = None) -> bool:
    """Whether a POST came from a person who read the form: a ticket for this episode,
    issued ``MIN_DWELL`` to ``TICKET_MAX_AGE`` ago, and the interaction proof."""
    if not ticket or not human or ticket.count(".") != 1:
        return False
    stamp, signature = ticket.split(".")
    if not stamp.isdigit() or not hmac.compare_digest(signature, _mac(runtime, "form-ticket", public_id, stamp)):
        return False
    if not hmac.compare_digest(human, human_proof(runtime, ticket)):
        return False
    age = (now or utcnow()) - datetime.fromtimestamp(int(stamp) / 1000, tz=UTC)
    return MIN_DWELL <= age <= TICKET_MAX_AGE


def _secret(runtime: Runtime) -> str:
    return runtime.settings.secret_key.get_secret_value()


def _mac(runtime: Runtime, purpose: str, *parts: str) -> str:
    digest = hmac.new(_secret(runtime).encode(), ":".join((purpose, *parts)).encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode()[:27]
