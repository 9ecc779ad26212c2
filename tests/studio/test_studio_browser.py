"""A marketer in a real browser: sign in by emailed link, edit the German NPS invite's subject,
watch the preview, fix a validation error, publish, test-send, and see the next send use it.

Headless Chromium against a real uvicorn process on the test's database; the
screenshots of the editor (desktop 1280x800, phone 390x844) are saved under
``artifacts/screenshots/``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from campaigns.access.models import Role
from campaigns.access.service import create_key
from campaigns.programs.models import Message, MessageContent
from channels.outbox import list_outbox
from dispatcher.runtime.core import Runtime
from dispatcher.runtime.settings import Settings
from tests import factories
from tests.answers.cdp import Browser, Page, open_browser
from tests.answers.live_server import free_port, live_server
from tests.backends import Backend
from tests.conftest import make_settings
from tests.console.browser_steps import shoot, sign_in_by_email

MARKETER = "mara@acme.example"
SUBJECT = "document.getElementById('preview-subject').textContent"
SUBJECT_EDITOR = "document.querySelector('.editor[data-part=subject] .CodeMirror')"


@pytest.fixture(scope="module")
def port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("studio-server")


def server_settings(backend: Backend, directory: Path, port: int) -> Settings:
    return make_settings(backend, directory, public_url=f"http://127.0.0.1:{port}", environment="development")


@pytest.fixture
def settings(backend: Backend, shared: Path, port: int) -> Settings:
    # The test and the server share the outbox: sign-in links and test-sends land where both look.
    return server_settings(backend, shared, port)


@pytest.fixture(scope="module")
def server(backend: Backend, port: int, shared: Path) -> Iterator[str]:
    with live_server(server_settings(backend, shared, port), port, shared / "uvicorn.log") as url:
        yield url


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    yield from open_browser(tmp_path_factory)


def replace_subject(page: Page, text: str) -> None:
    """Select the subject editor's text and type over it, as a person does."""
    page.click(SUBJECT_EDITOR)
    page.evaluate(f"{SUBJECT_EDITOR}.CodeMirror.execCommand('selectAll')")
    page.type(text)


def test_a_marketer_edits_previews_fixes_publishes_and_test_sends_the_german_invite(
    runtime: Runtime, session: Session, server: str, browser: Browser,
) -> None:
    with runtime.sessions() as writer:
        factories.team_member(writer, email=MARKETER, name="Mara Marketer", console_role="marketer")
        contact = factories.contact(writer, locale="de", name="Jonas Becker")
        token = create_key(writer, role=Role.OPS, name="ops", now=runtime.clock.now()).token
        writer.commit()
        contact_id = contact.id

    page = browser.new_page()
    sign_in_by_email(page, runtime, server, MARKETER, lands="/console/templates")
    page.goto(f"{server}/console/templates/email/nps/invite/de")
    page.wait_for(f"{SUBJECT} === 'Eine kurze Frage von Acme'")

    replace_subject(page, "Ihre Meinung zählt, {{ company_name }}")
    page.wait_for(f"{SUBJECT} === 'Ihre Meinung zählt, Acme'")

    replace_subject(page, "Ihre Meinung zählt, {{ firma }}")
    error = page.wait_for("(() => { const e = document.querySelector('#findings li.error[data-code=unknown_variable]'); return e && e.textContent; })()")
    assert "Subject, line 1" in error and "'firma' is not available" in error
    assert page.evaluate("document.querySelectorAll('.editor[data-part=subject] .line-error').length") == 1
    shoot(page, "studio-editor-error")

    replace_subject(page, "Ihre Meinung zählt, {{ company_name }}")
    page.wait_for("!!document.querySelector('#findings p.ok')")
    page.click("document.getElementById('note')")
    page.type("Kürzerer Betreff")
    page.click("document.getElementById('publish')")
    page.wait_for("(document.querySelector('#findings p.published') || {}).textContent === 'Published version 1.'")
    page.wait_for("document.querySelectorAll('#history li').length === 1 && document.querySelector('#history li').textContent.includes('Kürzerer Betreff')")

    page.click("document.getElementById('test-send')")
    page.wait_for("document.getElementById('test-result').textContent.startsWith('Test sent to mara@acme.example')")
    tests = [e for e in list_outbox(runtime.settings.outbox_dir) if e.to == MARKETER and (e.subject or "").startswith("[Test]")]
    assert [e.subject for e in tests] == ["[Test] Ihre Meinung zählt, Acme"]

    # The next send uses the published subject.
    sent = httpx.post(f"{server}/v1/surveys/send", headers={"Authorization": f"Bearer {token}"},
                      json={"contact_id": contact_id, "kind": "nps", "trigger": "onboarding_done"})
    assert sent.status_code == 202, sent.text
    message = session.get_one(Message, sent.json()["message_id"])
    assert session.get_one(MessageContent, message.content_id).subject == "Ihre Meinung zählt, Acme"
    assert session.scalar(select(Message.recipient).where(Message.id == message.id)) != MARKETER

    page.goto(f"{server}/console/templates/email/nps/invite/de")
    page.wait_for(f"{SUBJECT} === 'Ihre Meinung zählt, Acme'")
    editor = shoot(page, "studio-editor")
    page.goto(f"{server}/console/templates/sms/nps/invite/de")
    page.wait_for("document.getElementById('sms-counter').textContent.includes('segment')")
    shoot(page, "studio-sms")
    page.goto(f"{server}/console/templates?channel=email&kind=nps")
    shoot(page, "studio-list")
    assert all(path.stat().st_size > 10_000 for path in editor.values())
