"""A deferred survey goes out when its window opens, once, as the clock moves."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from campaigns.access.models import Role
from campaigns.fatigue.models import FatigueTouch
from campaigns.programs.models import Message
from channels.outbox import expand_outbox
from dispatcher.runtime.clock import DatabaseClock
from dispatcher.runtime.core import Runtime
from dispatcher.sending.scheduler import tick
from tests import factories
from tests.conftest import START
from tests.fatigue.audit import audit

Auth = Callable[[Role], dict[str, str]]


def test_a_csat_refused_for_the_minimum_gap_is_sent_when_the_gap_ends_once(client: TestClient, auth: Auth, runtime: Runtime, clock: DatabaseClock, session: Session) -> None:
    factories.contact(session, external_id="u-1", timezone="Europe/Berlin")
    session.commit()
    send = {"contact_external_id": "u-1", "trigger": "ticket_closed"}
    assert client.post("/v1/surveys/send", json={**send, "kind": "ces", "trigger": "onboarded"}, headers=auth(Role.OPS)).json()["status"] == "queued"
    clock.advance(timedelta(days=1))

    csat = client.post("/v1/surveys/send", json={**send, "kind": "csat"}, headers=auth(Role.OPS)).json()

    assert (csat["status"], csat["rule"]) == ("deferred", "min_gap_3d")
    assert csat["reason"] == "min_gap_3d: invited 2026-03-02 by transactional trigger onboarded"
    gap_ends = START + timedelta(days=3)  # Thursday 10:30 in Berlin: inside sending hours
    assert csat["not_before"].startswith("2026-03-05T09:30")
    sent_at = []
    for _ in range(4 * 6):  # six more days, a tick every six hours
        clock.advance(timedelta(hours=6))
        tick(runtime)
        session.rollback()
        message = session.get(Message, csat["message_id"])
        assert message is not None
        if message.state == "sent":
            assert message.sent_at is not None
            sent_at.append(message.sent_at)
        else:
            assert clock.now() < gap_ends + timedelta(hours=6), "not sent at the first tick after the gap ended"
    assert sent_at and sent_at[0] >= gap_ends and len(set(sent_at)) == 1  # sent once, after the gap
    expand_outbox(runtime.settings.outbox_dir)
    outbox = [p for p in Path(runtime.settings.outbox_dir).iterdir()]
    assert len(outbox) == 2  # the CES, then the CSAT: nothing twice
    touch = session.scalar(select(FatigueTouch).where(FatigueTouch.kind == "csat"))
    assert touch is not None and (touch.state, touch.at, touch.message_key) == ("sent", gap_ends, f"transactional:{csat['episode_id']}:invite")
    assert audit(session) == []


def test_a_deferred_send_holds_its_slot_against_later_triggers(runtime: Runtime, clock: DatabaseClock, session: Session) -> None:
    from tests.fatigue.helpers import transactional

    contact = factories.contact(session)
    session.commit()
    transactional(runtime, contact.id, "ces", "onboarded")
    clock.advance(timedelta(days=1))
    deferred = transactional(runtime, contact.id, "csat")
    clock.advance(timedelta(hours=1))

    later = transactional(runtime, contact.id, "csat", "order_delivered")

    assert deferred.status == "deferred"
    # Room again only 7 days after the deferred CSAT (and 30 after the CES): past the 7-day defer limit.
    assert (later.status, later.rule) == ("refused", "csat_once_per_7d")
    assert later.reason == "csat_once_per_7d: invitation reserved for 2026-03-05 by transactional trigger ticket_closed (no room within the 7-day defer limit)"
    assert audit(session) == []
