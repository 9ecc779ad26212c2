"""A person in a real browser: from the survey email to the thank-you, and the in-app widget.

Headless Chromium (``.ci/browser`` installs Debian's package) against a real
uvicorn server process on the test's database. What a scanner does (GET, HEAD,
a script submitting the form) records nothing; what a person does records once.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.orm import Session

from dispatcher.runtime.clock import DatabaseClock
from dispatcher.runtime.core import Runtime
from dispatcher.runtime.settings import Settings
from tests.answers.cdp import Browser, Page, open_browser
from tests.answers.fixtures_links import (
    IN_APP_SETTINGS,
    clear_rate_limits,
    prompts,
    response_count,
    responses,
    send,
    sent_email,
    survey,
    weekday_morning_near_today,
)
from tests.answers.live_server import free_port, live_server
from tests.backends import Backend
from tests.conftest import make_settings

CONFIRM = "document.querySelector('p.notice[role=alert]')"


@pytest.fixture(scope="module")
def port() -> int:
    return free_port()


def server_settings(backend: Backend, directory: Path, port: int) -> Settings:
    # development: the in-app demo page runs only there
    return make_settings(backend, directory, public_url=f"http://127.0.0.1:{port}", environment="development", **IN_APP_SETTINGS)


@pytest.fixture
def settings(backend: Backend, tmp_path: Path, port: int) -> Settings:
    return server_settings(backend, tmp_path, port)


@pytest.fixture(scope="module")
def server(backend: Backend, port: int, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    directory = tmp_path_factory.mktemp("server")
    with live_server(server_settings(backend, directory, port), port, directory / "uvicorn.log") as url:
        yield url


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    yield from open_browser(tmp_path_factory)


@pytest.fixture
def live(runtime: Runtime, server: str) -> str:
    """The server, with no request counted against the rate limits yet (tables are emptied by ``runtime``)."""
    clear_rate_limits(runtime.settings)
    return server


def open_answer_page(browser: Browser, url: str) -> Page:
    page = browser.new_page(url)
    page.wait_for("document.readyState === 'complete' && !!document.getElementById('answer')")
    return page


def test_a_person_clicks_a_score_in_the_email_comments_and_sees_the_thank_you(runtime: Runtime, session: Session, live: str, browser: Browser, tmp_path: Path) -> None:
    item = survey(runtime, email="erin@example.com")
    send(runtime, item)
    html = sent_email(runtime, item).get_body(("html",)).get_content()  # type: ignore[union-attr]
    link = f"{item.answer_url}?score=9"
    assert link.startswith(live) and f'href="{link}"' in html
    email = tmp_path / "email.html"
    email.write_text(html, encoding="utf-8")

    # What a mail scanner does first: fetch the link.
    assert httpx.get(link).status_code == 200 and httpx.head(link).status_code == 200
    assert response_count(session) == 0

    inbox = browser.new_page(email.as_uri())
    inbox.click("[...document.querySelectorAll('a')].find(a => a.href.endsWith('?score=9'))")
    page = browser.wait_for_page(lambda url: url.startswith(link))  # the button opens a new tab
    page.wait_for("document.readyState === 'complete' && !!document.getElementById('answer')")
    assert page.evaluate("document.getElementById('score-9').checked") is True
    page.click("document.getElementById('comment')")
    page.type("Quick and friendly support")
    page.click("document.getElementById('send')")

    page.wait_for("location.pathname.endsWith('/thanks') && document.querySelector('h1').textContent === 'Thank you!'")
    [stored] = responses(session, item)
    assert (stored.score, stored.comment, stored.medium, stored.current) == (9, "Quick and friendly support", "email", True)
    assert httpx.get(link).status_code == 200 and httpx.head(link).status_code == 200
    assert response_count(session) == 1


SCRIPTED_SUBMITS = (
    "document.getElementById('answer').submit()",
    "document.getElementById('answer').requestSubmit()",
    "document.getElementById('send').click()",
)


def test_a_script_that_submits_the_answer_form_records_nothing(runtime: Runtime, session: Session, live: str, browser: Browser) -> None:
    items = [survey(runtime) for _ in SCRIPTED_SUBMITS]
    pages = [open_answer_page(browser, f"{item.answer_url}?score=2") for item in items]

    for page, script in zip(pages, SCRIPTED_SUBMITS, strict=True):
        page.evaluate(f"setTimeout(() => {script}, 2100)")  # even after waiting longer than a person reads

    for page in pages:
        page.wait_for(f"document.readyState === 'complete' && !!{CONFIRM}", timeout=30)
        assert "Please press Send to confirm" in page.evaluate(f"{CONFIRM}.textContent")
    assert response_count(session) == 0
    pages[0].click("document.getElementById('send')")  # a person confirms on the same page
    pages[0].wait_for("location.pathname.endsWith('/thanks')")
    assert [r.score for r in responses(session, items[0])] == [2]
    assert response_count(session) == 1


def test_a_foreign_page_that_auto_posts_to_the_link_records_nothing(runtime: Runtime, session: Session, live: str, browser: Browser, tmp_path: Path) -> None:
    item = survey(runtime)
    trap = tmp_path / "scanner.html"
    trap.write_text(
        f'<form method="post" action={json.dumps(item.answer_url)}><input name="score" value="9"></form>'
        "<script>document.forms[0].submit()</script>", encoding="utf-8",
    )

    page = browser.new_page(trap.as_uri())

    page.wait_for(f"location.href.startsWith({json.dumps(live)}) && document.readyState === 'complete' && !!{CONFIRM}")
    assert response_count(session) == 0


def test_the_in_app_demo_page_shows_the_widget_and_records_the_answer(runtime: Runtime, clock: DatabaseClock, session: Session, live: str, browser: Browser) -> None:
    clock.set(weekday_morning_near_today())
    item = survey(runtime, channel="in_app")
    send(runtime, item)
    assert [p.status for p in prompts(session, item)] == ["pending"]
    widget = "document.querySelector('[data-pulse-widget]').shadowRoot"

    page = browser.new_page(f"{live}/in-app/demo?contact={item.external_id}")
    page.click(f"{widget}.querySelector('button[data-score=\"8\"]')")
    page.click(f"{widget}.getElementById('pulse-comment')")
    page.type("Nice new dashboard")
    page.click(f"{widget}.querySelector('.send')")

    page.wait_for(f"{widget}.querySelector('.thanks').textContent === 'Thank you for your feedback!'")
    [stored] = responses(session, item)
    assert (stored.score, stored.comment, stored.medium) == (8, "Nice new dashboard", "in_app")
    assert [p.status for p in prompts(session, item)] == ["answered"]
