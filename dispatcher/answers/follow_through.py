"""The worker side of an answer: the follow-up task, the thank-you, the alert, the webhooks.

An answer request stores the answer and an ``answer_outbox`` row, and kicks
``follow_through_answers`` after its commit (``dispatcher.answers.answering``,
whose module says what each answer sets off and the rules). This task:

1. claims a batch of rows still to do (one ``UPDATE … RETURNING``, ``SKIP LOCKED``
   on PostgreSQL): rows nobody holds, and rows whose worker died (it stopped
   beating, or the claim is older than ``RECLAIM_AFTER``);
2. per episode, under its row lock: does every row of the episode not yet done,
   in the order the answers came (rows claimed by another worker too), and marks
   them done in the same transaction — so each row is done exactly once, and a
   worker that dies mid-batch leaves its undone rows to be claimed again;
3. hands out at once what became due: the thank-you and alert messages
   (``send_messages``) and the webhook deliveries (``deliver_webhooks``).

The scheduler tick hands it out too whenever a row is still to do
(``hand_out_pending``), so a lost kick or a dead worker delays the follow-through
by a tick (or ``RECLAIM_AFTER``), well inside the detractor alert's minute. Within one process, kicks that arrive while a pass is running
join it instead of racing it for rows.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from campaigns.db import dialect_insert
from campaigns.followups.models import FollowUp
from campaigns.followups.service import follow_answer, is_alerting, note_comment
from campaigns.people.models import Contact, TeamMember
from campaigns.programs.models import AnswerOutbox, Campaign, Episode, Message, Response
from campaigns.programs.reach import Reach, address
from campaigns.programs.window import SendingWindow
from dispatcher.answers.answering import FOLLOW_THROUGH, THANKED_BY_WIDGET
from dispatcher.answers.provider_events import mark_answered
from dispatcher.loop.follow_ups import alert_key, queue_detractor_alert, someone_is_told
from dispatcher.loop.webhooks_out import enqueue_for_responses, queue_response_event
from dispatcher.runtime.clock import utcnow
from dispatcher.runtime.core import Runtime
from dispatcher.sending.budget import Touch
from dispatcher.sending.contents import locale_names, recipient_values, survey_context
from dispatcher.sending.heartbeat import dead_claim, worker_name
from dispatcher.studio.published import render_content
from templates import TemplateKey, recipient_placeholders, thank_you_step

log = logging.getLogger(__name__)

BATCH = 100  # outbox rows per claim
RECLAIM_AFTER = timedelta(seconds=30)  # a claim this old belonged to a worker that died (without heartbeats)


def thank_you_key(episode_id: int) -> str:
    return f"episode:{episode_id}:thank_you:answer"


class _Pass:
    """One pass at a time per process; a kick during a pass makes it look once more."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running = False
        self._again = False

    def enter(self) -> bool:
        with self._lock:
            if self._running:
                self._again = True
                return False
            self._running = True
            return True

    def leave(self) -> bool:
        """False: a kick came in meanwhile, look again."""
        with self._lock:
            if self._again:
                self._again = False
                return False
            self._running = False
            return True

    def abort(self) -> None:
        with self._lock:
            self._running = self._again = False


def follow_through_answers(runtime: Runtime) -> int:
    """Task: claim and do every pending row, batch after batch; how many rows were done.

    Safe to run twice, concurrently, from the tick or from a kick."""
    gate: _Pass = runtime.extras.setdefault("answer_follow_through", _Pass())
    if not gate.enter():
        return 0
    done = 0
    try:
        while True:
            claimed = claim(runtime, BATCH)
            if claimed:
                done += follow_through(runtime, claimed)
            elif gate.leave():
                return done
    except BaseException:
        gate.abort()
        raise


def hand_out_pending(runtime: Runtime) -> None:
    """Tick: hand the follow-through to a worker if a row is still to do (a lost kick, a dead worker)."""
    with runtime.read_sessions() as session:  # most ticks find nothing and need no write lock
        if session.scalar(select(AnswerOutbox.id).where(AnswerOutbox.done_at.is_(None)).limit(1)) is None:
            return
    runtime.submit_committed(FOLLOW_THROUGH)


def claim(runtime: Runtime, limit: int) -> list[tuple[int, int]]:
    """Claim up to ``limit`` rows still to do (free, or held by a dead worker): (row id, episode id), committed."""
    wall = utcnow()
    with runtime.sessions() as session:
        free = or_(AnswerOutbox.claimed_at.is_(None), dead_claim(runtime, AnswerOutbox.claimed_by, AnswerOutbox.claimed_at, grace=RECLAIM_AFTER, wall=wall))
        todo = (
            select(AnswerOutbox.id).where(AnswerOutbox.done_at.is_(None), free)
            .order_by(AnswerOutbox.id).limit(limit).with_for_update(skip_locked=True)
        )
        rows = session.execute(
            update(AnswerOutbox).where(AnswerOutbox.id.in_(todo)).values(claimed_by=worker_name(), claimed_at=wall)
            .returning(AnswerOutbox.id, AnswerOutbox.episode_id).execution_options(synchronize_session=False)
        ).all()
        session.commit()
    return sorted((row[0], row[1]) for row in rows)


def follow_through(runtime: Runtime, claimed: Sequence[tuple[int, int]]) -> int:
    """Do the claimed rows' episodes in one transaction (one episode per transaction if that
    fails: a deadlock victim, a bug in one episode), then hand out what is due; rows done."""
    episodes = sorted({episode_id for _, episode_id in claimed})
    try:
        done = follow_through_episodes(runtime, episodes)
    except Exception:  # each episode is tried again on its own below
        log.warning("answer follow-through of %s episodes at once failed; one at a time", len(episodes), exc_info=True)
        done = []
        for episode_id in episodes:
            try:
                done += follow_through_episodes(runtime, [episode_id])
            except DBAPIError:  # a deadlock victim, a lost connection: the rows stay claimed and are claimed again
                log.warning("answer follow-through of episode %s left for another pass", episode_id, exc_info=True)
            except Exception:  # a bug must not hold up the other episodes; these rows are claimed again later
                log.exception("answer follow-through of episode %s failed; claimed again after %s", episode_id, RECLAIM_AFTER)
    _hand_out(runtime, done)
    return len(done)


def follow_through_episode(runtime: Runtime, episode_id: int) -> list[AnswerOutbox]:
    """One episode's rows not yet done (tests and the one-at-a-time path); committed. The rows done."""
    return follow_through_episodes(runtime, [episode_id])


def follow_through_episodes(runtime: Runtime, episode_ids: Sequence[int]) -> list[AnswerOutbox]:
    """Every row of these episodes not yet done, each episode's in answer order, under the
    episodes' row locks (taken in id order), in one transaction; committed. The rows done."""
    with runtime.sessions() as session:
        episodes = {e.id: e for e in session.scalars(select(Episode).where(Episode.id.in_(episode_ids)).order_by(Episode.id).with_for_update())}
        rows = list(session.scalars(
            select(AnswerOutbox).where(AnswerOutbox.episode_id.in_(episode_ids), AnswerOutbox.done_at.is_(None)).order_by(AnswerOutbox.id)
        ))
        for row in rows:
            episode = episodes.get(row.episode_id)
            assert episode is not None  # the row's foreign key holds it
            _follow(runtime, session, episode, row)
            row.done_at = utcnow()
        session.commit()
    return rows


def _follow(runtime: Runtime, session: Session, episode: Episode, row: AnswerOutbox) -> None:
    response = session.get(Response, row.response_id)
    previous = session.get(Response, row.previous_id) if row.previous_id else None
    assert response is not None
    if row.kind == "comment":
        note_comment(session, response=response, text=row.comment or "", now=row.created_at)
        queue_response_event(session, response=response, previous=response, now=row.created_at)
        return
    now = response.created_at  # what follows is dated when the answer came, as if done at once
    campaign = session.get(Campaign, episode.campaign_id)
    assert campaign is not None
    follow_up = follow_answer(session, response=response, previous=previous, now=now).follow_up
    if episode.thanked_at is None:
        _thank(runtime, session, campaign, episode, response, follow_up, now)
    elif previous is not None and previous.category != response.category:
        _rethank(runtime, session, campaign, episode, response, follow_up)
    if is_alerting(response.kind, response.category) and not (previous and is_alerting(previous.kind, previous.category)):
        queue_detractor_alert(runtime, session, response=response, follow_up=follow_up)
    queue_response_event(session, response=response, previous=previous, now=now)
    if row.credit:
        mark_answered(session, episode_id=episode.id, medium=response.medium, message_id=row.message_id, now=now,
                      half_life_days=runtime.settings.channel_half_life_days)
    session.flush()


def _hand_out(runtime: Runtime, rows: Sequence[AnswerOutbox]) -> None:
    """Send what the rows queued and is due now; a thank-you waiting for sending hours stays queued."""
    if not rows:
        return
    episodes = sorted({row.episode_id for row in rows})
    responses = sorted({row.response_id for row in rows})
    keys = [key for episode_id in episodes for key in (thank_you_key(episode_id), alert_key(episode_id, "email"), alert_key(episode_id, "slack"))]
    now, wall = runtime.clock.now(), utcnow()
    with runtime.sessions() as session:
        messages = sorted(session.scalars(
            update(Message).where(
                Message.idempotency_key.in_(keys), Message.state == "queued", Message.not_before <= now, Message.enqueued_at.is_(None),
            ).values(enqueued_at=wall).returning(Message.id).execution_options(synchronize_session=False)
        ))
        deliveries = enqueue_for_responses(session, responses, now)
        session.commit()
    if messages:
        runtime.submit_committed("send_messages", messages)
    if deliveries:
        runtime.submit_committed("deliver_webhooks", deliveries)


# --- the thank-you -------------------------------------------------------------------


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
    if response.medium == THANKED_BY_WIDGET or response.medium != "email" or not _plan_thanks(campaign):
        return  # in-app: thanked by the widget; SMS: the conversation thanks in its thread (dispatcher.answers.inbound_sms)
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
        episode.thanked_at = episode.thanked_at or now  # the close step would otherwise thank again before this one leaves


def _rethank(runtime: Runtime, session: Session, campaign: Campaign, episode: Episode, response: Response, follow_up: FollowUp) -> None:
    """The answer changed category before its thank-you left: say the right thing."""
    queued = session.scalar(select(Message).where(Message.idempotency_key == thank_you_key(episode.id), Message.state == "queued"))
    contact = session.get(Contact, episode.contact_id)
    if queued is not None and contact is not None:
        queued.content_id = _content(runtime, session, campaign, contact, response, follow_up, response.created_at)
        queued.updated_at = response.created_at

