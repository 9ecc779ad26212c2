"""The /outbox pages outside development: off unless enabled, then for signed-in console admins only."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from dispatcher.runtime.core import Runtime
from tests.console.helpers import member, sign_in


def test_the_outbox_pages_are_off_outside_development(browser_client: TestClient, runtime: Runtime) -> None:
    assert runtime.settings.environment == "test"
    response = browser_client.get("/outbox")
    assert response.status_code == 404 and "PULSE_OUTBOX_PAGES" in response.json()["error"]["message"]


def test_enabled_outbox_pages_need_an_admin_signed_in(browser_client: TestClient, other_client: TestClient, runtime: Runtime, session: Session) -> None:
    runtime.settings.outbox_pages = True
    admin = member(session, "admin")
    ops = member(session, "ops")
    anonymous = browser_client.get("/outbox", follow_redirects=False)
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/console/sign-in?next=%2Foutbox")

    sign_in(other_client, runtime, ops.email)
    assert other_client.get("/outbox").status_code == 403
    sign_in(browser_client, runtime, admin.email)
    listing = browser_client.get("/outbox")
    assert listing.status_code == 200 and admin.email in listing.text
