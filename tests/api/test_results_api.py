"""/v1/campaigns/{id}/results as JSON and CSV, and share links, on the seeded campaign (tests/results/seed.py)."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from campaigns.access.models import Role
from dispatcher.runtime.clock import DatabaseClock
from dispatcher.runtime.core import Runtime
from tests import factories
from tests.results.seed import answer, seed

Auth = Callable[[Role], dict[str, str]]


def test_results_json_has_the_headline_segments_and_lists(client: TestClient, auth: Auth, session: Session) -> None:
    seeded = seed(session)
    session.commit()
    body = client.get(f"/v1/campaigns/{seeded.campaign.id}/results", headers=auth(Role.VIEWER)).json()
    assert body["headline"] == {"kind": "nps", "answers": 8, "score": 12.5, "margin": 64.2, "share_positive": 50.0,
                                "by_category": {"detractor": 3, "passive": 1, "promoter": 4}, "small": True}
    assert [g["name"] for g in body["segments"]["renewal"]] == ["within_90_days", "within_91_to_120_days", "later", "unknown"]
    assert body["lists"]["at_risk"]["total"] == 1 and body["score_change"]["improved"] == 1
    assert body["insights"]["response_rate"] == 80.0


def test_results_csv_has_one_row_per_answer_and_defuses_formulas(client: TestClient, auth: Auth, session: Session) -> None:
    seeded = seed(session)
    answer(session, seeded.campaign, factories.contact(session, account=seeded.accounts[3]), 2, comment="=HYPERLINK(\"http://evil\")")
    session.commit()
    response = client.get(f"/v1/campaigns/{seeded.campaign.id}/results.csv", headers=auth(Role.VIEWER))
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert len(rows) == 9
    assert {r["campaign_name"] for r in rows} == {"Spring NPS"} and {"segment", "renewal_on", "contact_email", "account_name"} <= set(rows[0])
    assert rows[-1]["comment"].startswith("'=HYPERLINK")

    at_risk = list(csv.DictReader(io.StringIO(client.get(f"/v1/campaigns/{seeded.campaign.id}/results/at_risk.csv", headers=auth(Role.VIEWER)).text)))
    assert [(r["score"], r["renewal_on"]) for r in at_risk] == [("3", "2026-04-01")]
    assert client.get(f"/v1/campaigns/{seeded.campaign.id}/results/nobody.csv", headers=auth(Role.VIEWER)).status_code == 404


def test_a_share_link_opens_the_report_without_sign_in_until_revoked_or_expired(client: TestClient, auth: Auth, session: Session, runtime: Runtime, clock: DatabaseClock) -> None:
    from datetime import timedelta

    seeded = seed(session)
    session.commit()
    made = client.post(f"/v1/campaigns/{seeded.campaign.id}/share-links", json={"days": 7}, headers=auth(Role.OPS))
    assert made.status_code == 201
    link = made.json()
    path = "/" + link["url"].split("://", 1)[1].split("/", 1)[1]
    page = client.get(path)
    assert page.status_code == 200 and "Spring NPS" in page.text and "12.5" in page.text

    tampered = path[:-3] + ("aaa" if not path.endswith("aaa") else "bbb")
    assert client.get(tampered).status_code == 404
    assert client.delete(f"/v1/campaigns/{seeded.campaign.id}/share-links/{link['id']}", headers=auth(Role.OPS)).status_code == 204
    assert client.get(path).status_code == 404

    second = client.post(f"/v1/campaigns/{seeded.campaign.id}/share-links", json={"days": 1}, headers=auth(Role.OPS)).json()
    clock.advance(timedelta(days=2))
    assert client.get("/" + second["url"].split("://", 1)[1].split("/", 1)[1]).status_code == 404
    statuses = [s["status"] for s in client.get(f"/v1/campaigns/{seeded.campaign.id}/share-links", headers=auth(Role.VIEWER)).json()]
    assert statuses == ["expired", "revoked"]
