"""Every refusal names its rule and the touch that blocks it: one test per default rule, account scope, dismissals."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from campaigns.access.models import Role
from dispatcher.runtime.clock import DatabaseClock
from dispatcher.runtime.core import Runtime
from dispatcher.sending.scheduler import tick
from tests import factories
from tests.conftest import START
from tests.fatigue.audit import audit
from tests.fatigue.helpers import (
    dismiss,
    episode,
    launch,
    messages,
    set_policy,
    touches,
    transactional,
)

Auth = Callable[[Role], dict[str, str]]


def test_a_second_nps_within_180_days_names_the_first_reservation_then_the_sent_invite(runtime: Runtime, clock: DatabaseClock, session: Session) -> None:
    contact = factories.contact(session)
    session.commit()
    first = launch(runtime, [contact.id])  # invite reserved for START + 3 days

    second = launch(runtime, [contact.id], name="Second")

    refused = episode(session, second, contact.id)
    assert (refused.state, refused.exclusion_rule) == ("excluded", "nps_once_per_180d")
    assert refused.exclusion_reason == f"nps_once_per_180d: invitation reserved for 2026-03-05 by campaign {first}"
    clock.advance(timedelta(days=3, minutes=1))
    tick(runtime)
    [invite] = messages(session, first, contact.id, "invite")
    assert invite.state == "sent"
    [reservation] = [t for t in touches(session, contact.id) if t.step == "invite"]  # the invite took over its reservation
    assert (reservation.state, reservation.message_key, reservation.campaign_id) == ("sent", invite.idempotency_key, first)

    third = launch(runtime, [contact.id], name="Third")

    assert episode(session, third, contact.id).exclusion_reason == f"nps_once_per_180d: invited 2026-03-05 by campaign {first}"
    assert audit(session) == []


def test_a_second_ces_within_30_days_is_refused_when_waiting_would_pass_the_defer_limit(runtime: Runtime, clock: DatabaseClock, session: Session) -> None:
    contact = factories.contact(session)
    session.commit()
    assert transactional(runtime, contact.id, "ces", "onboarded").status == "queued"
    clock.advance(timedelta(days=10))

    again = transactional(runtime, contact.id, "ces", "onboarded")

    assert (again.status, again.rule) == ("refused", "ces_once_per_30d")
    assert again.reason == "ces_once_per_30d: invited 2026-03-02 by transactional trigger onboarded (no room within the 14-day defer limit)"
    assert episode_state(session, again.episode_id) == ("excluded", "ces_once_per_30d")


def test_a_second_csat_within_7_days_is_deferred_to_the_day_the_window_opens(runtime: Runtime, clock: DatabaseClock, session: Session) -> None:
    contact = factories.contact(session)
    session.commit()
    transactional(runtime, contact.id, "csat")
    clock.advance(timedelta(days=1))

    again = transactional(runtime, contact.id, "csat", "order_delivered")

    assert (again.status, again.rule) == ("deferred", "csat_once_per_7d")
    assert again.reason == "csat_once_per_7d: invited 2026-03-02 by transactional trigger ticket_closed"
    assert again.not_before == START + timedelta(days=7)


def test_a_third_invitation_within_30_days_names_both_earlier_ones(runtime: Runtime, clock: DatabaseClock, session: Session) -> None:
    contact = factories.contact(session)
    session.commit()
    transactional(runtime, contact.id, "nps", "renewal")
    clock.advance(timedelta(days=4))
    transactional(runtime, contact.id, "ces", "onboarded")
    clock.advance(timedelta(days=4))

    third = transactional(runtime, contact.id, "csat")

    assert (third.status, third.rule) == ("refused", "invitations_2_per_30d")
    assert third.reason is not None and third.reason.startswith(
        "invitations_2_per_30d: invited 2026-03-02 by transactional trigger renewal; invited 2026-03-06 by transactional trigger onboarded"
    )


def test_an_invitation_within_the_minimum_gap_names_the_nearest_invitation(runtime: Runtime, clock: DatabaseClock, session: Session) -> None:
    contact = factories.contact(session)
    session.commit()
    transactional(runtime, contact.id, "ces", "onboarded")
    clock.advance(timedelta(days=1))

    csat = transactional(runtime, contact.id, "csat")

    assert (csat.status, csat.rule) == ("deferred", "min_gap_3d")
    assert csat.reason == "min_gap_3d: invited 2026-03-02 by transactional trigger onboarded"
    assert csat.not_before == START + timedelta(days=3)


def test_account_rules_count_every_contact_of_the_account_and_no_other(runtime: Runtime, session: Session) -> None:
    set_policy(runtime, {"rules": [{"kinds": ["csat"], "limit": 1, "window_days": 7, "scope": "account"}], "min_gap_days": 0,
                         "kinds": {"csat": {"when_full": "drop"}}})
    account = factories.account(session)
    first, colleague = factories.contact(session, account=account), factories.contact(session, account=account)
    stranger = factories.contact(session)
    session.commit()
    transactional(runtime, first.id)

    refused = transactional(runtime, colleague.id)
    other = transactional(runtime, stranger.id)

    assert (refused.status, refused.rule) == ("refused", "account_csat_once_per_7d")
    assert refused.reason == f"account_csat_once_per_7d: invited 2026-03-02 by transactional trigger ticket_closed (contact {first.id} of the same account)"
    assert other.status == "queued"
    assert audit(session) == []


def test_a_dismissed_in_app_prompt_counts_as_a_touch(runtime: Runtime, clock: DatabaseClock, session: Session) -> None:
    set_policy(runtime, {"rules": [{"counts": "messages", "limit": 1, "window_days": 2}], "min_gap_days": 0})
    contact = factories.contact(session)
    session.commit()
    dismiss(runtime, contact.id)
    clock.advance(timedelta(hours=1))

    csat = transactional(runtime, contact.id)

    assert (csat.status, csat.rule) == ("deferred", "messages_once_per_2d")
    assert csat.reason == "messages_once_per_2d: dismissed an in-app prompt 2026-03-02"
    assert csat.not_before == START + timedelta(days=2)
    assert [t.step for t in touches(session, contact.id)] == ["dismissal", "invite"]


def test_the_transactional_api_answers_with_the_same_explanation(client: TestClient, auth: Auth, session: Session, clock: DatabaseClock) -> None:
    factories.contact(session, external_id="u-1")
    session.commit()
    body = {"contact_external_id": "u-1", "kind": "csat", "trigger": "ticket_closed", "respect_sending_hours": False}
    assert client.post("/v1/surveys/send", json=body, headers=auth(Role.OPS)).json()["status"] == "queued"
    clock.advance(timedelta(days=1))

    deferred = client.post("/v1/surveys/send", json=body, headers=auth(Role.OPS))

    assert deferred.status_code == 202
    answer = deferred.json()
    assert (answer["status"], answer["rule"]) == ("deferred", "csat_once_per_7d")
    assert answer["reason"] == "csat_once_per_7d: invited 2026-03-02 by transactional trigger ticket_closed"
    assert answer["not_before"].startswith("2026-03-09T09:30")


def episode_state(session: Session, episode_id: int | None) -> tuple[str, str | None]:
    from campaigns.programs.models import Episode

    session.rollback()  # a fresh snapshot: SQLite keeps a reading transaction on its first view
    found = session.get(Episode, episode_id)
    assert found is not None
    return found.state, found.exclusion_rule
