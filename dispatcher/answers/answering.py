"""Accepting an answer from any channel (email link, SMS reply, in-app): the one entry point.

Every inbound path calls ``accept_answer`` inside its own transaction and
commits before acknowledging; what follows an answer is queued here in the
same transaction (a transactional outbox), so it exists exactly when the
answer is kept, and is sent after commit: by ``after_commit`` if the endpoint
calls it, else by the next scheduler tick.

What follows an answer, and the rules when an episode is answered again
(``record_answer`` keeps the earlier answer, no longer current):

- **Follow-up task**: one per episode, opened by the first answer and assigned
  to the account's owner (round robin over the active team when there is none).
  A later answer moves the task to the current answer and category, notes the
  change, and reopens a resolved task when the answer turns into the alerting
  category. It is never reassigned by an answer.
- **Thank-you**: once per episode, for the category of the answer at the time.
  Email answers get ``thank_you_<category>`` by email (inside the contact's
  sending hours, counted by the fatigue budget; if the category changes while
  it is still queued, it is re-rendered for the new one) and the episode is
  marked thanked (``thanked_at``) at once, so the plan's ``thank_you`` step at
  close skips it even if it runs before this one leaves. In-app answers are
  thanked by the widget: marked thanked, nothing queued. SMS answers queue
  nothing: the conversation thanks in its thread after the comment and marks
  the episode itself; a contact who never sends one is thanked at close. A
  campaign whose plan has no ``thank_you`` step thanks nobody by email, and an
  answer on any other medium is left for the close step.
- **Detractor alert** (NPS detractor, CSAT unsatisfied, CES hard): when the
  episode's answer becomes alerting (the first answer, or a change from a
  non-alerting one), email the task's owner and post to the campaign's Slack
  webhook, at most once per episode each, outside sending hours; a later
  change back and forth alerts no one again (the task shows it).
- **Outgoing webhooks**: ``response.created`` for the episode's first answer,
  ``response.updated`` (with ``previous``) for every later one.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from campaigns.db import dialect_insert
from campaigns.events.service import lock_episode
from campaigns.followups.models import FollowUp
from campaigns.followups.service import follow_answer, is_alerting, note_comment
from campaigns.people.models import Contact, TeamMember
from campaigns.programs.answers import record_answer
from campaigns.programs.models import Campaign, Episode, Message, Response
from campaigns.programs.reach import Reach, address
from campaigns.programs.window import SendingWindow
from dispatcher.loop.follow_ups import alert_key, queue_detractor_alert, someone_is_told
from dispatcher.loop.webhooks_out import enqueue_for_response, queue_response_event
from dispatcher.runtime.clock import utcnow
from dispatcher.runtime.core import Runtime
from dispatcher.sending.budget import Touch
from dispatcher.sending.contents import locale_names, recipient_values, survey_context
from dispatcher.studio.published import render_content
from templates import TemplateKey, recipient_placeholders, thank_you_step

log = logging.getLogger(__name__)

THANKED_BY_WIDGET = "in_app"  # the widget shows the category's thank-you as soon as the answer is kept


def thank_you_key(episode_id: int) -> str:
    return f"episode:{episode_id}:thank_you:answer"


def accept_answer(runtime: Runtime, session: Session, *, episode: Episode, score: int, comment: str | None, medium: str, now: datetime) -> Response:
    """Record the answer and queue what follows it (see the module). Flushes, never commits.

    Locks the episode row (PostgreSQL) so two answers to one episode are taken
    one after the other. Raises ``FieldError`` (score, episode) like ``record_answer``.

    Channel choice learns from answers per medium: an inbound path also calls
    ``dispatcher.answers.provider_events.mark_answered`` (the answered message moves to
    ``answered``, the contact's ``answered`` counter grows once). SMS replies do;
    their conversation thanks in the thread (follow-up question, then the
    category's thank-you after the comment).
    """
    session.flush()
    lock_episode(session, episode)
    previous = session.scalar(select(Response).where(Response.episode_id == episode.id, Response.current.is_(True)))
    response = record_answer(session, episode=episode, score=score, comment=comment, medium=medium, now=now)
    campaign = session.get(Campaign, episode.campaign_id)
    assert campaign is not None
    follow_up = follow_answer(session, response=response, previous=previous, now=now).follow_up
    if episode.thanked_at is None:
        _thank(runtime, session, campaign, episode, response, follow_up, now)
    elif previous is not None and previous.category != response.category:
        _rethank(runtime, session, campaign, episode, response, follow_up, now)
    if is_alerting(response.kind, response.category) and not (previous and is_alerting(previous.kind, previous.category)):
        queue_detractor_alert(runtime, session, response=response, follow_up=follow_up)
    queue_response_event(session, response=response, previous=previous, now=now)
    session.flush()
    # Ids only: the score's category, never the comment, the contact's address or the link's token.
    log.info("answer recorded", extra={
        "campaign_id": campaign.id, "episode_id": episode.id, "response_id": response.id, "contact_id": episode.contact_id,
        "medium": medium, "category": response.category, "changed": previous is not None,
    })
    return response


def accept_comment(runtime: Runtime, session: Session, *, response: Response, text: str, now: datetime) -> Response:
    """A comment that follows the score in its own message (SMS): appended to the answer,
    noted on the follow-up task, and sent to subscribers as ``response.updated``.
    Flushes, never commits; call ``after_commit`` after the commit."""
    response.comment = f"{response.comment}\n{text}" if response.comment else text
    note_comment(session, response=response, text=text, now=now)
    queue_response_event(session, response=response, previous=response, now=now)
    session.flush()
    return response


def after_commit(runtime: Runtime, response_id: int) -> None:
    """Send what ``accept_answer`` queued for this answer now, instead of at the next tick.

    Call it after the answer's transaction committed, preferably after the
    reply (FastAPI ``BackgroundTasks``): with the in-process worker the sends
    run inline. Safe to call twice or not at all (the tick sends the rest);
    raises nothing for an unknown id. Only what is due goes: a thank-you
    waiting for the contact's sending hours stays queued.
    """
    now = runtime.clock.now()
    with runtime.sessions() as session:
        response = session.get(Response, response_id)
        if response is None:
            return
        keys = [thank_you_key(response.episode_id), alert_key(response.episode_id, "email"), alert_key(response.episode_id, "slack")]
        messages = list(session.scalars(
            update(Message).where(
                Message.idempotency_key.in_(keys), Message.state == "queued", Message.not_before <= now,
                Message.enqueued_at.is_(None),
            ).values(enqueued_at=utcnow()).returning(Message.id)
        ))
        deliveries = enqueue_for_response(session, response_id, now)
        session.commit()
    if messages:
        runtime.submit("send_messages", sorted(messages))
    if deliveries:
        runtime.submit("deliver_webhooks", sorted(deliveries))


def _plan_thanks(campaign: Campaign) -> bool:
    return any(step.get("step") == "thank_you" for step in campaign.plan or [])


def _owner_name(session: Session, follow_up: FollowUp) -> str | None:
    owner = session.get(TeamMember, follow_up.owner_id) if follow_up.owner_id else None
    return owner.name if owner else None


def _content(runtime: Runtime, session: Session, campaign: Campaign, contact: Contact, response: Response, follow_up: FollowUp, now: datetime) -> int:
    """The thank-you's stored content. Takes ``now`` from the caller: it runs under the budget's
    locks, where reading the database clock would need a second connection."""
    step = thank_you_step(response.category)
    context = survey_context(
        campaign, runtime.settings, template_step=step, locale=contact.locale, recipient=recipient_placeholders(),
        owner_name=_owner_name(session, follow_up), names=locale_names(session, runtime.settings, contact.locale),
        follow_up_promised=someone_is_told(runtime, session, campaign=campaign, follow_up=follow_up),
    )
    return render_content(runtime, session, campaign, TemplateKey("email", campaign.kind, step, contact.locale), context, now=now)


def _thank(runtime: Runtime, session: Session, campaign: Campaign, episode: Episode, response: Response, follow_up: FollowUp, now: datetime) -> None:
    if response.medium == THANKED_BY_WIDGET:
        _mark_thanked(episode, now)
        if episode.state == "answered":  # thanked in the reply that acknowledges the answer
            episode.state = "thanked"
        return
    if response.medium != "email" or not _plan_thanks(campaign):
        return  # SMS: the conversation thanks in its thread (dispatcher.answers.inbound_sms)
    contact = session.get(Contact, episode.contact_id)
    assert contact is not None
    row: dict[str, Any] = {
        "idempotency_key": thank_you_key(episode.id), "campaign_id": campaign.id, "step_id": None, "episode_id": episode.id,
        "contact_id": contact.id, "step": "thank_you", "medium": "email", "locale": contact.locale, "substitutions": {},
        "attempts": 0, "created_at": now, "updated_at": now,
    }
    reach = Reach.load(session, [contact], allowed=["email"], available=runtime.available_media, now=now)
    refusal = None
    if reach.media(contact):
        not_before = SendingWindow.parse(campaign.sending_window).next_open(now, contact.timezone)
        touch = Touch(contact=contact, kind=campaign.kind, step="thank_you", medium="email", at=not_before, campaign_id=campaign.id, message_key=row["idempotency_key"])
        refusal = runtime.budget.record_touches(session, [touch], now=now).get(0)
        if refusal is None:
            row.update(
                state="queued", channel=runtime.channels.names["email"], channel_reason="answered by email",
                recipient=address(contact, "email"), content_id=_content(runtime, session, campaign, contact, response, follow_up, now),
                substitutions=recipient_values(runtime.settings, episode, contact, now), not_before=not_before,
            )
        else:
            row.update(state="skipped", skip_rule=refusal.rule, skip_reason=refusal.reason)
    else:
        row.update(state="skipped", skip_rule="unreachable", skip_reason=f"unreachable: {reach.why_not(contact)}")
    session.execute(dialect_insert(session, Message).values(**row).on_conflict_do_nothing(index_elements=["idempotency_key"]))
    if row["state"] == "queued":
        _mark_thanked(episode, now)  # the close step would otherwise thank again before this one leaves


def _mark_thanked(episode: Episode, now: datetime) -> None:
    episode.thanked_at = episode.thanked_at or now


def _rethank(runtime: Runtime, session: Session, campaign: Campaign, episode: Episode, response: Response, follow_up: FollowUp, now: datetime) -> None:
    """The answer changed category before its thank-you left: say the right thing."""
    queued = session.scalar(select(Message).where(Message.idempotency_key == thank_you_key(episode.id), Message.state == "queued"))
    contact = session.get(Contact, episode.contact_id)
    if queued is not None and contact is not None:
        queued.content_id = _content(runtime, session, campaign, contact, response, follow_up, now)
        queued.updated_at = response.created_at
