"""In-app answers: the prompt API behind the widget, signed per contact by the product's server."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from dispatcher.runtime.clock import DatabaseClock
from dispatcher.runtime.core import Runtime
from dispatcher.runtime.settings import Settings
from dispatcher.sending.budget import Refusal, Touch
from tests.answers.fixtures_links import (
    IN_APP_SETTINGS,
    Survey,
    identity,
    prompts,
    responses,
    send,
    survey,
    weekday_morning_near_today,
)
from tests.backends import Backend
from tests.conftest import make_settings


@pytest.fixture
def settings(backend: Backend, tmp_path: Path) -> Settings:
    return make_settings(backend, tmp_path, **IN_APP_SETTINGS)


@pytest.fixture(autouse=True)
def wall_clock(clock: DatabaseClock) -> None:
    clock.set(weekday_morning_near_today())


def prompted(runtime: Runtime, **contact: Any) -> Survey:
    item = survey(runtime, channel="in_app", **contact)
    send(runtime, item)
    return item


class RecordingBudget:
    """The runtime's budget, with the touches it was asked to record kept for the test."""

    def __init__(self, budget: Any) -> None:
        self._budget = budget
        self.touches: list[Touch] = []

    def record_touches(self, session: Session, touches: Sequence[Touch], *, now: datetime) -> dict[int, Refusal]:
        self.touches.extend(touches)
        return self._budget.record_touches(session, touches, now=now)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._budget, name)


def test_the_contact_gets_their_pending_prompt_in_their_language(runtime: Runtime, link_client: TestClient) -> None:
    item = prompted(runtime, locale="de")

    body = link_client.get("/v1/in-app/prompt", headers=identity(item.external_id)).json()

    prompt = body["prompt"]
    assert prompt["id"].startswith(f"{item.public_id}~") and prompt["type"] == "survey" and prompt["kind"] == "nps"
    assert prompt["message_id"] == item.message_id and prompt["created_at"]
    assert prompt["scale"] == {"min": 0, "max": 10, "low_label": "Überhaupt nicht wahrscheinlich", "high_label": "Äußerst wahrscheinlich"}
    assert prompt["question"].startswith("Wie wahrscheinlich") and prompt["labels"]["send"] == "Senden"
    assert prompt["follow_up_question"] == "Was ist der wichtigste Grund für Ihre Bewertung?"


def test_nobody_reads_another_persons_prompt(runtime: Runtime, link_client: TestClient) -> None:
    item = prompted(runtime)
    forged = {**identity("someone-else"), "X-Pulse-Contact": item.external_id}

    refused = link_client.get("/v1/in-app/prompt", headers=forged)
    wrong_key = link_client.get("/v1/in-app/prompt", headers=identity(item.external_id, key="pk_other"))
    other_secret = link_client.get("/v1/in-app/prompt", headers=identity(item.external_id, secret="guessed"))

    assert refused.status_code == other_secret.status_code == 403
    assert refused.json()["error"]["code"] == "invalid_signature" and "X-Pulse-Signature" in refused.json()["error"]["message"]
    assert wrong_key.status_code == 401 and wrong_key.json()["error"]["code"] == "invalid_publishable_key"
    assert refused.headers["access-control-allow-origin"] == "*"


def test_a_signature_or_prompt_id_no_prompt_could_have_is_refused_not_a_500(runtime: Runtime, session: Session, link_client: TestClient) -> None:
    item = prompted(runtime)
    accented = {**identity(item.external_id), "X-Pulse-Signature": "é".encode("latin-1")}

    assert link_client.get("/v1/in-app/prompt", headers=accented).status_code == 403
    for number in ("²", "9" * 5000, str(2**40)):  # str.isdigit() passes each; none is a prompt's id
        path = f"/v1/in-app/prompts/{item.public_id}~{number}"
        answered = link_client.post(f"{path}/answer", json={"score": 9}, headers=identity(item.external_id))
        dismissed = link_client.post(f"{path}/dismiss", headers=identity(item.external_id))
        assert answered.status_code == dismissed.status_code == 404, (number[:10], answered.text, dismissed.text)
        assert answered.json()["error"]["code"] == "prompt_not_found"
    assert responses(session, item) == []
    assert [p.status for p in prompts(session, item)] == ["pending"]


def test_a_contact_without_a_prompt_gets_none(runtime: Runtime, link_client: TestClient) -> None:
    assert link_client.get("/v1/in-app/prompt", headers=identity("nobody")).json() == {"prompt": None}


def test_answering_records_once_and_closes_the_prompt(runtime: Runtime, session: Session, link_client: TestClient) -> None:
    item = prompted(runtime)

    answered = link_client.post(f"/v1/in-app/prompts/{item.public_id}/answer", json={"score": 4, "comment": "too slow"}, headers=identity(item.external_id))

    assert answered.status_code == 200
    assert answered.json() == {"status": "recorded", "score": 4, "category": "detractor", "thank_you": "Thank you for your feedback!"}
    [stored] = responses(session, item)
    assert (stored.score, stored.comment, stored.medium) == (4, "too slow", "in_app")
    assert [p.status for p in prompts(session, item)] == ["answered"]
    assert link_client.get("/v1/in-app/prompt", headers=identity(item.external_id)).json() == {"prompt": None}


def test_nobody_answers_another_persons_prompt(runtime: Runtime, session: Session, link_client: TestClient) -> None:
    item, other = prompted(runtime), prompted(runtime)

    refused = link_client.post(f"/v1/in-app/prompts/{item.public_id}/answer", json={"score": 10}, headers=identity(other.external_id))

    assert refused.status_code == 404 and refused.json()["error"]["code"] == "prompt_not_found"
    assert responses(session, item) == []


def test_a_score_off_the_scale_names_the_field(runtime: Runtime, session: Session, link_client: TestClient) -> None:
    item = prompted(runtime, locale="en")

    refused = link_client.post(f"/v1/in-app/prompts/{item.public_id}/answer", json={"score": 11}, headers=identity(item.external_id))

    assert refused.status_code == 422
    assert refused.json()["error"]["fields"][0]["field"] == "score"
    assert responses(session, item) == []


def test_dismissing_closes_the_prompt_and_counts_one_touch(runtime: Runtime, session: Session, link_client: TestClient) -> None:
    item = prompted(runtime)
    budget = RecordingBudget(runtime.budget)
    runtime.budget = budget

    first = link_client.post(f"/v1/in-app/prompts/{item.public_id}/dismiss", headers=identity(item.external_id))
    again = link_client.post(f"/v1/in-app/prompts/{item.public_id}/dismiss", headers=identity(item.external_id))

    assert first.status_code == again.status_code == 200 and first.json() == {"status": "dismissed"}
    assert [(t.step, t.medium, t.contact.id) for t in budget.touches] == [("dismissal", "in_app", item.contact_id)]
    assert [p.status for p in prompts(session, item)] == ["dismissed"]
    assert link_client.get("/v1/in-app/prompt", headers=identity(item.external_id)).json() == {"prompt": None}


def test_an_expired_prompt_is_neither_shown_nor_answered(runtime: Runtime, clock: DatabaseClock, link_client: TestClient) -> None:
    item = prompted(runtime)
    clock.advance(timedelta(days=30))

    assert link_client.get("/v1/in-app/prompt", headers=identity(item.external_id)).json() == {"prompt": None}
    late = link_client.post(f"/v1/in-app/prompts/{item.public_id}/answer", json={"score": 9}, headers=identity(item.external_id))
    assert late.status_code == 404


def test_the_widget_may_call_from_any_origin(link_client: TestClient) -> None:
    preflight = link_client.options("/v1/in-app/prompt", headers={
        "Origin": "https://app.customer.example", "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "x-pulse-key, x-pulse-contact, x-pulse-signature",
    })

    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == "*"
    assert "X-Pulse-Signature" in preflight.headers["access-control-allow-headers"]


def test_the_widget_script_is_served(link_client: TestClient) -> None:
    script = link_client.get("/widget.js")

    assert script.status_code == 200 and script.headers["content-type"].startswith("application/javascript")
    assert "PulseWidget" in script.text


def test_the_demo_page_runs_only_in_development(link_client: TestClient) -> None:
    assert link_client.get("/in-app/demo", params={"contact": "c-1"}).status_code == 404


def test_without_keys_the_in_app_api_says_what_to_set(runtime: Runtime, link_client: TestClient) -> None:
    runtime.settings.in_app_secret = None

    refused = link_client.get("/v1/in-app/prompt", headers=identity("c-1"))

    assert refused.status_code == 503 and "PULSE_IN_APP_SECRET" in refused.json()["error"]["message"]
