"""The whole plan through real Celery worker processes on Redis and PostgreSQL."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from campaigns.people.models import Contact
from campaigns.programs import service
from campaigns.programs.models import Message
from dispatcher.runtime.core import Runtime
from dispatcher.sending.lifecycle import launch_campaign
from dispatcher.sending.scheduler import tick
from tests import factories
from tests.dispatcher.scenario import check_plan_outcome, create_and_launch, run_plan
from tests.e2e.conftest import start_workers
from tests.fakes.sendgrid_fake import FAKE_API_KEY, SendGridFake


def test_plan_runs_once_per_step_on_celery_workers(beat: Runtime, runtime: Runtime, broker_url: str, tmp_path: Path, session: Session) -> None:
    workers = start_workers(runtime, broker_url, tmp_path)
    try:
        campaign_id = create_and_launch(runtime)
        answered = run_plan(runtime, campaign_id, advance=lambda: workers.settle(beat, tick), step_hours=3)
    finally:
        workers.stop()
    per_step = check_plan_outcome(session, campaign_id, answered)
    assert per_step["invite"] == 200


def test_worker_killed_mid_batch_sends_nothing_twice(beat: Runtime, runtime: Runtime, broker_url: str, tmp_path: Path, session: Session) -> None:
    """SIGKILL a worker while SendGrid requests are in flight, restart it: no duplicates; only
    messages whose request had started are ``unknown`` (found by the dead worker's silent
    heartbeat, not a timeout); everything else is sent once."""
    fake = SendGridFake(latency=0.4)
    fake.start()
    always = {"start": "00:00", "end": "23:59", "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]}
    env = {
        "PULSE_EMAIL_CHANNEL": "sendgrid", "PULSE_SENDGRID_API_KEY": FAKE_API_KEY, "PULSE_SENDGRID_BASE_URL": fake.base_url,
        "PULSE_BATCH_SIZE": "25", "PULSE_BROKER_VISIBILITY_TIMEOUT": "5", "PULSE_HEARTBEAT_SECONDS": "0.5",
    }
    beat.settings.batch_size = 25
    beat.settings.heartbeat_seconds = 0.5
    beat.settings.broker_visibility_timeout = 5
    assert beat.settings.sending_timeout_seconds >= 600  # recovery below comes from heartbeats alone
    with runtime.sessions() as setup:
        factories.population(setup, 400)
        # Two contents (English, German): the step's last batch sends two requests of 200.
        setup.execute(update(Contact).where(Contact.id % 2 == 0).values(locale="de"))
        campaign = service.create_campaign(setup, spec={
            "name": "Killed", "survey": {"kind": "nps"}, "audience": {"filter": {"segment": ["smb"]}}, "sending_window": always,
            "plan": [{"step": "invite", "offset_days": 0}, {"step": "close", "offset_days": 5}],
        }, now=runtime.clock.now())
        setup.commit()
        launch_campaign(runtime, setup, campaign.id)
        setup.commit()
    workers = start_workers(runtime, broker_url, tmp_path, **env)
    try:
        tick(beat)  # selection
        deadline = time.monotonic() + 60
        while fake.received < 1 and time.monotonic() < deadline:
            tick(beat)
            time.sleep(0.05)
        time.sleep(0.1)  # the first request is with SendGrid (0.4 s), its result unrecorded
        workers.kill()  # mid-task: one request in flight, the other chunk not claimed yet
        killed_after = fake.received
        in_flight = Counter(session.scalars(select(Message.state).where(Message.campaign_id == campaign.id)))["sending"]
        session.rollback()
        time.sleep(6)  # past the visibility timeout: Redis gives the dead worker's tasks out again
        workers.start()
        workers.settle(beat, tick)
        time.sleep(5.5)  # what the killed task had handed out but not sent is handed out again by the tick
        workers.settle(beat, tick)
    finally:
        workers.stop()
        fake.stop()

    reached = Counter(p["to"][0]["email"] for r in fake.requests for p in r.body["personalizations"])
    assert reached and max(reached.values()) == 1, "a contact got the invite twice"
    messages = session.scalars(select(Message).where(Message.campaign_id == campaign.id, Message.step == "invite")).all()
    states = Counter(m.state for m in messages)
    assert set(states) <= {"sent", "unknown"}, states
    assert sum(states.values()) == 400
    assert 0 < states["unknown"] <= in_flight < 400  # killed mid-request, and something was left to send once
    never_sent = [m.recipient for m in messages if m.state == "unknown" and m.recipient not in reached]
    assert not never_sent, f"{len(never_sent)} messages are unknown although no request carried them"
    print(f"\nSIGKILL after {killed_after} requests, {in_flight} in flight: {dict(states)}; {len(reached)} distinct recipients reached SendGrid")
