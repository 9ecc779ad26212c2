"""The scheduler tick: find due work, claim it in the database, hand it out.

Runs every few seconds (Celery beat in production, a thread under `pulse run`).
Every claim is a conditional UPDATE, so two ticks racing on the same step run
it once; every task it hands out is safe to run twice.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import ColumnElement, CursorResult, and_, exists, func, or_, select, update

from campaigns.programs.models import Campaign, Episode, Message, PlanStep
from dispatcher.answers.follow_through import hand_out_pending
from dispatcher.answers.provider_events import apply_pending_events
from dispatcher.loop.webhooks_out import deliver_due_webhooks
from dispatcher.runtime.clock import utcnow
from dispatcher.runtime.core import Runtime
from dispatcher.runtime.metrics import tick_finished
from dispatcher.sending.continuous import plan_waves
from dispatcher.sending.heartbeat import dead_claim, worker_name
from dispatcher.sending.step_batch import step_complete

log = logging.getLogger(__name__)
AT_CLOSE_ORDER = {"close": 0, "thank_you": 1, "summary": 2}
INTERNAL_STEPS = ("kickoff", "summary")


def lost_after(runtime: Runtime) -> timedelta:
    """How long a handed-out task may go unseen before it is handed out again: the broker's
    visibility timeout (Redis gives a dead worker's unacknowledged task out again after it)."""
    return timedelta(seconds=runtime.settings.broker_visibility_timeout)


def tick(runtime: Runtime) -> None:
    """Task: one pass of the scheduler. Safe to run concurrently with itself."""
    started = time.perf_counter()
    now = runtime.clock.now()
    start_selections(runtime, now)
    plan_waves(runtime, now)
    run_due_steps(runtime, now)
    sweep_dispatched_steps(runtime, now)
    send_due_messages(runtime, now)
    apply_pending_events(runtime)
    hand_out_pending(runtime)  # answers' follow-through: the safety net for a lost kick or a dead worker
    deliver_due_webhooks(runtime, now)
    mark_unknown(runtime)
    tick_finished(time.perf_counter() - started)


def start_selections(runtime: Runtime, now: datetime) -> None:
    wall = utcnow()
    with runtime.sessions() as session:
        claimed = list(session.scalars(
            update(Campaign).where(
                Campaign.status == "active", Campaign.mode == "one_off",
                or_(Campaign.selection_state == "pending",
                    and_(Campaign.selection_state == "running", Campaign.selection_claimed_at < wall - lost_after(runtime))),
            ).values(selection_state="running", selection_claimed_at=wall).returning(Campaign.id)
        ))
        session.commit()
    for campaign_id in claimed:
        runtime.submit("select_audience", campaign_id)


def _claim_step(runtime: Runtime, step_id: int) -> bool:
    wall = utcnow()
    with runtime.sessions() as session:
        claimed = cast("CursorResult[Any]", session.execute(  # an UPDATE's result: it has a rowcount
            update(PlanStep).where(
                PlanStep.id == step_id,
                or_(PlanStep.status == "pending", and_(PlanStep.status == "running", _dead_step_claim(runtime, wall))),
            ).values(status="running", claimed_by=worker_name(), claimed_at=wall)
        )).rowcount
        session.commit()
    return claimed == 1


AT_CLOSE_STEPS = ("thank_you", "summary", "you_said_we_did")
SEQUENCE = ("pre_notice", "invite", "reminder")


def _dead_step_claim(runtime: Runtime, wall: datetime) -> ColumnElement[bool]:
    """A running step whose claimer stopped beating (or, without heartbeats, went unseen too long)."""
    return dead_claim(runtime, PlanStep.claimed_by, PlanStep.claimed_at, grace=lost_after(runtime), wall=wall)


def run_due_steps(runtime: Runtime, now: datetime) -> None:
    wall = utcnow()
    with runtime.sessions() as session:
        due = session.execute(
            select(PlanStep.id, PlanStep.step, PlanStep.due_at, PlanStep.campaign_id, PlanStep.wave, PlanStep.dispatched_at)
            .join(Campaign, Campaign.id == PlanStep.campaign_id).where(
                PlanStep.due_at <= now,
                or_(PlanStep.status == "pending", and_(PlanStep.status == "running", _dead_step_claim(runtime, wall))),
                Campaign.selection_state == "done",
                or_(
                    # A one-off campaign's at-close steps wait until the close step has run.
                    and_(Campaign.status == "active", or_(Campaign.mode != "one_off", PlanStep.step.not_in(AT_CLOSE_STEPS))),
                    and_(Campaign.status == "closed", PlanStep.step.in_(AT_CLOSE_STEPS)),
                ),
            )
        ).all()
    superseded = _superseded(due)
    if superseded:
        with runtime.sessions() as session:
            session.execute(update(PlanStep).where(PlanStep.id.in_(superseded), PlanStep.status == "pending").values(
                status="superseded", halted_reason="a later step was due at the same time (the campaign was paused or the scheduler stopped); "
                                                   "contacts get only the latest, not a burst of overdue messages"))
            session.commit()
    # Close before the steps that happen at close: nothing goes out after close but those.
    for step_id, step, due_at, *_ in sorted(due, key=lambda r: (r.due_at, AT_CLOSE_ORDER.get(r.step, -1))):
        if step_id not in superseded and _claim_step(runtime, step_id):
            dispatch_step(runtime, step_id, step, now)


def _superseded(due: Sequence[Any]) -> set[int]:
    """Of several overdue contact steps of one campaign wave, only the latest goes out
    (or the invite with nothing after it): a pre-notice after its invite, or three
    reminders in a row, would only be noise. A step handed out before (resumed
    after a pause) always runs again: it only reaches those it has not reached."""
    groups: dict[tuple[int, int], list[Any]] = defaultdict(list)
    for row in due:
        if row.step in SEQUENCE and row.dispatched_at is None:
            groups[(row.campaign_id, row.wave)].append(row)
    superseded: set[int] = set()
    for rows in groups.values():
        if len(rows) < 2:
            continue
        rows.sort(key=lambda r: r.due_at)
        keep = next((r for r in rows if r.step == "invite"), rows[-1])
        superseded.update(r.id for r in rows if r is not keep)
    return superseded


def dispatch_step(runtime: Runtime, step_id: int, step: str, now: datetime) -> None:
    """Hand out a claimed step: close inline, internal steps as one task, contact steps in batches."""
    log.info("plan step due", extra={"step_id": step_id, "step": step})
    if step == "close":
        close_campaign(runtime, step_id, now)
    elif step in INTERNAL_STEPS:
        runtime.submit("run_internal_step", step_id)
    else:
        with runtime.sessions() as session:
            plan_step = session.get(PlanStep, step_id)
            assert plan_step is not None
            ranges = episode_ranges(session, plan_step.campaign_id, plan_step.wave, runtime.settings.batch_size)
            plan_step.batches_left = len(ranges)
            session.commit()
        for first, last in ranges:
            runtime.submit("run_step_batch", step_id, first, last)
    with runtime.sessions() as session:
        session.execute(update(PlanStep).where(PlanStep.id == step_id, PlanStep.status == "running").values(status="dispatched", dispatched_at=utcnow()))
        session.commit()


def episode_ranges(session: Any, campaign_id: int, wave: int, size: int) -> list[tuple[int, int]]:
    """(first, last) episode id of each batch of ``size``, computed by the database: the
    process holds one pair per batch, not every episode id."""
    numbered = select(Episode.id, ((func.row_number().over(order_by=Episode.id) - 1) // size).label("batch")).where(
        Episode.campaign_id == campaign_id, Episode.wave == wave, Episode.state != "excluded").subquery()
    return [(first, last) for first, last in session.execute(
        select(func.min(numbered.c.id), func.max(numbered.c.id)).group_by(numbered.c.batch).order_by(func.min(numbered.c.id)))]


def sweep_dispatched_steps(runtime: Runtime, now: datetime) -> None:
    """Steps handed out a while ago (the broker's visibility timeout): done when every selected
    episode has its message (internal steps: when they ran); handed out again otherwise
    (batches and internal steps are idempotent) — a task was lost with a worker or the broker."""
    wall = utcnow()
    with runtime.sessions() as session:
        stale = session.execute(
            select(PlanStep.id, PlanStep.step, PlanStep.campaign_id, PlanStep.wave).where(
                PlanStep.status == "dispatched", PlanStep.dispatched_at < wall - lost_after(runtime), PlanStep.step != "close",
            )
        ).all()
        incomplete = []
        live = {c.id: c for c in session.scalars(select(Campaign).where(Campaign.id.in_({r.campaign_id for r in stale})))}
        for step_id, step, campaign_id, wave in stale:
            campaign = live[campaign_id]
            if not (campaign.status == "active" or (campaign.status == "closed" and step in AT_CLOSE_STEPS)):
                # Paused (resume hands it out again), cancelled or closed: nothing more to send.
                if campaign.status != "paused":
                    session.execute(update(PlanStep).where(PlanStep.id == step_id).values(status="done"))
                continue
            # An internal step that ran was marked done by its task: still dispatched, it was lost.
            if step not in INTERNAL_STEPS and step_complete(session, step_id, campaign_id, wave):
                session.execute(update(PlanStep).where(PlanStep.id == step_id).values(status="done"))
                continue
            incomplete.append((step_id, step))
            session.execute(update(PlanStep).where(PlanStep.id == step_id).values(dispatched_at=wall))
        session.commit()
    for step_id, step in incomplete:
        log.warning("step %s lost work (a worker died?): handing it out again", step_id, extra={"step_id": step_id})
        dispatch_step(runtime, step_id, step, now)


def close_campaign(runtime: Runtime, step_id: int, now: datetime) -> None:
    """The campaign stops sending (late answers are still recorded); unspent reservations go back."""
    with runtime.sessions() as session:
        step = session.get(PlanStep, step_id)
        assert step is not None
        campaign = step.campaign
        if campaign.mode == "one_off" and campaign.status == "active":
            campaign.status = "closed"
            campaign.closed_at = now
            session.execute(
                update(Message).where(
                    Message.campaign_id == campaign.id, Message.state.in_(("queued", "retrying")),
                    Message.step.in_(("pre_notice", "invite", "reminder")),
                ).values(state="skipped", skip_rule="campaign_closed", skip_reason="the campaign closed before it could be sent", updated_at=now)
            )
            runtime.budget.release_campaign(session, campaign_id=campaign.id, now=now)
        elif campaign.mode == "continuous":
            session.execute(
                update(Message).where(
                    Message.campaign_id == campaign.id, Message.step_id.in_(
                        select(PlanStep.id).where(PlanStep.campaign_id == campaign.id, PlanStep.wave == step.wave)),
                    Message.state.in_(("queued", "retrying")), Message.step.in_(("invite", "reminder")),
                ).values(state="skipped", skip_rule="campaign_closed", skip_reason="the wave closed before it could be sent", updated_at=now)
            )
        session.commit()


def send_due_messages(runtime: Runtime, now: datetime) -> None:
    """Queued messages whose time has come (deferred to a window, retries, internal ones)."""
    wall = utcnow()
    with runtime.sessions() as session:
        ids = list(session.scalars(
            update(Message).where(
                Message.state.in_(("queued", "retrying")), Message.not_before <= now,
                or_(Message.enqueued_at.is_(None), Message.enqueued_at < wall - lost_after(runtime)),
                # A step's batches hand out their own messages in full requests while it is being planned.
                or_(Message.step_id.is_(None), ~exists(select(PlanStep.id).where(PlanStep.id == Message.step_id, PlanStep.batches_left > 0))),
                or_(Message.campaign_id.is_(None), Message.step == "alert", Message.campaign_id.in_(
                    select(Campaign.id).where(Campaign.status.in_(("active", "closed"))))),
            ).values(enqueued_at=wall).returning(Message.id)
        ))
        session.commit()
    ids.sort()
    size = runtime.settings.batch_size
    for start in range(0, len(ids), size):
        runtime.submit("send_messages", ids[start:start + size])


def mark_unknown(runtime: Runtime) -> int:
    """Messages in flight whose worker stopped beating (or that have been in flight longer
    than the sending timeout): their result never came back. Reported, never resent."""
    grace = timedelta(seconds=runtime.settings.sending_timeout_seconds)
    with runtime.sessions() as session:
        count = cast("CursorResult[Any]", session.execute(  # an UPDATE's result: it has a rowcount
            update(Message).where(Message.state == "sending", dead_claim(runtime, Message.claimed_by, Message.claimed_at, grace=grace)).values(
                state="unknown", error_text="the worker stopped between handing the message to the channel and recording the result; not resent",
            )
        )).rowcount
        session.commit()
    if count:
        log.warning("%d messages in an unknown state after a worker stopped mid-send", count)
    return count
