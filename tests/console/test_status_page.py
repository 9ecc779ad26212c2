"""/console/status: ops and admins see the workers, what waits and why, what is due and provider errors."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from campaigns.access.console import first_admin, issue_sign_in_link
from dispatcher.loop.console_mail import sign_in_url
from dispatcher.runtime.clock import DatabaseClock
from dispatcher.runtime.core import Runtime
from dispatcher.sending.scheduler import tick
from tests.answers.cdp import Browser, chromium_path
from tests.answers.live_server import free_port, live_server
from tests.backends import Backend
from tests.conftest import make_settings
from tests.console.browser_steps import shoot
from tests.console.helpers import member, sign_in
from tests.dispatcher.scenario import create_and_launch
from tests.servers import missing

INVITE_ONLY = [{"step": "invite", "offset_days": 0}, {"step": "close", "offset_days": 5}]


def _waiting_campaign(runtime: Runtime, clock: DatabaseClock) -> int:
    """A campaign whose invites wait for Monday's sending window (launched on a Saturday evening)."""
    now = clock.now()
    clock.set((now + timedelta(days=(5 - now.weekday()) % 7)).replace(hour=20, minute=0, second=0, microsecond=0))
    campaign_id = create_and_launch(runtime, 6, plan=INVITE_ONLY)
    tick(runtime)
    tick(runtime)
    return campaign_id


def test_ops_see_what_waits_and_why(browser_client: TestClient, runtime: Runtime, clock: DatabaseClock, session: Session) -> None:
    campaign_id = _waiting_campaign(runtime, clock)
    sign_in(browser_client, runtime, member(session, "ops").email)

    html = browser_client.get("/console/status").text

    assert "none answering" in html and "started without its in-process worker" in html  # the test's app runs none
    assert "<td>invite</td><td>6</td>" in html
    assert f'<a href="/console/campaigns/{campaign_id}">campaign {campaign_id}</a>' in html
    assert "outside sending hours" in html
    assert 'href="/console/status"' in html  # the navigation names the page


def test_viewers_may_not_and_strangers_sign_in_first(browser_client: TestClient, other_client: TestClient, runtime: Runtime, session: Session) -> None:
    sign_in(browser_client, runtime, member(session, "viewer").email)
    assert browser_client.get("/console/status").status_code == 403
    redirected = other_client.get("/console/status", follow_redirects=False)
    assert redirected.status_code == 303 and "/console/sign-in" in redirected.headers["location"]


# `pulse run`'s shape: the app with its in-process worker ticking (the shared helper serves without one).
SERVE_WITH_WORKER = """
import sys, uvicorn
from api.app import create_app
uvicorn.run(create_app(start_worker=True), host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
"""


def test_status_page_in_a_browser(backend: Backend, runtime: Runtime, clock: DatabaseClock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Screenshots at desktop and phone widths, signed in through a one-time link as a person would."""
    import tests.answers.live_server as served

    monkeypatch.setattr(served, "SERVE", SERVE_WITH_WORKER)
    if chromium_path() is None:
        missing("chromium is not installed: run .ci/browser")
    _waiting_campaign(runtime, clock)
    port = free_port()
    settings = make_settings(backend, tmp_path, public_url=f"http://127.0.0.1:{port}", tick_seconds=0.5)
    settings.database_url = runtime.settings.database_url
    with runtime.sessions() as session, session.begin():
        admin = first_admin(session, email="ops-lead@example.com", now=clock.now())
        assert admin is not None
        link = sign_in_url(runtime, issue_sign_in_link(session, member=admin, now=clock.now(), ttl=timedelta(minutes=15)))
    link = link.replace(runtime.settings.public_url.rstrip("/"), f"http://127.0.0.1:{port}")
    browser = Browser(tmp_path / "profile")
    try:
        with live_server(settings, port, tmp_path / "uvicorn.log") as url:
            page = browser.new_page()
            page.goto(link)
            page.click("document.querySelector('main button[type=submit], form button')")
            page.wait_for("location.pathname.startsWith('/console') && !location.pathname.startsWith('/console/sign-in')")
            page.goto(f"{url}/console/status")
            assert "outside sending hours" in page.wait_for("document.querySelector('#oldest')?.textContent")
            assert "1 alive" in page.evaluate("document.querySelector('#workers-title').textContent")
            shoot(page, "console-status", full=True)
    finally:
        browser.close()
