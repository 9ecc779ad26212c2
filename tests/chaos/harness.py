"""Driving a campaign through real Celery workers while things die, then letting it recover.

The test process plays Celery beat (it runs the scheduler tick) and tolerates
the broker being away, as beat does. Recovery in Pulse is partly by wall time
(a handed-out message is handed out again after five minutes, a stale claim is
taken over after ten, a claim with no result becomes ``unknown`` after the
sending timeout); instead of sleeping that long the harness ages those wall-time
columns, which is what the passing of time would do to them.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select, text

from campaigns.programs import service
from campaigns.programs.models import Message
from dispatcher.runtime.core import Runtime
from dispatcher.sending.lifecycle import launch_campaign
from dispatcher.sending.scheduler import tick
from tests import factories
from tests.e2e.workers import Workers, worker_env
from tests.fakes.sendgrid_fake import FAKE_API_KEY, SendGridFake

ALWAYS = {"start": "00:00", "end": "23:59", "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]}
BATCH = 25
VISIBILITY_SECONDS = 3
UNFINISHED = ("queued", "sending", "retrying")


class Chaos:
    def __init__(self, runtime: Runtime, beat: Runtime, fake: SendGridFake, broker_url: str, tmp_path: Path) -> None:
        self.runtime = runtime
        self.beat = beat
        self.fake = fake
        self.application = f"chaos_{uuid.uuid4().hex[:10]}"  # names the workers' connections, so only theirs are dropped
        separator = "&" if "?" in runtime.settings.database_url else "?"
        env = worker_env(runtime, broker_url, PULSE_DATABASE_URL=f"{runtime.settings.database_url}{separator}application_name={self.application}", PULSE_EMAIL_CHANNEL="sendgrid", PULSE_SENDGRID_API_KEY=FAKE_API_KEY, PULSE_SENDGRID_BASE_URL=fake.base_url, PULSE_SENDGRID_MAX_PERSONALIZATIONS=str(BATCH), PULSE_BATCH_SIZE=str(BATCH), PULSE_BROKER_VISIBILITY_TIMEOUT=str(VISIBILITY_SECONDS))
        self.workers = Workers(env, tmp_path / "worker.log")
        self.kills = 0
        self.terminated = 0

    def launch(self, contacts: int) -> int:
        """A new population invited by a new campaign (plan: invite now, close in five days)."""
        with self.runtime.sessions() as session:
            people = factories.population(session, contacts)
            session.flush()
            campaign = service.create_campaign(session, spec={
                "name": f"Chaos {uuid.uuid4().hex[:6]}", "survey": {"kind": "nps"}, "channels": ["email"],
                "audience": {"contact_ids": [p.id for p in people]}, "sending_window": ALWAYS,
                "plan": [{"step": "invite", "offset_days": 0}, {"step": "close", "offset_days": 5}],
            }, now=self.runtime.clock.now())
            session.commit()
            launch_campaign(self.runtime, session, campaign.id)
            session.commit()
            return campaign.id

    def tick(self) -> None:
        try:
            tick(self.beat)
        except Exception as exc:  # the broker (or a dropped connection) is away: beat tries again next time
            if not _transient(exc):
                raise

    def drive_until(self, done: Callable[[], bool], timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            assert time.monotonic() < deadline, "the campaign made no progress:\n" + self.workers.log.read_text()[-3000:]
            self.tick()
            time.sleep(0.05)

    def drive_for(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.tick()
            time.sleep(0.05)

    def kill_workers(self) -> None:
        self.workers.kill()
        self.kills += 1

    def drop_connections(self) -> int:
        """``pg_terminate_backend`` on every connection the workers hold now."""
        with self.runtime.engine.connect() as connection:
            dropped = connection.execute(text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = :name"
            ), {"name": self.application}).scalar() or 0
        self.terminated += dropped
        return dropped

    def age_claims(self, by: timedelta = timedelta(minutes=11)) -> None:
        """Make every wall-time claim look ``by`` older, as if that much time had passed."""
        minutes = f"{int(by.total_seconds() // 60)} minutes"
        with self.runtime.engine.begin() as connection:
            for table, columns in (("messages", ("enqueued_at", "claimed_at")), ("plan_steps", ("claimed_at", "dispatched_at")), ("campaigns", ("selection_claimed_at",))):
                for column in columns:
                    connection.execute(text(f"UPDATE {table} SET {column} = {column} - interval '{minutes}' WHERE {column} IS NOT NULL"))

    def unfinished(self, campaign_id: int) -> int:
        with self.runtime.sessions() as session:
            return len(session.scalars(select(Message.id).where(Message.campaign_id == campaign_id, Message.state.in_(UNFINISHED))).all())

    def recover(self, campaign_id: int, rounds: int = 6) -> None:
        """Tick until the workers are idle; then let time pass (aged claims, a moved clock) until nothing is unfinished."""
        for _ in range(rounds):
            self.workers.settle(self.beat, lambda _: self.tick())
            if self.unfinished(campaign_id) == 0 and self._invite_step_done(campaign_id):
                return
            self.age_claims()
            self.runtime.clock.advance(timedelta(minutes=30))  # type: ignore[attr-defined]  # retries' backoff
        self.workers.settle(self.beat, lambda _: self.tick())

    def _invite_step_done(self, campaign_id: int) -> bool:
        with self.runtime.engine.connect() as connection:
            state = connection.execute(text("SELECT selection_state FROM campaigns WHERE id = :id"), {"id": campaign_id}).scalar()
            pending = connection.execute(text("SELECT count(*) FROM plan_steps WHERE campaign_id = :id AND step = 'invite' AND status <> 'done'"), {"id": campaign_id}).scalar()
        return state == "done" and not pending


def _transient(exc: Exception) -> bool:
    from kombu.exceptions import OperationalError as BrokerError
    from redis.exceptions import ConnectionError as RedisConnectionError
    from sqlalchemy.exc import OperationalError as DatabaseError

    return isinstance(exc, (BrokerError, RedisConnectionError, DatabaseError, ConnectionError))
