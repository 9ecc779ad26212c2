"""In-app prompts: one per step with its own id, up until the next step; every signal on its message."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from campaigns.events.models import EngagementCounter
from campaigns.programs import service
from campaigns.programs.models import Message, PlanStep
from dispatcher.runtime.clock import DatabaseClock
from dispatcher.runtime.core import Runtime
from dispatcher.runtime.settings import Settings
from dispatcher.sending.scheduler import tick
from tests import factories
from tests.answers.fixtures_links import IN_APP_SETTINGS, identity
from tests.backends import Backend
from tests.conftest import START, make_settings

PLAN = [{"step": "invite", "offset_days": 0}, {"step": "reminder", "offset_days": 3}, {"step": "close", "offset_days": 7}]


@pytest.fixture
def settings(backend: Backend, tmp_path: Path) -> Settings:
    return make_settings(backend, tmp_path, **IN_APP_SETTINGS)


def test_each_step_has_its_own_prompt_until_the_next_and_signals_count_once(runtime: Runtime, client: TestClient, clock: DatabaseClock) -> None:
    with runtime.sessions() as session:
        person = factories.contact(session, last_seen_at=START - timedelta(days=1))
        campaign = service.create_campaign(session, spec={
            "name": "In-app CES", "survey": {"kind": "ces"}, "audience": {"contact_ids": [person.id]}, "plan": PLAN,
            "channels": ["in_app"], "exclusions": {"min_account_age_days": 0},
        }, now=START)
        service.launch(session, campaign_id=campaign.id, now=START)
        session.commit()
        external_id, contact_id, campaign_id = person.external_id, person.id, campaign.id
    tick(runtime)
    tick(runtime)
    with runtime.sessions() as session:
        due = {s.key: s.due_at for s in session.scalars(select(PlanStep).where(PlanStep.campaign_id == campaign_id))}

    invite = client.get("/v1/in-app/prompt", headers=identity(external_id)).json()["prompt"]
    client.get("/v1/in-app/prompt", headers=identity(external_id))  # shown twice: one signal
    first = client.post(f"/v1/in-app/prompts/{invite['id']}/dismiss", headers=identity(external_id))
    again = client.post(f"/v1/in-app/prompts/{invite['id']}/dismiss", headers=identity(external_id))
    assert first.status_code == again.status_code == 200
    assert invite["expires_at"] == due["reminder_1"].isoformat() and invite["created_at"]

    clock.set(due["reminder_1"] + timedelta(minutes=1))
    tick(runtime)
    reminder = client.get("/v1/in-app/prompt", headers=identity(external_id)).json()["prompt"]
    assert reminder["id"] != invite["id"] and reminder["message_id"] != invite["message_id"]
    assert reminder["step"] == "reminder" and reminder["expires_at"] == due["close"].isoformat()
    assert client.post(f"/v1/in-app/prompts/{reminder['id']}/answer", json={"score": 4}, headers=identity(external_id)).status_code == 200

    with runtime.sessions() as session:
        states = {m.id: m.state for m in session.scalars(select(Message).where(Message.campaign_id == campaign_id))}
        counter = session.get(EngagementCounter, (contact_id, "in_app"))
        assert counter is not None
        assert (states[invite["message_id"]], states[reminder["message_id"]]) == ("opened", "answered")
        assert (counter.sent, counter.delivered, counter.opened, counter.answered, counter.dismissed) == (2, 2, 2, 1, 1)
