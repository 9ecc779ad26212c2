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
from functools import cache
from typing import Any

from sqlalchemy import and_, bindparam, case, select
from sqlalchemy.orm import Session, lazyload

from campaigns.events.service import REACHED_STATES
from campaigns.people.models import Contact
from campaigns.programs.answers import ANSWERABLE_BEFORE
from campaigns.programs.kinds import DEFAULT_FOLLOW_UP
from campaigns.programs.models import Campaign, Episode, Message, Response, Suppression
from dispatcher.answers.answering import accept_answer
from dispatcher.answers.tokens import BadToken, read_token, signatures_match
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


@dataclass(frozen=True)
class AnswerTarget:
    """What answering by link needs, read in one statement: the episode (locked), its campaign
    and contact, the current answer, and the message the answer is credited to."""

    episode: Episode
    campaign: Campaign
    contact: Contact
    current: Response | None
    message_id: int | None
    medium: str | None  # the credited message's medium


def target_for_link(runtime: Runtime, session: Session, token: str, *, now: datetime) -> AnswerTarget:
    """The episode a valid answer token names, locked until commit, with all ``answer_by_link``
    needs (one statement). Raises ``BadToken`` like ``episode_for_link``."""
    subject, _, step = read_token(_secret(runtime), token, purpose="answer", now=now).partition(STEP_MARK)
    step_id = int(step) if step.isdigit() else None
    params: dict[str, Any] = {"subject": subject} if step_id is None else {"subject": subject, "step_id": step_id}
    found = session.execute(_target_query(step_id is not None), params).first()
    if found is None:
        raise BadToken("unknown")
    return AnswerTarget(*found)


@cache
def _target_query(by_step: bool) -> Any:
    """``target_for_link``'s statement, built once per process (building and keying it cost
    more CPU than the rest of an answer's statements; the values are bound per request)."""
    credited = _credited_message(bindparam("step_id") if by_step else None)
    return (
        select(Episode, Campaign, Contact, Response, credited.with_only_columns(Message.id).scalar_subquery(),
               credited.with_only_columns(Message.medium).scalar_subquery())
        .join(Contact, Contact.id == Episode.contact_id).join(Campaign, Campaign.id == Episode.campaign_id)
        .outerjoin(Response, and_(Response.episode_id == Episode.id, Response.current.is_(True)))
        .where(Episode.public_id == bindparam("subject"), Contact.erased_at.is_(None))
        .options(lazyload(Contact.account))  # not needed to answer: no join to accounts and owners, no nested row loaders
        .with_for_update(of=Episode)
    )


def _credited_message(step_id: Any) -> Any:
    """SQL, correlated to the episode: the message an answer by link is credited to — the one whose
    link was used (``step_id``, a value or a bound parameter); for a link that names no step (or a
    step with no message that went out), the episode's latest survey message that went out."""
    query = (
        select(Message.id).where(Message.episode_id == Episode.id, Message.state.in_(REACHED_STATES), Message.medium.is_not(None))
        .correlate(Episode).limit(1)
    )
    if step_id is None:
        return query.where(Message.step.in_(ASKS)).order_by(Message.created_at.desc(), Message.id.desc())
    mine = case((Message.step_id == step_id, 0), else_=1)
    return query.where((Message.step_id == step_id) | Message.step.in_(ASKS)).order_by(mine, Message.created_at.desc(), Message.id.desc())


def survey_view(runtime: Runtime, session: Session, episode: Episode) -> SurveyView:
    campaign = session.get(Campaign, episode.campaign_id)
    contact = session.get(Contact, episode.contact_id)
    assert campaign is not None and contact is not None
    return view_for(runtime, session, episode, campaign, contact)


def view_for(runtime: Runtime, session: Session, episode: Episode, campaign: Campaign, contact: Contact, *, current: Response | None | bool = True) -> SurveyView:
    """What the contact is asked, in their language; placeholders a question quotes are filled with their name.
    ``current``: the episode's current answer if the caller has it (None: none); True: read it."""
    settings = runtime.settings
    locale = contact.locale
    name = contact.name or ""
    mine = {"first_name": name.split()[0] if name.strip() else "", "name": name}
    lang = resolve_language(locale)
    if current is True:
        current = session.scalar(select(Response).where(Response.episode_id == episode.id, Response.current.is_(True)))
    assert current is None or isinstance(current, Response)
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


def answer_by_link(runtime: Runtime, session: Session, *, target: AnswerTarget, score: int, comment: str | None, now: datetime) -> Response:
    """Record the answer (a later one replaces it, history kept), credited to the message whose
    link was used (its medium; the worker counts it ``answered``). Flushes; the caller commits
    and kicks. Raises ``FieldError`` for a score outside the scale or an episode that takes no answers."""
    medium = target.medium or target.episode.channel or "email"
    return accept_answer(runtime, session, episode=target.episode, score=score, comment=comment, medium=medium, now=now,
                         credit=target.message_id is not None, message_id=target.message_id, locked=True)


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
    if not stamp.isdigit() or not signatures_match(signature, _mac(runtime, "form-ticket", public_id, stamp)):
        return False
    if not signatures_match(human, human_proof(runtime, ticket)):
        return False
    age = (now or utcnow()) - datetime.fromtimestamp(int(stamp) / 1000, tz=UTC)
    return MIN_DWELL <= age <= TICKET_MAX_AGE


def _secret(runtime: Runtime) -> str:
    return runtime.settings.secret_key.get_secret_value()


def _mac(runtime: Runtime, purpose: str, *parts: str) -> str:
    digest = hmac.new(_secret(runtime).encode(), ":".join((purpose, *parts)).encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode()[:27]
