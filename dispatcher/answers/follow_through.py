"""The worker side of an answer: the follow-up task, the thank-you, the alert, the webhooks.

An answer request stores the answer and an ``answer_outbox`` row, and kicks
``follow_through_answers`` after its commit (``dispatcher.answers.answering``,
whose module says what each answer sets off and the rules). This task:

1. claims a batch of rows still to do (one ``UPDATE … RETURNING``, ``SKIP LOCKED``
   on PostgreSQL): rows nobody holds, and rows whose worker died (it stopped
   beating, or the claim is older than ``RECLAIM_AFTER``);
2. under the batch's episode row locks (taken in id order): does every row of those
   episodes not yet done, in the order the answers came (rows claimed by another
   worker too), and marks them done in the same transaction — so each row is done
   exactly once, and a worker that dies mid-batch leaves its rows to be claimed
   again. The work is set-based, a few statements per batch whatever its size
   (about 0.5 per answer at 100 answers): what the rows need is read with one
   statement per table; the follow-up tasks are locked, and the missing ones opened,
   by one statement each; per row, in answer order, only Python (a task following a
   changed answer, a comment's note); then the thank-yous (reachability, the fatigue
   budget for all of them at once, each distinct text rendered once, one insert),
   the detractor alerts (contents stored and messages queued together), the
   channel-choice signals (``mark_answered_many``), and webhook events only if a
   subscription listens;
3. hands out at once what became due: the thank-you and alert messages
   (``send_messages``) and the webhook deliveries (``deliver_webhooks``).

The kicks of a burst become one task per ``KICK_GAP`` (``dispatcher.answers.answering``).
The scheduler tick hands it out too whenever a row is still to do
(``hand_out_pending``), so a lost kick or a dead worker delays the follow-through
by a tick (or ``RECLAIM_AFTER``), well inside the detractor alert's minute. Within one process, kicks that arrive while a pass is running
join it instead of racing it for rows.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from campaigns.db import insert_ignoring_conflicts
from campaigns.followups.models import FollowUp
from campaigns.followups.service import follow_answer, is_alerting, lock_tasks, note_comment
from campaigns.people.models import Account, Contact, TeamMember
from campaigns.programs.models import AnswerOutbox, Campaign, Episode, Message, Response
from campaigns.programs.reach import Reach, address
from campaigns.programs.window import SendingWindow
from dispatcher.answers.answering import FOLLOW_THROUGH
from dispatcher.answers.provider_events import mark_answered_many
from dispatcher.loop.follow_ups import alert_key, queue_detractor_alerts, someone_is_told
from dispatcher.loop.webhooks_out import (
    enqueue_for_responses,
    listened_events,
    queue_response_event,
)
from dispatcher.runtime.clock import utcnow
from dispatcher.runtime.core import Runtime
from dispatcher.sending.budget import Touch
from dispatcher.sending.contents import LocaleNames, locale_names, recipient_values, survey_context
from dispatcher.sending.heartbeat import dead_claim, worker_name
from dispatcher.studio.published import Wanted, render_contents
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
    """Task: claim and do the pending rows, batch after batch until a claim finds less than a
    whole batch; how many rows were done.

    It does not chase the rows committed while it works: each of them has its own kick, sent
    after its commit (coalesced, within ``KICK_GAP``), whose task or pass claims them; chasing
    them cut a steady stream into batches of a few rows, each paying a batch's statements
    (a kick that comes during a pass in this process makes it look once more).
    Safe to run twice, concurrently, from the tick or from a kick."""
    gate: _Pass = runtime.extras.setdefault("answer_follow_through", _Pass())
    if not gate.enter():
        return 0
    done = 0
    try:
        while True:
            runtime.requests_in_flight.give_way()
            claimed = claim(runtime, BATCH)
            if claimed:
                done += follow_through(runtime, claimed)
            if len(claimed) < BATCH and gate.leave():
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
    runtime.requests_in_flight.give_way()
    _hand_out(runtime, done)
    return len(done)


def follow_through_episode(runtime: Runtime, episode_id: int) -> list[AnswerOutbox]:
    """One episode's rows not yet done (tests and the one-at-a-time path); committed. The rows done."""
    return follow_through_episodes(runtime, [episode_id])


def follow_through_episodes(runtime: Runtime, episode_ids: Sequence[int]) -> list[AnswerOutbox]:
    """Every row of these episodes not yet done, each episode's in answer order, under the
    episodes' row locks (taken in id order), in one transaction; committed. The rows done.

    Set-based: what the rows need is read in one statement per table and the follow-up tasks
    locked (the missing ones opened) together; each row, in answer order, only notes what it
    sets off (a changed answer moves its task at once, in Python); then the thank-yous are
    counted by the budget, rendered (once per distinct text) and written together, the alerts
    stored and queued together, the channel-choice signals applied together, and webhook events
    built only when someone listens."""
    give_way = runtime.requests_in_flight.give_way
    with runtime.sessions() as session:
        episodes = {e.id: e for e in session.scalars(select(Episode).where(Episode.id.in_(episode_ids)).order_by(Episode.id).with_for_update())}
        rows = list(session.scalars(
            select(AnswerOutbox).where(AnswerOutbox.episode_id.in_(episode_ids), AnswerOutbox.done_at.is_(None)).order_by(AnswerOutbox.id)
        ))
        batch = _Batch.load(session, episodes, rows)
        for row in rows:
            episode = episodes.get(row.episode_id)
            assert episode is not None  # the row's foreign key holds it
            _follow(runtime, session, batch, episode, row)
            give_way()  # the embedded worker shares the API's GIL: requests first
        _thank_all(runtime, session, batch)
        give_way()
        queue_detractor_alerts(runtime, session, batch.alerts)
        give_way()
        _credit_all(runtime, session, batch)
        done = utcnow()
        for row in rows:
            row.done_at = done
        session.commit()
    return rows


@dataclass
class _Thanks:
    """An episode's thank-you, written at the end of the batch for its latest answer there."""

    campaign: Campaign
    episode: Episode
    response: Response
    follow_up: FollowUp
    now: datetime  # the first answer's time: the thank-you is dated and counted as if sent for it


@dataclass
class _Batch:
    """What one batch's rows need, loaded with one statement per table (the session's identity
    map then answers every ``session.get``), and what the batch does together at its end."""

    listened: set[str]
    held: list[Any]  # the rows loaded for the batch: the identity map keeps only what someone holds
    tasks: dict[int, FollowUp]  # the episodes' follow-up tasks, locked; opened for the first answers
    thanks: dict[int, _Thanks] = field(default_factory=dict)  # by episode id, in first-answer order
    alerts: list[tuple[Response, FollowUp]] = field(default_factory=list)  # answers that became alerting, with their task
    credits: list[tuple[int, str, int | None, datetime]] = field(default_factory=list)  # episode, medium, message, when

    @classmethod
    def load(cls, session: Session, episodes: dict[int, Episode], rows: Sequence[AnswerOutbox]) -> _Batch:
        response_ids = {row.response_id for row in rows} | {row.previous_id for row in rows if row.previous_id}
        responses = list(session.scalars(select(Response).where(Response.id.in_(response_ids))))
        held: list[Any] = responses + list(session.scalars(select(Campaign).where(Campaign.id.in_({e.campaign_id for e in episodes.values()}))))
        contacts = list(session.scalars(select(Contact).where(Contact.id.in_({e.contact_id for e in episodes.values()}))))
        account_ids = {c.account_id for c in contacts if c.account_id is not None} | {r.account_id for r in responses if r.account_id is not None}
        accounts = list(session.scalars(select(Account).where(Account.id.in_(account_ids)))) if account_ids else []
        by_id = {r.id: r for r in responses}
        tasks = lock_tasks(session, [(by_id[row.response_id], by_id[row.response_id].created_at) for row in rows if row.kind == "answer"])
        owner_ids = {a.owner_id for a in accounts if a.owner_id is not None} | {t.owner_id for t in tasks.values() if t.owner_id is not None}
        held += contacts + accounts + (list(session.scalars(select(TeamMember).where(TeamMember.id.in_(owner_ids)))) if owner_ids else [])
        return cls(listened=listened_events(session), held=held, tasks=tasks)


def _follow(runtime: Runtime, session: Session, batch: _Batch, episode: Episode, row: AnswerOutbox) -> None:
    response = session.get(Response, row.response_id)
    previous = session.get(Response, row.previous_id) if row.previous_id else None
    assert response is not None
    if row.kind == "comment":
        note_comment(session, response=response, text=row.comment or "", now=row.created_at)
        if "response.updated" in batch.listened:
            queue_response_event(session, response=response, previous=response, now=row.created_at)
        return
    now = response.created_at  # what follows is dated when the answer came, as if done at once
    campaign = session.get(Campaign, episode.campaign_id)
    assert campaign is not None
    follow_up = follow_answer(session, response=response, previous=previous, now=now, tasks=batch.tasks).follow_up
    pending = batch.thanks.get(episode.id)
    if pending is not None:  # thanked at the batch's end, for the category the episode ends the batch with
        pending.response, pending.follow_up = response, follow_up
    elif episode.thanked_at is None:
        if _thanks_by_email(campaign, response):
            batch.thanks[episode.id] = _Thanks(campaign, episode, response, follow_up, now)
    elif previous is not None and previous.category != response.category:
        _rethank(runtime, session, campaign, episode, response, follow_up)
    if is_alerting(response.kind, response.category) and not (previous and is_alerting(previous.kind, previous.category)):
        batch.alerts.append((response, follow_up))
    if ("response.updated" if previous is not None else "response.created") in batch.listened:
        queue_response_event(session, response=response, previous=previous, now=now)
    if row.credit:
        batch.credits.append((episode.id, response.medium, row.message_id, now))
    session.flush()


def _credit_all(runtime: Runtime, session: Session, batch: _Batch) -> None:
    """Channel choice: each credited message moves to ``answered``, its contact's counter grows once."""
    if batch.credits:
        mark_answered_many(session, batch.credits, half_life_days=runtime.settings.channel_half_life_days)


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


def _thanks_by_email(campaign: Campaign, response: Response) -> bool:
    """In-app answers are thanked by the widget; SMS answers by the conversation, in its thread
    (``dispatcher.answers.inbound_sms``); a plan without a ``thank_you`` step thanks nobody by email."""
    return response.medium == "email" and _plan_thanks(campaign)


class _Texts:
    """The thank-yous' contents of a batch: each distinct text rendered once (what decides it: the
    campaign, the category's step, the locale, the owner's name, whether someone is told), the
    studio's names read once per locale, and all of them stored together (``render_contents``)."""

    def __init__(self, runtime: Runtime, session: Session) -> None:
        self.runtime, self.session = runtime, session
        self.wanted: dict[tuple[Any, ...], Wanted] = {}
        self.names: dict[str, LocaleNames] = {}

    def want(self, campaign: Campaign, contact: Contact, response: Response, follow_up: FollowUp, now: datetime) -> tuple[Any, ...]:
        """Note the thank-you's text; its key in ``store``'s answer. Takes ``now`` from the caller:
        it runs under the budget's locks, where reading the database clock would need a second connection."""
        runtime, session = self.runtime, self.session
        step = thank_you_step(response.category)
        owner = session.get(TeamMember, follow_up.owner_id) if follow_up.owner_id else None
        key = (campaign.id, step, contact.locale, owner.id if owner else None)
        if key not in self.wanted:
            if contact.locale not in self.names:
                self.names[contact.locale] = locale_names(session, runtime.settings, contact.locale)
            context = survey_context(
                campaign, runtime.settings, template_step=step, locale=contact.locale, recipient=recipient_placeholders(),
                owner_name=owner.name if owner else None, names=self.names[contact.locale],
                follow_up_promised=someone_is_told(runtime, session, campaign=campaign, follow_up=follow_up),
            )
            self.wanted[key] = Wanted(campaign, TemplateKey("email", campaign.kind, step, contact.locale), context, now)
        return key

    def store(self) -> dict[tuple[Any, ...], int]:
        """Every text noted, rendered and stored: content ids by key."""
        return dict(zip(self.wanted, render_contents(self.runtime, self.session, list(self.wanted.values()))))


def _thank_all(runtime: Runtime, session: Session, batch: _Batch) -> None:
    """The batch's thank-yous together: reachability in one query, the fatigue budget counted for
    all of them in one call, each distinct text rendered once and all stored together, the messages
    written by one statement."""
    thanks = list(batch.thanks.values())
    if not thanks:
        return
    contacts = {t.episode.id: session.get(Contact, t.episode.contact_id) for t in thanks}
    latest = max(t.now for t in thanks)
    reach = Reach.load(session, [c for c in contacts.values() if c is not None], allowed=["email"], available=runtime.available_media, now=latest)
    rows: list[dict[str, Any]] = []
    counted: list[tuple[_Thanks, Contact, dict[str, Any]]] = []
    for t in thanks:
        contact = contacts[t.episode.id]
        assert contact is not None
        row: dict[str, Any] = {
            "idempotency_key": thank_you_key(t.episode.id), "campaign_id": t.campaign.id, "step_id": None, "episode_id": t.episode.id,
            "contact_id": contact.id, "step": "thank_you", "medium": "email", "locale": contact.locale, "substitutions": {},
            "attempts": 0, "created_at": t.now, "updated_at": t.now,
        }
        if reach.media(contact):
            row["not_before"] = SendingWindow.parse(t.campaign.sending_window).next_open(t.now, contact.timezone)
            counted.append((t, contact, row))
        else:
            row.update(state="skipped", skip_rule="unreachable", skip_reason=f"unreachable: {reach.why_not(contact)}")
        rows.append(row)
    touches = [
        Touch(contact=contact, kind=t.campaign.kind, step="thank_you", medium="email", at=row["not_before"], campaign_id=t.campaign.id, message_key=row["idempotency_key"])
        for t, contact, row in counted
    ]
    refusals = runtime.budget.record_touches(session, touches, now=latest)
    texts = _Texts(runtime, session)
    queued: list[tuple[dict[str, Any], tuple[Any, ...]]] = []  # each queued row and its text's key
    for index, (t, contact, row) in enumerate(counted):
        refusal = refusals.get(index)
        if refusal is None:
            row.update(
                state="queued", channel=runtime.channels.names["email"], channel_reason="answered by email", recipient=address(contact, "email"),
                substitutions=recipient_values(runtime.settings, t.episode, contact, t.now),
            )
            queued.append((row, texts.want(t.campaign, contact, t.response, t.follow_up, t.now)))
            t.episode.thanked_at = t.episode.thanked_at or t.now  # the close step would otherwise thank again before this one leaves
        else:
            row.update(state="skipped", skip_rule=refusal.rule, skip_reason=refusal.reason, not_before=None)
    stored = texts.store()
    for row, key in queued:
        row["content_id"] = stored[key]
    insert_ignoring_conflicts(session, Message, rows, unique=["idempotency_key"])


def _rethank(runtime: Runtime, session: Session, campaign: Campaign, episode: Episode, response: Response, follow_up: FollowUp) -> None:
    """The answer changed category before its thank-you left: say the right thing."""
    queued = session.scalar(select(Message).where(Message.idempotency_key == thank_you_key(episode.id), Message.state == "queued"))
    contact = session.get(Contact, episode.contact_id)
    if queued is not None and contact is not None:
        texts = _Texts(runtime, session)
        key = texts.want(campaign, contact, response, follow_up, response.created_at)
        queued.content_id = texts.store()[key]
        queued.updated_at = response.created_at
