"""/outbox: a new user opens the survey email Pulse wrote instead of sending it."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from dispatcher.runtime import Runtime
from dispatcher.scheduler import tick
from tests import factories
from tests.dispatcher.scenario import create_and_launch


@pytest.fixture(autouse=True)
def development(runtime: Runtime) -> None:
    """The outbox pages are open in development (tests/console/test_outbox_gate.py covers elsewhere)."""
    runtime.settings.environment = "development"


def test_the_outbox_lists_messages_and_shows_the_email_with_its_links(client: TestClient, runtime: Runtime, session: Session) -> None:
    create_and_launch(runtime, contacts=3)
    tick(runtime)  # the kickoff to the team goes to the outbox

    listing = client.get("/outbox")
    assert listing.status_code == 200
    assert "cs-team@example.com" in listing.text
    name = listing.text.split("href='/outbox/")[1].split("'")[0]
    page = client.get(f"/outbox/{name}")
    assert page.status_code == 200 and "<iframe sandbox=" in page.text
    assert "Spring NPS" in page.text


def test_unknown_or_escaping_names_are_404(client: TestClient) -> None:
    assert client.get("/outbox/..%2f..%2fetc%2fpasswd").status_code == 404
    assert client.get("/outbox/20260101T000000Z-1-nobody.eml").status_code == 404


def test_the_outbox_is_gone_when_real_providers_send(client: TestClient, runtime: Runtime, session: Session) -> None:
    factories.contact(session)
    session.commit()
    runtime.settings.email_channel = "sendgrid"
    runtime.settings.sms_channel = "twilio"
    response = client.get("/outbox")
    assert response.status_code == 404 and "real providers" in response.json()["error"]["message"]
