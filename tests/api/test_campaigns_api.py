"""/v1/campaigns: create, bad input named by field, preview, lifecycle, progress."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from campaigns.access.models import Role
from campaigns.programs.models import Campaign, Episode, Message, PlanStep, Suppression
from dispatcher.runtime.core import Runtime
from dispatcher.sending.scheduler import tick
from tests import factories
from tests.conftest import START

Auth = Callable[[Role], dict[str, str]]
BASE: dict[str, Any] = {"name": "Q2 NPS", "survey": {"kind": "nps"}, "audience": {"filter": {"segment": ["smb"]}}}


def with_(**changes: Any) -> dict[str, Any]:
    return {**BASE, **changes}


BAD_INPUT = [
    (with_(survey={"kind": "xps"}), "survey.kind"),
    (with_(plan=[{"step": "invite", "offset_days": 0}, {"step": "pre_notice", "offset_days": -3}, {"step": "close", "offset_days": 14}]), "plan[1].offset_days"),
    (with_(plan=[{"step": "invite", "offset_days": 0}, {"step": "reminder", "offset_days": 20}, {"step": "close", "offset_days": 14}]), "plan[1].offset_days"),
    (with_(plan=[{"step": "invite", "offset_days": 0}]), "plan"),
    (with_(plan=[{"step": "invite", "offset_days": 0}, {"step": "nag", "offset_days": 2}, {"step": "close", "offset_days": 9}]), "plan[1].step"),
    (with_(plan=[]), "plan"),
    (with_(plan=[{"step": "invite", "offset_days": 0}, {"step": "close", "offset_days": 1e10}]), "plan[1].offset_days"),
    (with_(audience={}), "audience"),
    (with_(channel_choice="smart"), "channel_choice"),
    (with_(audience={"contact_ids": []}), "audience.contact_ids"),
    (with_(audience={"filter": {"segmnet": ["smb"]}}), "audience.filter.segmnet"),
    (with_(sending_window={"start": "25:00", "end": "18:00"}), "sending_window.start"),
    (with_(sending_window={"start": "18:00", "end": "09:00"}), "sending_window.end"),
    (with_(sending_window={"start": "24:00", "end": "24:00"}), "sending_window.start"),  # only an end may be midnight
    (with_(sending_window={"days": ["someday"]}), "sending_window.days"),
    (with_(timezone="Mars/Olympus"), "timezone"),
    (with_(channels=["fax"]), "channels[0]"),
    (with_(internal_recipients={"emails": ["not-an-email"]}), "internal_recipients.emails[0]"),
    (with_(mode="continuous"), "period_days"),
    (with_(exclusions={"min_account_age_days": -1}), "exclusions.min_account_age_days"),
]


@pytest.mark.parametrize(("body", "field"), BAD_INPUT, ids=[f for _, f in BAD_INPUT])
def test_bad_campaign_is_422_naming_the_field_and_nothing_is_stored(client: TestClient, auth: Auth, session: Session, body: dict, field: str) -> None:
    response = client.post("/v1/campaigns", json=body, headers=auth(Role.OPS))
    assert response.status_code == 422, response.text
    assert response.json()["error"]["fields"][0]["field"] == field
    assert session.scalar(select(func.count()).select_from(Campaign)) == 0


def test_a_nan_offset_is_422_not_a_crash(client: TestClient, auth: Auth, session: Session) -> None:
    body = '{"name": "x", "survey": {"kind": "nps"}, "audience": {"contact_ids": [1]}, "plan": [{"step": "invite", "offset_days": 0}, {"step": "reminder", "offset_days": NaN}, {"step": "close", "offset_days": 9}]}'
    response = client.post("/v1/campaigns", content=body, headers={**auth(Role.OPS), "Content-Type": "application/json"})
    assert response.status_code == 422
    assert response.json()["error"]["fields"][0]["field"] == "plan[1].offset_days"
    assert session.scalar(select(func.count()).select_from(Campaign)) == 0


def test_create_defaults_to_the_nps_plan_and_a_draft(client: TestClient, auth: Auth) -> None:
    response = client.post("/v1/campaigns", json=BASE, headers=auth(Role.OPS))
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "draft"
    assert [s["step"] for s in body["plan"]] == ["kickoff", "pre_notice", "invite", "reminder", "reminder", "thank_you", "close", "summary"]
    assert body["sending_window"]["start"] == "09:00"


def test_preview_counts_exclusions_samples_channels_and_schedules_without_writing(client: TestClient, auth: Auth, session: Session, runtime: Runtime) -> None:
    fresh = factories.account(session, created_on=START.date() - timedelta(days=5))
    churned = factories.account(session, lifecycle_stage="churned")
    factories.population(session, 12)
    factories.contact(session, account=fresh)
    factories.contact(session, account=churned)
    factories.contact(session, email=None)
    opted_out = factories.contact(session, email="gone@example.com")
    factories.contact(session, role="billing")
    session.add(Suppression(medium="email", address="gone@example.com", reason="unsubscribed", created_at=START))
    session.commit()
    body = with_(exclusions={"custom": [{"name": "no billing", "filter": {"role": ["billing"]}}]}, send_at=(START + timedelta(days=7)).isoformat())
    campaign = client.post("/v1/campaigns", json=body, headers=auth(Role.OPS)).json()

    response = client.post(f"/v1/campaigns/{campaign['id']}/preview", headers=auth(Role.OPS))

    assert response.status_code == 200, response.text
    preview = response.json()
    assert preview["selected"] == 12
    assert preview["excluded_by_rule"] == {"account_too_new": 1, "churned": 1, "unreachable": 2, "custom:no billing": 1}
    assert {s["channel"] for s in preview["sample"]} == {"email"} and len(preview["sample"]) == 12
    assert [(s["key"], s["due_at"][:10]) for s in preview["schedule"]][:3] == [("kickoff", "2026-03-04"), ("pre_notice", "2026-03-06"), ("invite", "2026-03-09")]
    assert session.scalar(select(func.count()).select_from(Episode)) == 0
    assert session.scalar(select(func.count()).select_from(Message)) == 0
    assert opted_out.id not in {s["contact_id"] for s in preview["sample"]}
    # Each exclusion rule shows whom it keeps out, and why.
    assert {rule: len(people) for rule, people in preview["excluded_sample"].items()} == preview["excluded_by_rule"]
    [gone] = [p for p in preview["excluded_sample"]["unreachable"] if p["contact_id"] == opted_out.id]
    assert gone["reason"] == "unreachable on every allowed channel (email: opted out or bounced)"
    assert preview["excluded_sample"]["custom:no billing"][0]["reason"]
    assert preview["predicted_media"] == {"email": 12}


def test_preview_says_when_a_channel_has_no_credentials(client: TestClient, auth: Auth, session: Session, runtime: Runtime) -> None:
    runtime.settings.sms_channel = "twilio"  # no SID or token configured
    factories.population(session, 3, phone="+14155550100")
    session.commit()
    campaign = client.post("/v1/campaigns", json=with_(channels=["sms", "email"]), headers=auth(Role.OPS)).json()
    preview = client.post(f"/v1/campaigns/{campaign['id']}/preview", headers=auth(Role.OPS)).json()
    assert "PULSE_TWILIO_ACCOUNT_SID" in preview["unavailable_channels"]["sms"]
    assert preview["channels"]["sms"] is None
    assert {s["channel"] for s in preview["sample"]} == {"email"}


def test_lifecycle_conflicts_are_409_and_change_nothing(client: TestClient, auth: Auth, session: Session) -> None:
    factories.population(session, 2)
    session.commit()
    headers = auth(Role.OPS)
    campaign = client.post("/v1/campaigns", json=BASE, headers=headers).json()
    url = f"/v1/campaigns/{campaign['id']}"
    assert client.post(f"{url}/pause", headers=headers).status_code == 409
    assert client.post(f"{url}/launch", headers=headers).json()["status"] == "active"
    again = client.post(f"{url}/launch", headers=headers)
    assert again.status_code == 409 and "only a draft" in again.json()["error"]["message"]
    assert client.post(f"{url}/you-said-we-did", json={"text": "We fixed it"}, headers=headers).status_code == 409
    assert client.post(f"{url}/pause", headers=headers).json()["status"] == "paused"
    assert client.post(f"{url}/resume", headers=headers).json()["status"] == "active"
    assert client.post(f"{url}/cancel", headers=headers).json()["status"] == "cancelled"
    assert client.post(f"{url}/resume", headers=headers).status_code == 409


def test_launch_with_an_empty_audience_is_422(client: TestClient, auth: Auth) -> None:
    headers = auth(Role.OPS)
    campaign = client.post("/v1/campaigns", json=with_(audience={"filter": {"tier": ["nobody"]}}), headers=headers).json()
    response = client.post(f"/v1/campaigns/{campaign['id']}/launch", headers=headers)
    assert response.status_code == 422 and response.json()["error"]["fields"][0]["field"] == "audience"
    assert client.get(f"/v1/campaigns/{campaign['id']}", headers=headers).json()["status"] == "draft"


def test_launch_in_the_past_is_422(client: TestClient, auth: Auth, session: Session) -> None:
    factories.population(session, 1)
    session.commit()
    headers = auth(Role.OPS)
    campaign = client.post("/v1/campaigns", json=with_(send_at=(START - timedelta(days=1)).isoformat()), headers=headers).json()
    response = client.post(f"/v1/campaigns/{campaign['id']}/launch", headers=headers)
    assert response.status_code == 422 and response.json()["error"]["fields"][0]["field"] == "send_at"


def test_progress_and_episodes_after_a_tick(client: TestClient, auth: Auth, session: Session, runtime: Runtime) -> None:
    factories.population(session, 6)
    factories.contact(session, email=None)
    session.commit()
    headers = auth(Role.OPS)
    campaign = client.post("/v1/campaigns", json=BASE, headers=headers).json()
    client.post(f"/v1/campaigns/{campaign['id']}/launch", headers=headers)
    tick(runtime)
    detail = client.get(f"/v1/campaigns/{campaign['id']}", headers=auth(Role.VIEWER)).json()
    assert detail["episodes_by_state"] == {"selected": 6, "excluded": 1}
    assert detail["excluded_by_rule"] == {"unreachable": 1}
    kickoff = next(s for s in detail["steps"] if s["key"] == "kickoff")
    assert kickoff["status"] == "done" and kickoff["sent"] == 1  # the one account owner of the six; an internal step that ran is done
    excluded = client.get(f"/v1/campaigns/{campaign['id']}/episodes", params={"state": "excluded"}, headers=headers).json()["items"]
    assert len(excluded) == 1 and "email: no address" in excluded[0]["exclusion_reason"]
    assert session.scalar(select(func.count()).select_from(PlanStep).where(PlanStep.campaign_id == campaign["id"])) == 8
