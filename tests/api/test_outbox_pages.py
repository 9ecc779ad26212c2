"""/outbox: a new user opens the survey email Pulse wrote instead of sending it."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from campaigns.programs.models import Message
from dispatcher.runtime.core import Runtime
from dispatcher.sending.scheduler import tick
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
    for html in (listing.text, page.text):  # phones show the pages at their own width, not a shrunk desktop
        assert "<meta name=viewport content='width=device-width,initial-scale=1'>" in html


def test_an_empty_outbox_says_how_to_fill_it_and_where_the_demo_writes(client: TestClient) -> None:
    empty = client.get("/outbox").text
    assert "Nothing sent yet" in empty and "A first campaign" in empty
    assert "make demo</code> shows a whole plan in an outbox of its own" in empty  # not this page's


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


def test_the_outbox_shows_campaign_step_and_kind_and_filters_by_them(client: TestClient, runtime: Runtime) -> None:
    always = {"start": "00:00", "end": "23:59", "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]}
    first = create_and_launch(runtime, contacts=2, sending_window=always, plan=[{"step": "invite", "offset_days": 0}, {"step": "close", "offset_days": 5}])
    second = create_and_launch(runtime, contacts=0, name="Support CSAT", survey={"kind": "csat"}, sending_window=always,
                               plan=[{"step": "kickoff", "offset_days": -1}, {"step": "invite", "offset_days": 0}, {"step": "close", "offset_days": 5}])
    for _ in range(3):
        tick(runtime)

    listing = client.get("/outbox").text
    assert "<th>campaign</th><th>step</th><th>kind</th>" in listing
    assert f"<a href='/outbox?campaign={first}'>{first} Spring NPS</a>" in listing
    assert "<a href='/outbox?step=invite'>invite</a>" in listing and "<a href='/outbox?kind=nps'>nps</a>" in listing

    invites = client.get("/outbox", params={"step": "invite"}).text
    assert invites.count("<a href='/outbox?step=invite'>") >= 1 and "?step=kickoff'>" not in invites
    csat = client.get("/outbox", params={"campaign": second}).text
    assert "Support CSAT" in csat and "Spring NPS</a></td>" not in csat
    assert "<option value='csat'" in csat and "selected" in csat


def test_the_outbox_lists_every_message_of_a_step_that_just_ran(client: TestClient, runtime: Runtime, session: Session) -> None:
    """The step hands its files to a spool and returns; the page expands what is pending before it lists."""
    always = {"start": "00:00", "end": "23:59", "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]}
    create_and_launch(runtime, contacts=30, sending_window=always, plan=[{"step": "invite", "offset_days": 0}, {"step": "close", "offset_days": 5}])
    for _ in range(3):
        tick(runtime)
    sent = session.scalars(select(Message.id).where(Message.state == "sent", Message.medium == "email")).all()
    assert len(sent) >= 30

    listing = client.get("/outbox").text
    assert listing.count("<tr><td>") == len(sent)
    assert all(f"-{message_id}-" in listing for message_id in sent)
