"""Continuous programs: each day a share of the base, so everyone is asked once per period."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from campaigns.programs import service
from campaigns.programs.models import Episode, Message
from dispatcher.runtime.clock import DatabaseClock
from dispatcher.runtime.core import Runtime
from dispatcher.sending.lifecycle import launch_campaign
from dispatcher.sending.scheduler import tick
from tests import factories

ALWAYS_OPEN = {"start": "00:00", "end": "23:59", "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]}


def test_every_contact_is_invited_once_per_period_with_reminders(runtime: Runtime, clock: DatabaseClock, session: Session) -> None:
    with runtime.sessions() as setup:
        factories.population(setup, 50)
        program = service.create_campaign(setup, spec={
            # CSAT: the default fatigue policy lets it ask again after 7 days (NPS: 180).
            "name": "Always-on CSAT", "survey": {"kind": "csat"}, "audience": {"filter": {"segment": ["smb"]}},
            "mode": "continuous", "period_days": 10, "sending_window": ALWAYS_OPEN,
        }, now=clock.now())
        setup.commit()
        launch_campaign(runtime, setup, program.id)
        setup.commit()

    for _ in range(10 * 4):  # the first period, four ticks a day
        tick(runtime)
        clock.advance(timedelta(hours=6))

    waves = Counter(session.scalars(select(Episode.wave).where(Episode.campaign_id == program.id)))
    assert sum(waves.values()) == 50 and len(waves) == 10
    assert max(waves.values()) - min(waves.values()) <= 1  # an even share every day
    invited = Counter(session.scalars(select(Message.contact_id).where(Message.campaign_id == program.id, Message.step == "invite", Message.state == "sent")))
    assert len(invited) == 50 and set(invited.values()) == {1}
    reminders = session.scalar(select(Message.id).where(Message.campaign_id == program.id, Message.step == "reminder", Message.state == "sent").limit(1))
    assert reminders is not None  # waves run their own reminders

    for _ in range(10 * 4):  # the second period asks everyone again, once
        tick(runtime)
        clock.advance(timedelta(hours=6))
    session.rollback()
    invited = Counter(session.scalars(select(Message.contact_id).where(Message.campaign_id == program.id, Message.step == "invite", Message.state == "sent")))
    assert set(invited.values()) == {2}


def test_a_contact_added_mid_period_joins_the_remaining_days(runtime: Runtime, clock: DatabaseClock, session: Session) -> None:
    with runtime.sessions() as setup:
        factories.population(setup, 20)
        program = service.create_campaign(setup, spec={
            "name": "Always-on CES", "survey": {"kind": "ces"}, "audience": {"filter": {"segment": ["smb"]}},
            "mode": "continuous", "period_days": 5, "sending_window": ALWAYS_OPEN,
        }, now=clock.now())
        setup.commit()
        launch_campaign(runtime, setup, program.id)
        setup.commit()
    for day in range(5):
        if day == 2:
            with runtime.sessions() as setup:
                newcomer = factories.contact(setup).id
                setup.commit()
        tick(runtime)
        clock.advance(timedelta(days=1))
    contacts = Counter(session.scalars(select(Episode.contact_id).where(Episode.campaign_id == program.id)))
    assert len(contacts) == 21 and set(contacts.values()) == {1} and newcomer in contacts
