"""Drafts edited and deleted through the API; pause with a reason; when queued messages go out and why."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from campaigns.access.models import Role
from campaigns.programs.models import Campaign, Message
from dispatcher.runtime.clock import DatabaseClock
from dispatcher.runtime.core import Runtime
from dispatcher.sending.scheduler import tick
from tests import factories

Auth = Callable[[Role], dict[str, str]]
BASE: dict[str, Any] = {"name": "Q2 NPS", "survey": {"kind": "nps"}, "audience": {"filter": {"segment": ["smb"]}}}


def _draft(client: TestClient, auth: Auth) -> int:
    response = client.post("/v1/campaigns", json=BASE, headers=auth(Role.OPS))
    assert response.status_code == 201
    return int(response.json()["id"])


def test_a_draft_is_edited_field_by_field_and_checked_again(client: TestClient, auth: Auth) -> None:
    campaign_id = _draft(client, auth)
    edited = client.patch(f"/v1/campaigns/{campaign_id}", json={"name": "Q2 NPS (EU)", "survey": {"question": "Would you recommend us?"},
                                                                "channels": ["email", "sms"]}, headers=auth(Role.OPS))
    assert edited.status_code == 200, edited.text
    body = edited.json()
    assert body["name"] == "Q2 NPS (EU)" and body["survey"]["question"] == {"en": "Would you recommend us?"} and body["channels"] == ["email", "sms"]
    assert body["kind"] == "nps" and body["audience"] == {"filter": {"segment": ["smb"]}}

    bad = client.patch(f"/v1/campaigns/{campaign_id}", json={"sending_window": {"start": "19:00", "end": "18:00"}}, headers=auth(Role.OPS))
    assert bad.status_code == 422 and bad.json()["error"]["fields"][0]["field"] == "sending_window.end"
    assert client.get(f"/v1/campaigns/{campaign_id}", headers=auth(Role.VIEWER)).json()["name"] == "Q2 NPS (EU)"


def test_a_viewer_may_not_edit_or_delete(client: TestClient, auth: Auth) -> None:
    campaign_id = _draft(client, auth)
    assert client.patch(f"/v1/campaigns/{campaign_id}", json={"name": "x"}, headers=auth(Role.VIEWER)).status_code == 403
    assert client.delete(f"/v1/campaigns/{campaign_id}", headers=auth(Role.VIEWER)).status_code == 403


def test_a_draft_is_deleted_and_a_launched_campaign_is_not(client: TestClient, auth: Auth, session: Session) -> None:
    factories.contact(session)
    session.commit()
    gone = _draft(client, auth)
    assert client.delete(f"/v1/campaigns/{gone}", headers=auth(Role.OPS)).status_code == 204
    assert client.get(f"/v1/campaigns/{gone}", headers=auth(Role.OPS)).status_code == 404

    launched = _draft(client, auth)
    assert client.post(f"/v1/campaigns/{launched}/launch", headers=auth(Role.OPS)).status_code == 200
    refused = client.delete(f"/v1/campaigns/{launched}", headers=auth(Role.OPS))
    assert refused.status_code == 409 and "cancel" in refused.json()["error"]["message"]
    assert client.patch(f"/v1/campaigns/{launched}", json={"name": "x"}, headers=auth(Role.OPS)).status_code == 409
    assert session.scalar(select(func.count()).select_from(Campaign)) == 1


def test_pause_stores_the_reason_and_who_and_resume_clears_it(client: TestClient, auth: Auth, session: Session) -> None:
    factories.contact(session)
    session.commit()
    campaign_id = _draft(client, auth)
    client.post(f"/v1/campaigns/{campaign_id}/launch", headers=auth(Role.OPS))
    paused = client.post(f"/v1/campaigns/{campaign_id}/pause", json={"reason": "pricing email went out wrong"}, headers=auth(Role.OPS))
    assert paused.status_code == 200
    body = paused.json()
    assert body["status"] == "paused" and body["paused_reason"] == "pricing email went out wrong"
    assert body["paused_by"] == "API key test ops" and body["paused_at"] is not None
    resumed = client.post(f"/v1/campaigns/{campaign_id}/resume", headers=auth(Role.OPS)).json()
    assert resumed["status"] == "active" and resumed["paused_reason"] is None
    # A pause without a body still works, as before.
    assert client.post(f"/v1/campaigns/{campaign_id}/pause", headers=auth(Role.OPS)).json()["paused_reason"] is None


def test_progress_says_when_queued_messages_go_out_per_timezone_and_why(client: TestClient, auth: Auth, session: Session, runtime: Runtime, clock: DatabaseClock) -> None:
    # Monday 09:30 UTC: open in Berlin (10:30), closed in Los Angeles (01:30) and Tokyo (18:30).
    for zone in ("Europe/Berlin", "America/Los_Angeles", "Asia/Tokyo"):
        factories.contact(session, timezone=zone)
    session.commit()
    plan = [{"step": "invite", "offset_days": 0}, {"step": "close", "offset_days": 14}]
    campaign_id = client.post("/v1/campaigns", json={**BASE, "plan": plan}, headers=auth(Role.OPS)).json()["id"]
    client.post(f"/v1/campaigns/{campaign_id}/launch", headers=auth(Role.OPS))
    for _ in range(6):  # the invite is due at once: select, plan and hand over
        tick(runtime)
        clock.advance(timedelta(minutes=1))
    waiting = {w["timezone"]: w for w in client.get(f"/v1/campaigns/{campaign_id}", headers=auth(Role.VIEWER)).json()["waiting"]}
    queued = session.scalars(select(Message).where(Message.campaign_id == campaign_id, Message.state == "queued")).all()
    assert {m.contact_id for m in queued}, "the pre-notices for closed windows wait in the queue"
    assert "Europe/Berlin" not in waiting  # its window was open: sent
    tokyo, los_angeles = waiting["Asia/Tokyo"], waiting["America/Los_Angeles"]
    assert tokyo["local_time"].startswith("Tue") and "09:00 Asia/Tokyo" in tokyo["local_time"]
    assert los_angeles["local_time"].startswith("Mon") and "09:00 America/Los_Angeles" in los_angeles["local_time"]
    assert "outside sending hours in Asia/Tokyo" in tokyo["reason"]

    client.post(f"/v1/campaigns/{campaign_id}/pause", json={"reason": "legal review"}, headers=auth(Role.OPS))
    paused = client.get(f"/v1/campaigns/{campaign_id}", headers=auth(Role.VIEWER)).json()["waiting"]
    assert all(w["goes_at"] is None and "paused (legal review)" in w["reason"] for w in paused)
