"""Campaigns reserve at selection, release on cancel and close, and skip reminders that a message rule blocks."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from campaigns.access.models import Role
from campaigns.people.models import Contact
from campaigns.programs import service
from campaigns.programs.models import Suppression
from dispatcher.runtime.clock import DatabaseClock
from dispatcher.runtime.core import Runtime
from dispatcher.sending.budget import Touch
from dispatcher.sending.lifecycle import cancel_campaign
from dispatcher.sending.scheduler import tick
from tests import factories
from tests.conftest import START
from tests.fatigue.audit import audit
from tests.fatigue.helpers import (
    ALWAYS_OPEN,
    SHORT_PLAN,
    dismiss,
    launch,
    messages,
    set_policy,
    touches,
    transactional,
)

Auth = Callable[[Role], dict[str, str]]
ONE_SURVEY_A_MONTH = {"rules": [{"name": "one_survey_per_30d", "limit": 1, "window_days": 30}], "min_gap_days": 0}


def test_a_csat_between_pre_notice_and_invite_cannot_take_the_reserved_slot(runtime: Runtime, clock: DatabaseClock, session: Session) -> None:
    set_policy(runtime, ONE_SURVEY_A_MONTH)
    contact = factories.contact(session)
    session.commit()
    campaign = launch(runtime, [contact.id])  # pre-notice now, invite reserved for START + 3 days
    assert [m.state for m in messages(session, campaign, contact.id, "pre_notice")] == ["sent"]
    clock.advance(timedelta(days=1))

    csat = transactional(runtime, contact.id)

    assert (csat.status, csat.rule) == ("refused", "one_survey_per_30d")
    assert csat.reason is not None and csat.reason.startswith(f"one_survey_per_30d: invitation reserved for 2026-03-05 by campaign {campaign}")
    clock.advance(timedelta(days=2, minutes=1))
    tick(runtime)
    assert [m.state for m in messages(session, campaign, contact.id, "invite")] == ["sent"]
    assert audit(session) == []


def test_cancelling_a_campaign_releases_its_reservations(runtime: Runtime, clock: DatabaseClock, session: Session) -> None:
    set_policy(runtime, ONE_SURVEY_A_MONTH)
    contact = factories.contact(session)
    session.commit()
    campaign = launch(runtime, [contact.id])
    clock.advance(timedelta(days=1))
    assert transactional(runtime, contact.id).status == "refused"

    with runtime.sessions() as s:
        cancel_campaign(runtime, s, campaign)
        s.commit()

    assert [(t.step, t.state) for t in touches(session, contact.id, counting=False) if t.step == "invite"] == [("invite", "released")]
    assert transactional(runtime, contact.id).status == "queued"
    assert audit(session) == []


def test_closing_without_sending_the_invite_releases_the_reservation(runtime: Runtime, clock: DatabaseClock, session: Session) -> None:
    set_policy(runtime, ONE_SURVEY_A_MONTH)
    contact = factories.contact(session, email="leaves@example.com")
    session.commit()
    campaign = launch(runtime, [contact.id])
    session.add(Suppression(medium="email", address="leaves@example.com", reason="unsubscribed", created_at=START))
    session.commit()
    for _ in range(11):  # through the invite (skipped: unreachable) and the close at T + 7
        clock.advance(timedelta(days=1))
        tick(runtime)
    assert [m.skip_rule for m in messages(session, campaign, contact.id, "invite")] == ["unreachable"]
    invite = [t for t in touches(session, contact.id, counting=False) if t.step == "invite"]
    assert [(t.state, t.released_at is not None) for t in invite] == [("released", True)]
    assert service.get_campaign(session, campaign).status == "closed"


def test_reminders_count_against_message_rules_and_are_skipped_with_the_reason(runtime: Runtime, clock: DatabaseClock, session: Session) -> None:
    contact = factories.contact(session)
    session.commit()
    campaign = launch(runtime, [contact.id])  # pre-notice now (1), invite reserved at T = START + 3d (2)
    dismiss(runtime, contact.id)  # (3)
    assert transactional(runtime, contact.id, "ces", "onboarded").status == "queued"  # (4): 3 days before T, 2 invitations
    for _ in range(13):  # through the reminder at T + 3d, still inside the 7 days after START
        clock.advance(timedelta(hours=12))
        tick(runtime)

    [reminder] = messages(session, campaign, contact.id, "reminder")

    assert (reminder.state, reminder.skip_rule) == ("skipped", "messages_4_per_7d")
    assert reminder.skip_reason is not None and reminder.skip_reason.startswith("messages_4_per_7d: pre-notice 2026-03-02 by campaign")
    assert "dismissed an in-app prompt 2026-03-02" in reminder.skip_reason
    assert [m.state for m in messages(session, campaign, contact.id, "invite")] == ["sent"]  # the invite used its reservation
    assert [t.step for t in touches(session, contact.id)] == ["pre_notice", "dismissal", "invite", "invite"]
    assert audit(session) == []


def test_a_reminder_with_room_counts_as_a_message_but_not_as_an_invitation(runtime: Runtime, clock: DatabaseClock, session: Session) -> None:
    contact = factories.contact(session)
    session.commit()
    campaign = launch(runtime, [contact.id])
    for _ in range(7):
        clock.advance(timedelta(days=1))
        tick(runtime)
    assert [m.state for m in messages(session, campaign, contact.id, "reminder")] == ["sent"]
    steps = [(t.step, t.state) for t in touches(session, contact.id)]
    assert steps == [("pre_notice", "sent"), ("invite", "sent"), ("reminder", "sent")]
    assert audit(session) == []


def test_preview_counts_the_exclusions_of_each_rule_and_reserves_nothing(client: TestClient, auth: Auth, runtime: Runtime, session: Session) -> None:
    people = [factories.contact(session) for _ in range(5)]
    session.commit()
    earlier = service.create_campaign(session, spec={
        "name": "Earlier", "survey": {"kind": "csat"}, "audience": {"contact_ids": [people[4].id]},
    }, now=START).id  # a draft that only owns the ledger rows below
    session.commit()
    with runtime.sessions() as s:
        budget, now = runtime.budget, runtime.clock.now()
        invite_at = now + timedelta(days=3)  # the preview's planned invite (pre-notice at T - 3 days)
        contacts = {c.id: s.get_one(Contact, c.id) for c in people}

        def reserve(contact: Contact, kind: str, at_days: float) -> None:
            assert budget.reserve_invitations(s, kind=kind, campaign_id=earlier, contacts=[contact], at=invite_at + timedelta(days=at_days), now=now) == {}

        reserve(contacts[people[0].id], "nps", -60)  # nps_once_per_180d
        reserve(contacts[people[1].id], "ces", -1)  # min_gap_3d (announced by its pre-notice, so the NPS cannot preempt it)
        announce = Touch(contacts[people[1].id], "ces", "pre_notice", "email", now, campaign_id=earlier)
        assert budget.record_touches(s, [announce], now=now) == {}
        reserve(contacts[people[2].id], "csat", -20)
        reserve(contacts[people[2].id], "ces", -10)  # invitations_2_per_30d
        reminders = [Touch(contacts[people[3].id], "csat", "reminder", "email", invite_at - timedelta(days=d), campaign_id=earlier) for d in (1, 2, 3, 4)]
        assert budget.record_touches(s, reminders, now=now) == {}  # messages_4_per_7d
        s.commit()
    draft = service.create_campaign(session, spec={
        "name": "Preview", "survey": {"kind": "nps"}, "audience": {"contact_ids": [c.id for c in people]},
        "sending_window": ALWAYS_OPEN, "plan": SHORT_PLAN, "exclusions": {"min_account_age_days": 0},
    }, now=START)
    session.commit()
    before = sum(len(touches(session, c.id)) for c in people)

    preview = client.post(f"/v1/campaigns/{draft.id}/preview", headers=auth(Role.OPS)).json()

    assert preview["excluded_by_rule"] == {"nps_once_per_180d": 1, "min_gap_3d": 1, "invitations_2_per_30d": 1, "messages_4_per_7d": 1}
    assert preview["selected"] == 1
    assert sum(len(touches(session, c.id)) for c in people) == before == 9
