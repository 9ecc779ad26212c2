"""Signing in to the console by a one-time emailed link; sessions, sign-out, CSRF and roles."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from campaigns.access.models import ConsoleSession
from campaigns.programs.models import Message
from channels.outbox import list_outbox
from dispatcher.runtime.clock import DatabaseClock
from dispatcher.runtime.core import Runtime
from tests.console.helpers import LINK, csrf_of, emailed_link, member, request_link, sign_in


def _path(link: str) -> str:
    return "/" + link.split("://", 1)[1].split("/", 1)[1]


def test_a_member_signs_in_by_the_emailed_link_and_lands_where_they_were_going(browser_client: TestClient, runtime: Runtime, session: Session) -> None:
    admin = member(session, "admin")
    assert browser_client.get("/console/sessions", follow_redirects=False).headers["location"] == "/console/sign-in?next=%2Fconsole%2Fsessions"

    link = request_link(browser_client, runtime, admin.email)
    assert link.startswith("https://pulse.test/console/sign-in/")
    confirm = browser_client.get(_path(link))
    assert confirm.status_code == 200 and "finish-sign-in" in confirm.text  # a GET spends nothing
    done = browser_client.post(_path(link), data={"csrf_token": csrf_of(confirm.text), "next": "/console/sessions"}, follow_redirects=False)

    assert done.status_code == 303 and done.headers["location"] == "/console/sessions"
    cookie = done.headers["set-cookie"].lower()
    assert "pulse_console=" in cookie and "httponly" in cookie and "samesite=lax" in cookie and "secure" in cookie
    sessions = browser_client.get("/console/sessions")
    assert sessions.status_code == 200 and admin.email in sessions.text


def test_the_bare_address_leads_a_visitor_to_the_console_sign_in(browser_client: TestClient) -> None:
    home = browser_client.get("/")
    assert home.status_code == 200 and home.url.path == "/console/sign-in"  # not a JSON 404 at the address `pulse run` prints


def test_an_unknown_email_gets_the_same_answer_and_no_email(browser_client: TestClient, runtime: Runtime, session: Session) -> None:
    member(session, "admin", email="known@example.com")
    form = browser_client.get("/console/sign-in")
    response = browser_client.post("/console/sign-in", data={"email": "stranger@example.com", "csrf_token": csrf_of(form.text)})
    assert response.status_code == 200 and "a sign-in link is on its way" in response.text
    assert not [e for e in list_outbox(runtime.settings.outbox_dir) if e.to == "stranger@example.com"]


def test_a_used_link_is_refused_the_second_time(browser_client: TestClient, other_client: TestClient, runtime: Runtime, session: Session) -> None:
    admin = member(session, "ops")
    link = request_link(browser_client, runtime, admin.email)
    token = csrf_of(browser_client.get(_path(link)).text)
    assert browser_client.post(_path(link), data={"csrf_token": token}, follow_redirects=False).status_code == 303

    other_token = csrf_of(other_client.get(_path(link)).text)
    again = other_client.post(_path(link), data={"csrf_token": other_token}, follow_redirects=False)
    assert again.status_code == 400 and "already used" in again.text
    assert "pulse_console" not in again.headers.get("set-cookie", "")


def test_a_forged_or_expired_link_is_refused(browser_client: TestClient, runtime: Runtime, session: Session, clock: DatabaseClock) -> None:
    admin = member(session, "admin")
    token = csrf_of(browser_client.get("/console/sign-in/forged-secret").text)
    assert browser_client.post("/console/sign-in/forged-secret", data={"csrf_token": token}).status_code == 400

    link = request_link(browser_client, runtime, admin.email)
    clock.advance(timedelta(minutes=runtime.settings.console_link_minutes + 1))
    expired = browser_client.post(_path(link), data={"csrf_token": csrf_of(browser_client.get(_path(link)).text)}, follow_redirects=False)
    assert expired.status_code == 400


def test_forms_without_the_csrf_token_are_refused(browser_client: TestClient, runtime: Runtime, session: Session) -> None:
    admin = member(session, "admin")
    browser_client.get("/console/sign-in")
    assert browser_client.post("/console/sign-in", data={"email": admin.email}).status_code == 403

    sign_in(browser_client, runtime, admin.email)
    refused = browser_client.post("/console/sign-out", data={"csrf_token": "not-the-token"})
    assert refused.status_code == 403 and "csrf_token" in refused.text
    assert browser_client.get("/console/sessions").status_code == 200  # still signed in


def test_sign_out_ends_the_session(browser_client: TestClient, runtime: Runtime, session: Session) -> None:
    admin = member(session, "admin")
    token = sign_in(browser_client, runtime, admin.email)
    out = browser_client.post("/console/sign-out", data={"csrf_token": token}, follow_redirects=False)
    assert out.status_code == 303
    session.expire_all()
    assert session.scalar(select(ConsoleSession.revoked_at)) is not None
    assert browser_client.get("/console/sessions", follow_redirects=False).status_code == 303


def test_an_admin_sees_and_revokes_other_sessions(browser_client: TestClient, other_client: TestClient, runtime: Runtime, session: Session) -> None:
    admin = member(session, "admin")
    viewer = member(session, "viewer")
    token = sign_in(browser_client, runtime, admin.email)
    sign_in(other_client, runtime, viewer.email)
    listing = browser_client.get("/console/sessions")
    assert viewer.email in listing.text
    viewer_session = session.scalar(select(ConsoleSession.id).where(ConsoleSession.team_member_id == viewer.id))

    assert browser_client.post(f"/console/sessions/{viewer_session}/revoke", data={"csrf_token": token}, follow_redirects=False).status_code == 303
    assert other_client.get("/console/sessions", follow_redirects=False).headers["location"].startswith("/console/sign-in")


def test_a_viewer_may_not_open_the_admin_pages(browser_client: TestClient, runtime: Runtime, session: Session) -> None:
    viewer = member(session, "viewer")
    token = sign_in(browser_client, runtime, viewer.email)
    page = browser_client.get("/console/sessions")
    assert page.status_code == 403 and "viewer" in page.text
    assert browser_client.post("/console/sessions/1/revoke", data={"csrf_token": token}).status_code == 403


def test_console_link_prints_a_link_for_the_first_admin(runtime: Runtime, session: Session, monkeypatch: object) -> None:
    import os

    from api.cli import app

    env = {"PULSE_DATABASE_URL": runtime.settings.database_url, "PULSE_PUBLIC_URL": "https://pulse.test", "PULSE_ENVIRONMENT": "development"}
    result = CliRunner().invoke(app, ["console-link", "boss@example.com"], env={**os.environ, **env})
    assert result.exit_code == 0, result.output
    assert LINK.search(result.output) and "(admin)" in result.output

    second = CliRunner().invoke(app, ["console-link", "someone@example.com"], env={**os.environ, **env})
    assert second.exit_code != 0 and "not a team member" in second.output


def test_sign_in_email_goes_through_the_email_channel(browser_client: TestClient, runtime: Runtime, session: Session) -> None:
    admin = member(session, "admin")
    request_link(browser_client, runtime, admin.email)
    message = session.scalar(select(Message).where(Message.step == "sign_in"))
    assert message is not None and message.recipient == admin.email and message.state == "sent"
    assert emailed_link(runtime, admin.email).startswith("https://pulse.test/console/sign-in/")


def test_only_an_admin_key_sets_a_members_console_role(client: TestClient, auth: object) -> None:
    from campaigns.access.models import Role

    body = {"name": "Ada", "email": "ada@example.com", "console_role": "ops"}
    refused = client.post("/v1/team", json=body, headers=auth(Role.OPS))  # type: ignore[operator]
    assert refused.status_code == 403 and "console_role" in refused.json()["error"]["message"]
    made = client.post("/v1/team", json=body, headers=auth(Role.ADMIN))  # type: ignore[operator]
    assert made.status_code == 200 and made.json()["console_role"] == "ops"


def test_at_most_five_links_an_hour_are_emailed_to_one_member(browser_client: TestClient, runtime: Runtime, session: Session) -> None:
    admin = member(session, "admin")
    for _ in range(7):
        request_link(browser_client, runtime, admin.email)
    sent = [e for e in list_outbox(runtime.settings.outbox_dir) if e.to == admin.email]
    assert len(sent) == 5
