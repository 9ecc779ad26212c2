"""GET /v1/contacts/{id}/fatigue: the ledger and, per kind, the earliest date the contact may be surveyed again."""

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
from tests.fatigue.helpers import dismiss, transactional

Auth = Callable[[Role], dict[str, str]]


def test_shows_the_ledger_and_the_earliest_date_per_kind(client: TestClient, auth: Auth, runtime: Runtime, clock: DatabaseClock, session: Session) -> None:
    contact = factories.contact(session)
    session.commit()
    transactional(runtime, contact.id, "ces", "onboarded")
    tick(runtime)  # sends it
    clock.advance(timedelta(days=1))
    dismiss(runtime, contact.id)

    view = client.get(f"/v1/contacts/{contact.id}/fatigue", headers=auth(Role.VIEWER))

    assert view.status_code == 200, view.text
    body = view.json()
    assert body["contact_id"] == contact.id and body["policy_version"] == 0
    kinds = body["kinds"]
    assert (kinds["ces"]["earliest_on"], kinds["ces"]["blocked_by"]) == ("2026-04-01", "ces_once_per_30d")
    assert kinds["ces"]["reason"] == "ces_once_per_30d: invited 2026-03-02 by transactional trigger onboarded"
    assert (kinds["nps"]["earliest_at"][:16], kinds["nps"]["blocked_by"]) == ("2026-03-05T09:30", "min_gap_3d")
    assert kinds["csat"]["earliest_on"] == "2026-03-05"
    assert [(t["step"], t["kind"], t["state"], t["trigger"]) for t in body["touches"]] == [
        ("dismissal", "nps", "sent", None), ("invite", "ces", "sent", "onboarded"),
    ]
    assert body["touches"][1]["at"].startswith("2026-03-02T09:30") and body["touches"][1]["medium"] == "email"


def test_a_contact_with_nothing_in_the_way_may_be_surveyed_now(client: TestClient, auth: Auth, session: Session) -> None:
    contact = factories.contact(session)
    session.commit()
    body = client.get(f"/v1/contacts/{contact.id}/fatigue", headers=auth(Role.OPS)).json()
    assert {k: (v["earliest_at"][:16], v["blocked_by"]) for k, v in body["kinds"].items()} == {
        kind: ("2026-03-02T09:30", None) for kind in ("nps", "ces", "csat")
    }
    assert body["touches"] == []


def test_a_future_reservation_pushes_the_earliest_date_past_it(client: TestClient, auth: Auth, runtime: Runtime, clock: DatabaseClock, session: Session) -> None:
    from tests.fatigue.helpers import launch

    contact = factories.contact(session)
    session.commit()
    launch(runtime, [contact.id])  # NPS invite reserved for 2026-03-05 09:30
    clock.advance(timedelta(hours=1))  # now less than 3 days before it

    kinds = client.get(f"/v1/contacts/{contact.id}/fatigue", headers=auth(Role.VIEWER)).json()["kinds"]

    assert kinds["nps"]["earliest_on"] == "2026-09-01"  # 180 days after the reserved invite
    assert kinds["nps"]["reason"].startswith("nps_once_per_180d: invitation reserved for 2026-03-05 by campaign")
    assert (kinds["csat"]["earliest_at"][:16], kinds["csat"]["blocked_by"]) == ("2026-03-08T09:30", "min_gap_3d")  # the gap holds on both sides


def test_unknown_contact_is_404_and_marketers_may_not_look(client: TestClient, auth: Auth, session: Session) -> None:
    contact = factories.contact(session)
    session.commit()
    assert client.get("/v1/contacts/999999/fatigue", headers=auth(Role.VIEWER)).status_code == 404
    assert client.get(f"/v1/contacts/{contact.id}/fatigue", headers=auth(Role.MARKETER)).status_code == 403
