"""Signing a test client in to the console the way a person does: by the emailed link."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from campaigns.people.models import TeamMember
from channels.outbox import list_outbox, read_outbox_entry
from dispatcher.runtime.core import Runtime
from tests import factories

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
LINK = re.compile(r"(https?://[^\s\"<]+/console/sign-in/[A-Za-z0-9_\-]+)")


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, "the page has no form carrying a csrf_token"
    return found.group(1)


def member(session: Session, role: str = "admin", **values: object) -> TeamMember:
    row = factories.team_member(session, console_role=role, **values)
    session.commit()
    return row


def emailed_link(runtime: Runtime, email: str) -> str:
    """The newest sign-in link the outbox holds for ``email``."""
    for entry in list_outbox(runtime.settings.outbox_dir):
        if entry.to == email and entry.subject == "Your Pulse sign-in link":
            text = read_outbox_entry(runtime.settings.outbox_dir, entry.name).text or ""
            found = LINK.search(text)
            assert found, text
            return found.group(1)
    raise AssertionError(f"no sign-in email to {email} in the outbox")


def request_link(client: TestClient, runtime: Runtime, email: str) -> str:
    form = client.get("/console/sign-in")
    response = client.post("/console/sign-in", data={"email": email, "csrf_token": csrf_of(form.text), "next": "/console"})
    assert response.status_code == 200, response.text
    return emailed_link(runtime, email)


def sign_in(client: TestClient, runtime: Runtime, email: str) -> str:
    """Sign ``client`` in as ``email`` through the emailed link; returns the session's CSRF token."""
    link = request_link(client, runtime, email)
    path = link.split("://", 1)[1].split("/", 1)[1]
    confirm = client.get("/" + path)
    done = client.post("/" + path, data={"csrf_token": csrf_of(confirm.text), "next": "/console/sessions"}, follow_redirects=False)
    assert done.status_code == 303, done.text
    return csrf_token(client)


def csrf_token(client: TestClient) -> str:
    """The signed-in session's CSRF token, read from the sign-out form every console page carries
    (the 403 page a non-admin gets for /console/sessions carries it too)."""
    return csrf_of(client.get("/console/sessions").text)
