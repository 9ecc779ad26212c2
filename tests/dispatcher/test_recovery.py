"""Work lost with a worker or the broker is handed out again after the configured time, and
a step is done only when every selected episode has its message."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from campaigns.programs.models import Message, PlanStep
from channels.outbox import expand_outbox
from dispatcher.runtime.core import Runtime
from dispatcher.runtime.work import InlineQueue
from dispatcher.sending.scheduler import tick
from dispatcher.sending.step_batch import step_complete
from tests.dispatcher.scenario import INTERNAL, create_and_launch

ALWAYS = {"start": "00:00", "end": "23:59", "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]}


class LosingQueue:
    """The in-process queue, but the first ``count`` tasks named ``task`` are lost (a dead worker, a flushed broker)."""

    def __init__(self, inner: InlineQueue, task: str, count: int = 1, when: Callable[..., bool] = lambda *_: True) -> None:
        self.inner, self.task, self.left, self.when = inner, task, count, when
        self.lost: list[tuple[Any, ...]] = []

    def submit(self, task: str, *args: Any) -> None:
        if task == self.task and self.left and self.when(*args):
            self.left -= 1
            self.lost.append(args)
            return
        self.inner.submit(task, *args)


def _lose(runtime: Runtime, task: str, when: Callable[..., bool] = lambda *_: True) -> LosingQueue:
    assert isinstance(runtime.queue, InlineQueue)
    losing = LosingQueue(runtime.queue, task, when=when)
    runtime.queue = losing
    return losing


def _invites(session: Session, campaign_id: int) -> Counter[str]:
    session.rollback()
    return Counter(session.scalars(select(Message.state).where(Message.campaign_id == campaign_id, Message.step == "invite")))


def _step(session: Session, campaign_id: int, step: str) -> PlanStep:
    session.rollback()
    found = session.scalar(select(PlanStep).where(PlanStep.campaign_id == campaign_id, PlanStep.step == step))
    assert found is not None
    return found


def test_a_lost_batch_is_handed_out_again_after_the_visibility_timeout(runtime: Runtime, session: Session) -> None:
    runtime.settings.batch_size = 10
    runtime.settings.broker_visibility_timeout = 1
    losing = _lose(runtime, "run_step_batch")
    campaign_id = create_and_launch(runtime, 30, sending_window=ALWAYS, plan=[{"step": "invite", "offset_days": 0}, {"step": "close", "offset_days": 5}])

    tick(runtime)  # selection, then the invite: its first batch of 10 is lost
    assert len(losing.lost) == 1
    # Planned; held for the step's last batch, which hands out the requests' remainders.
    assert _invites(session, campaign_id) == {"queued": 20}
    tick(runtime)  # within the timeout: the batch may still be in the broker
    assert _invites(session, campaign_id) == {"queued": 20}
    assert _step(session, campaign_id, "invite").status == "dispatched"

    time.sleep(1.2)  # past the configured visibility timeout
    tick(runtime)
    assert _invites(session, campaign_id) == {"sent": 30}
    time.sleep(1.2)
    tick(runtime)
    assert _step(session, campaign_id, "invite").status == "done"
    assert _invites(session, campaign_id) == {"sent": 30}


def test_a_step_with_an_episode_without_its_message_is_not_done(runtime: Runtime, session: Session) -> None:
    runtime.settings.broker_visibility_timeout = 1
    campaign_id = create_and_launch(runtime, 12, sending_window=ALWAYS, plan=[{"step": "invite", "offset_days": 0}, {"step": "close", "offset_days": 5}])
    tick(runtime)
    invite = _step(session, campaign_id, "invite")
    assert step_complete(session, invite.id, campaign_id, invite.wave)
    assert invite.status == "done"  # the step's last batch found every episode with its message
    # As if a batch had been lost: one (episode, invite) pair without its row, the step still dispatched;
    # an internal message of the step keeps the count whole.
    victim = session.scalar(select(Message).where(Message.step_id == invite.id).order_by(Message.id).limit(1))
    assert victim is not None
    session.execute(delete(Message).where(Message.id == victim.id))
    invite.status = "dispatched"
    session.add(Message(idempotency_key="stray", campaign_id=campaign_id, step_id=invite.id, step="invite", state="skipped",
                        attempts=0, substitutions={}, created_at=runtime.clock.now(), updated_at=runtime.clock.now()))
    session.commit()
    assert session.scalar(select(func.count()).select_from(Message).where(Message.step_id == invite.id)) == 12
    assert not step_complete(session, invite.id, campaign_id, invite.wave)

    time.sleep(1.2)
    tick(runtime)  # not done: handed out again, the missing pair is planned and sent, and then it is done
    assert _step(session, campaign_id, "invite").status == "done"
    assert session.scalar(select(Message.state).where(Message.step_id == invite.id, Message.episode_id == victim.episode_id)) == "sent"


def test_a_lost_summary_is_sent_once(runtime: Runtime, session: Session) -> None:
    runtime.settings.broker_visibility_timeout = 1
    campaign_id = create_and_launch(runtime, 5, sending_window=ALWAYS, plan=[
        {"step": "invite", "offset_days": 0}, {"step": "close", "offset_days": 1}, {"step": "summary"}])
    tick(runtime)
    losing = _lose(runtime, "run_internal_step")
    runtime.clock.advance(timedelta(days=2))  # type: ignore[attr-defined]
    tick(runtime)  # close
    tick(runtime)  # the summary: its task is lost
    assert len(losing.lost) == 1
    assert _step(session, campaign_id, "summary").status == "dispatched"
    assert session.scalar(select(func.count()).select_from(Message).where(Message.campaign_id == campaign_id, Message.step == "summary")) == 0

    time.sleep(1.2)
    tick(runtime)
    for _ in range(2):
        time.sleep(1.2)
        tick(runtime)
    session.rollback()
    summaries = session.scalars(select(Message).where(Message.campaign_id == campaign_id, Message.step == "summary")).all()
    assert [(m.recipient, m.state) for m in summaries] == [(INTERNAL, "sent")]
    assert _step(session, campaign_id, "summary").status == "done"
    expand_outbox(runtime.settings.outbox_dir)
    files = [p for p in Path(runtime.settings.outbox_dir).iterdir() if INTERNAL in p.read_text(errors="replace")]  # the only internal mail here
    assert len(files) == 1


def test_in_flight_messages_of_a_worker_that_stopped_beating_are_unknown_at_once(runtime: Runtime, session: Session) -> None:
    from campaigns.programs.models import WorkerHeartbeat
    from dispatcher.runtime.clock import utcnow
    from dispatcher.sending.scheduler import mark_unknown

    runtime.settings.heartbeat_seconds = 1
    assert runtime.settings.sending_timeout_seconds >= 600  # only the heartbeat can say so within this test
    now, wall = runtime.clock.now(), utcnow()
    session.add_all([WorkerHeartbeat(worker="host:1", beat_at=wall - timedelta(seconds=10)), WorkerHeartbeat(worker="host:2", beat_at=wall)])
    for key, worker in (("dead", "host:1"), ("alive", "host:2"), ("never-beat", "host:3")):
        session.add(Message(idempotency_key=key, step="alert", state="sending", claimed_by=worker, claimed_at=wall - timedelta(seconds=5),
                            attempts=1, substitutions={}, created_at=now, updated_at=now))
    session.commit()

    assert mark_unknown(runtime) == 1
    session.rollback()
    assert {key: state for key, state in session.execute(select(Message.idempotency_key, Message.state))} == {"dead": "unknown", "alive": "sending", "never-beat": "sending"}
