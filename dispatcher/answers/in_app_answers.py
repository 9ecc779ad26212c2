"""In-app prompts as the product's front end sees them: find the pending one, answer, dismiss.

The product's server signs each contact's external id with the workspace's
in-app secret (``identity_signature``); the widget sends that signature with
every request, so a page can only read and answer its own user's prompts. A
prompt's id is its episode's random public id and the prompt's own number
(``<public id>~<n>``): each step's prompt has its own id, and an answer or a
dismissal is credited to that prompt's message. A bare public id (older
widgets) means the episode's newest prompt.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from campaigns.db import id_in
from campaigns.people.models import Contact
from campaigns.programs.models import Campaign, Episode, InAppPrompt, Message, Response
from dispatcher.answers.answering import accept_answer
from dispatcher.answers.links import SurveyView, view_for
from dispatcher.answers.provider_events import mark_dismissed, mark_shown
from dispatcher.answers.tokens import signatures_match
from dispatcher.runtime.core import Runtime
from dispatcher.runtime.settings import Settings
from dispatcher.sending.budget import Touch
from templates import resolve_language

SURVEY_STEPS = ("invite", "reminder")  # prompts that ask the question; the others are notices


class PromptNotFound(LookupError):
    """No such prompt for this contact, or it has expired."""


PROMPT_MARK = "~"


@dataclass(frozen=True)
class PromptView:
    prompt_id: str  # <episode public id>~<prompt number>
    message_id: int
    type: Literal["survey", "notice"]
    step: str
    text: str
    created_at: datetime
    expires_at: datetime
    survey: SurveyView


def identity_signature(secret: str, external_id: str) -> str:
    """HMAC-SHA256 of the contact's external id with the in-app secret, lowercase hex."""
    return hmac.new(secret.encode(), external_id.encode(), hashlib.sha256).hexdigest()


def identity_valid(settings: Settings, *, external_id: str, signature: str) -> bool:
    if settings.in_app_secret is None:
        return False
    expected = identity_signature(settings.in_app_secret.get_secret_value(), external_id)
    return signatures_match(signature.strip().lower(), expected)


def pending_prompt(runtime: Runtime, session: Session, *, external_id: str) -> PromptView | None:
    """The prompt to show now: an unanswered survey first, else the newest notice.

    Showing it is a signal for channel choice: its message moves to ``opened``
    once (``mark_shown``). Flushes; the caller commits."""
    now = runtime.clock.now()
    rows = session.execute(
        select(InAppPrompt, Message.step, Episode, Campaign, Contact)
        .join(Message, Message.id == InAppPrompt.message_id)
        .join(Episode, Episode.id == Message.episode_id)
        .join(Campaign, Campaign.id == Episode.campaign_id)
        .join(Contact, Contact.id == Episode.contact_id)
        .where(
            InAppPrompt.contact_external_id == external_id, InAppPrompt.status == "pending", InAppPrompt.expires_at > now,
            Contact.external_id == external_id, Contact.erased_at.is_(None), Campaign.status != "cancelled",
        )
        .order_by(InAppPrompt.created_at.desc(), InAppPrompt.id.desc())
    ).all()
    surveys = [r for r in rows if r[1] in SURVEY_STEPS and r[2].answered_at is None and r[2].state not in ("cancelled", "excluded")]
    notices = [r for r in rows if r[1] not in SURVEY_STEPS]
    if not surveys and not notices:
        return None
    prompt, step, episode, campaign, contact = (surveys or notices)[0]
    assert prompt.message_id is not None  # joined on it
    mark_shown(session, message_id=prompt.message_id, now=now, half_life_days=runtime.settings.channel_half_life_days)
    return PromptView(
        prompt_id=f"{episode.public_id}{PROMPT_MARK}{prompt.id}", message_id=prompt.message_id,
        type="survey" if step in SURVEY_STEPS else "notice", step=step,
        text=str(prompt.payload.get("text") or ""), created_at=prompt.created_at, expires_at=prompt.expires_at,
        survey=view_for(runtime, session, episode, campaign, contact),
    )


@dataclass(frozen=True)
class InAppAnswer:
    response: Response
    lang: str  # the contact's language, for the widget's thank-you


def answer_prompt(runtime: Runtime, session: Session, *, external_id: str, prompt_id: str, score: int, comment: str | None) -> InAppAnswer:
    """Record the contact's answer to the prompt and close its pending prompts. Flushes;
    the caller commits and kicks (``dispatcher.answers.answering.kick``). Raises ``PromptNotFound``, or ``FieldError`` for a bad score."""
    now = runtime.clock.now()
    episode, message_id = _episode(session, external_id=external_id, prompt_id=prompt_id, now=now, lock=True)
    response = accept_answer(runtime, session, episode=episode, score=score, comment=comment, medium="in_app", now=now,
                             credit=True, message_id=message_id, locked=True)
    _close_pending(session, episode.id, external_id, status="answered")
    contact = session.get(Contact, episode.contact_id)
    return InAppAnswer(response, resolve_language(contact.locale if contact else "en"))


def dismiss_prompt(runtime: Runtime, session: Session, *, external_id: str, prompt_id: str) -> bool:
    """Close the prompt unanswered and count it as a fatigue touch; repeating it changes
    nothing. Flushes; the caller commits. Whether this call dismissed something."""
    now = runtime.clock.now()
    episode, message_id = _episode(session, external_id=external_id, prompt_id=prompt_id, now=now, lock=True)
    if not _close_pending(session, episode.id, external_id, status="dismissed"):
        return False
    contact = session.get(Contact, episode.contact_id)
    campaign = session.get(Campaign, episode.campaign_id)
    assert contact is not None and campaign is not None
    mark_dismissed(session, message_id=message_id, contact_id=contact.id, now=now, half_life_days=runtime.settings.channel_half_life_days)
    touch = Touch(contact=contact, kind=campaign.kind, step="dismissal", medium="in_app", at=now, campaign_id=campaign.id, trigger=episode.trigger)
    runtime.budget.record_touches(session, [touch], now=now)  # counted, never refused: it already happened
    return True


def _episode(session: Session, *, external_id: str, prompt_id: str, now: datetime, lock: bool) -> tuple[Episode, int]:
    """The contact's episode behind a prompt that has not expired, and that prompt's message."""
    public_id, _, number = prompt_id.partition(PROMPT_MARK)
    prompts = (
        select(InAppPrompt.message_id).join(Message, Message.id == InAppPrompt.message_id)
        .where(InAppPrompt.contact_external_id == external_id, InAppPrompt.expires_at > now)
    )
    if number:
        if (row_id := id_in(number)) is None:
            raise PromptNotFound(prompt_id)
        prompts = prompts.where(InAppPrompt.id == row_id)
    query = (
        select(Episode)
        .join(Contact, Contact.id == Episode.contact_id)
        .where(Episode.public_id == public_id, Contact.external_id == external_id, Contact.erased_at.is_(None))
        .where(Episode.id.in_(prompts.with_only_columns(Message.episode_id)))
    )
    episode = session.scalar(query.with_for_update(of=Episode) if lock else query)
    if episode is None:
        raise PromptNotFound(prompt_id)
    message_id = session.scalar(prompts.where(Message.episode_id == episode.id).order_by(InAppPrompt.created_at.desc(), InAppPrompt.id.desc()).limit(1))
    assert message_id is not None  # the episode was found through it
    return episode, message_id


def _close_pending(session: Session, episode_id: int, external_id: str, *, status: str) -> int:
    """Pending prompts of the episode → ``status``, in one conditional UPDATE; how many."""
    ids = select(InAppPrompt.id).join(Message, Message.id == InAppPrompt.message_id).where(
        Message.episode_id == episode_id, InAppPrompt.contact_external_id == external_id,
    )
    result = session.execute(
        update(InAppPrompt).where(InAppPrompt.id.in_(ids), InAppPrompt.status == "pending").values(status=status)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
