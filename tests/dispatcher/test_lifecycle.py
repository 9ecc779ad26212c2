"""Pause, resume and cancel while a campaign is sending; two ticks racing on one step."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from campaigns.programs import service
from campaigns.programs.models import Episode, Message, PlanStep
from channels.outbox import expand_outbox
from dispatcher.runtime.clock import DatabaseClock
from dispatcher.runtime.core import Runtime, build_runtime
from dispatcher.runtime.tasks import attach_inline_queue
from dispatcher.sending.lifecycle import cancel_campaign, launch_campaign
from dispatcher.sending.scheduler import tick
from tests import factories
from tests.backends import Backend
from tests.conftest import make_settings
from tests.fakes.twilio_fake import FAKE_ACCOUNT_SID, FAKE_AUTH_TOKEN, TwilioFake

ALWAYS_OPEN = {"start": "00:00", "end": "23:59", "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]}


@pytest.fixture
def twilio() -> Iterator[TwilioFake]:
    fake = TwilioFake(mps=30, burst=1)
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
def texting(backend: Backend, tmp_path: Path, twilio: TwilioFake, runtime: Runtime) -> Iterator[Runtime]:
    settings = make_settings(
        backend, tmp_path, sms_channel="twilio", twilio_account_sid=FAKE_ACCOUNT_SID, twilio_auth_token=FAKE_AUTH_TOKEN,
        twilio_from_number="+15005550006", twilio_base_url=twilio.base_url, sms_mps=20,
    )
    sms = attach_inline_queue(build_runtime(settings))
    yield sms
    sms.close()


def sms_campaign(runtime: Runtime, contacts: int, plan: list[dict] | None = None) -> int:
    with runtime.sessions() as session:
        people = factories.population(session, contacts)
        for number, person in enumerate(people):
            person.phone = f"+1415555{number:04d}"
        campaign = service.create_campaign(session, spec={
            "name": "Texts", "survey": {"kind": "nps"}, "audience": {"filter": {"segment": ["smb"]}}, "channels": ["sms"],
            "sending_window": ALWAYS_OPEN, "plan": plan or [{"step": "invite", "offset_days": 0}, {"step": "reminder", "offset_days": 2}, {"step": "close", "offset_days": 5}],
        }, now=runtime.clock.now())
        session.commit()
        launch_campaign(runtime, session, campaign.id)
        session.commit()
        return campaign.id


def invite_states(runtime: Runtime, campaign_id: int) -> Counter[str]:
    with runtime.sessions() as session:
        return Counter(session.scalars(select(Message.state).where(Message.campaign_id == campaign_id, Message.step == "invite")))


def test_pause_stops_a_batch_midway_and_resume_sends_the_rest_once(texting: Runtime, twilio: TwilioFake) -> None:
    campaign_id = sms_campaign(texting, 60)
    tick(texting)  # selects the audience and sends the invites (60 texts at 20 a second)
    assert invite_states(texting, campaign_id)["sent"] == 60
    # The reminder: paused from another thread while its batch is sending, in chunks of 10.
    texting.clock.advance(timedelta(days=2))  # type: ignore[attr-defined]
    worker = threading.Thread(target=tick, args=(texting,))
    worker.start()
    while len(twilio.accepted) < 70 and worker.is_alive():
        threading.Event().wait(0.02)
    with texting.sessions() as session:
        service.pause(session, campaign_id=campaign_id)
        session.commit()
    worker.join(30)
    with texting.sessions() as session:
        reminders = Counter(session.scalars(select(Message.state).where(Message.campaign_id == campaign_id, Message.step == "reminder")))
    assert 0 < reminders["sent"] < 60 and reminders["sent"] + reminders["queued"] == 60
    sent_while_paused = len(twilio.accepted)
    tick(texting)
    assert len(twilio.accepted) == sent_while_paused  # paused: nothing more
    with texting.sessions() as session:
        service.resume(session, campaign_id=campaign_id)
        session.commit()
    tick(texting)
    tick(texting)
    with texting.sessions() as session:
        reminders = Counter(session.scalars(select(Message.state).where(Message.campaign_id == campaign_id, Message.step == "reminder")))
    assert reminders == Counter({"sent": 60})
    assert len(twilio.accepted) == 120
    assert max(Counter(m.to for m in twilio.accepted).values()) == 2  # one invite and one reminder each
    assert twilio.violations == []


def test_cancel_mid_plan_sends_nothing_again(runtime: Runtime, clock: DatabaseClock, session: Session) -> None:
    with runtime.sessions() as setup:
        factories.population(setup, 8)
        campaign = service.create_campaign(setup, spec={
            "name": "Cancelled", "survey": {"kind": "nps"}, "audience": {"filter": {"segment": ["smb"]}},
            "sending_window": ALWAYS_OPEN,
        }, now=clock.now())
        setup.commit()
        launch_campaign(runtime, setup, campaign.id)
        setup.commit()
    tick(runtime)
    clock.advance(timedelta(days=2, hours=1))
    tick(runtime)  # the pre-notice goes out
    with runtime.sessions() as s:
        cancel_campaign(runtime, s, campaign.id)
        s.commit()
    expand_outbox(runtime.settings.outbox_dir)
    sent_before = {p.name for p in Path(runtime.settings.outbox_dir).iterdir()}
    for _ in range(20):
        clock.advance(timedelta(days=1))
        tick(runtime)
    expand_outbox(runtime.settings.outbox_dir)
    assert {p.name for p in Path(runtime.settings.outbox_dir).iterdir()} == sent_before
    steps = dict(session.execute(select(PlanStep.key, PlanStep.status).where(PlanStep.campaign_id == campaign.id)).all())
    # The pre-notice went out to everyone before the cancel: done; the steps after it never ran.
    assert steps["pre_notice"] == "done" and steps["invite"] == "cancelled" and steps["summary"] == "cancelled"
    assert set(session.scalars(select(Episode.state).where(Episode.campaign_id == campaign.id))) == {"cancelled"}


def test_two_ticks_racing_on_a_due_step_run_it_once(runtime: Runtime, backend: Backend, tmp_path: Path, session: Session) -> None:
    with runtime.sessions() as setup:
        factories.population(setup, 40)
        campaign = service.create_campaign(setup, spec={
            "name": "Race", "survey": {"kind": "nps"}, "audience": {"filter": {"segment": ["smb"]}},
            "sending_window": ALWAYS_OPEN, "plan": [{"step": "invite", "offset_days": 0}, {"step": "close", "offset_days": 3}],
        }, now=runtime.clock.now())
        setup.commit()
        launch_campaign(runtime, setup, campaign.id)
        setup.commit()
    schedulers = [attach_inline_queue(build_runtime(runtime.settings)) for _ in range(2)]
    start = threading.Barrier(2)

    def race(scheduler: Runtime) -> None:
        start.wait()
        tick(scheduler)
        tick(scheduler)

    threads = [threading.Thread(target=race, args=(s,)) for s in schedulers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    for scheduler in schedulers:
        scheduler.close()

    invites = session.scalars(select(Message).where(Message.campaign_id == campaign.id, Message.step == "invite")).all()
    assert len(invites) == 40 and {(m.state, m.attempts) for m in invites} == {("sent", 1)}
    expand_outbox(runtime.settings.outbox_dir)
    outbox = [p.name for p in Path(runtime.settings.outbox_dir).iterdir()]
    assert len(outbox) == 40
    claims = session.scalars(select(PlanStep.claimed_by).where(PlanStep.campaign_id == campaign.id, PlanStep.step == "invite")).all()
    assert len(claims) == 1


def test_after_a_long_pause_only_the_latest_overdue_step_goes_out(runtime: Runtime, clock: DatabaseClock, session: Session) -> None:
    with runtime.sessions() as setup:
        factories.population(setup, 4)
        campaign = service.create_campaign(setup, spec={
            "name": "Paused", "survey": {"kind": "nps"}, "audience": {"filter": {"segment": ["smb"]}}, "sending_window": ALWAYS_OPEN,
            "plan": [{"step": "invite", "offset_days": 0}, {"step": "reminder", "offset_days": 2}, {"step": "reminder", "offset_days": 4},
                     {"step": "close", "offset_days": 10}],
        }, now=clock.now())
        setup.commit()
        launch_campaign(runtime, setup, campaign.id)
        setup.commit()
    tick(runtime)  # the invite
    with runtime.sessions() as s:
        service.pause(s, campaign_id=campaign.id)
        s.commit()
    clock.advance(timedelta(days=5))  # both reminders fall due while paused
    tick(runtime)
    with runtime.sessions() as s:
        service.resume(s, campaign_id=campaign.id)
        s.commit()
    tick(runtime)

    steps = dict(session.execute(select(PlanStep.key, PlanStep.status).where(PlanStep.campaign_id == campaign.id)).all())
    assert steps["reminder_1"] == "superseded" and steps["reminder_2"] == "done"
    sent = Counter(session.scalars(select(Message.step).where(Message.campaign_id == campaign.id, Message.state == "sent")))
    assert sent == Counter({"invite": 4, "reminder": 4})
