"""The console in headless Chromium against a real server: sign in by the emailed link, pause a campaign
with a reason, read its results, move a follow-up, sign out; a viewer cannot launch; forged and reused
links and a form without its CSRF token are refused. Screenshots of the main pages (1280×800 and 390×844)
go to ``artifacts/screenshots/``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from campaigns.followups.models import FollowUp
from campaigns.programs.models import Campaign, PlanStep, Response
from dispatcher.runtime.core import Runtime
from dispatcher.runtime.settings import Settings
from tests import factories
from tests.answers.cdp import Browser, open_browser
from tests.answers.live_server import free_port, live_server
from tests.backends import Backend
from tests.conftest import make_settings
from tests.console.browser_steps import (
    shoot,
    sign_in_by_email,
    wait_path,
)
from tests.console.helpers import member
from tests.results.seed import Seeded, follow_up, message, seed


@pytest.fixture(scope="module")
def port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def server_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("console-server")


@pytest.fixture
def settings(backend: Backend, server_dir: Path, port: int) -> Settings:
    # The test's runtime shares the server's database, clock and outbox.
    return make_settings(backend, server_dir, public_url=f"http://127.0.0.1:{port}")


@pytest.fixture(scope="module")
def server(backend: Backend, port: int, server_dir: Path) -> Iterator[str]:
    with live_server(make_settings(backend, server_dir, public_url=f"http://127.0.0.1:{port}"), port, server_dir / "uvicorn.log") as url:
        yield url


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    yield from open_browser(tmp_path_factory)


def plan(session: Session, seeded: Seeded) -> None:
    """Plan steps and two reminders queued for Tokyo's morning, so the campaign page has a timeline and a wait."""
    start = seeded.campaign.launched_at
    assert start is not None
    for key, step, days, status in (("kickoff", "kickoff", -5, "done"), ("invite", "invite", 0, "done"), ("reminder_1", "reminder", 3, "dispatched"),
                                    ("reminder_2", "reminder", 7, "pending"), ("close", "close", 14, "pending")):
        session.add(PlanStep(campaign_id=seeded.campaign.id, key=key, step=step, number=1 if key == "reminder_1" else (2 if key == "reminder_2" else 0),
                             wave=0, due_at=start + timedelta(days=days), status=status))
    for contact in seeded.contacts[8:]:
        contact.timezone = "Asia/Tokyo"
        message(session, seeded.campaign, contact, medium="email", state="queued", step="reminder")


def test_ops_signs_in_pauses_reads_results_moves_a_follow_up_and_signs_out(runtime: Runtime, session: Session, server: str, browser: Browser) -> None:
    seeded = seed(session)
    ops = member(session, "ops", name="Olivia Ops")
    detractor = session.scalar(select(Response).where(Response.campaign_id == seeded.campaign.id, Response.score == 3))
    assert detractor is not None
    task = follow_up(session, detractor, owner_id=ops.id)
    plan(session, seeded)
    session.commit()
    page = browser.new_page()

    link = sign_in_by_email(page, runtime, server, ops.email, screenshot=True)
    assert "Spring NPS" in page.evaluate("document.querySelector('main').textContent")
    shoot(page, "campaigns")

    page.click("[...document.querySelectorAll('main a')].find(a => a.textContent === 'Spring NPS')")
    wait_path(page, f"/console/campaigns/{seeded.campaign.id}")
    page.click("document.getElementById('pause-reason')")
    page.type("Waiting for the pricing announcement")
    page.click("document.getElementById('pause')")
    page.wait_for("!!document.getElementById('paused-reason')")
    assert "Waiting for the pricing announcement" in page.evaluate("document.getElementById('paused-reason').textContent")
    session.commit()  # end the read transaction: see what the server committed
    session.expire_all()
    campaign = session.get(Campaign, seeded.campaign.id)
    assert campaign is not None and (campaign.status, campaign.paused_reason, campaign.paused_by) == ("paused", "Waiting for the pricing announcement", ops.email)
    shoot(page, "campaign", full=True)

    page.click("[...document.querySelectorAll('main a')].find(a => a.textContent === 'Results')")
    wait_path(page, f"/console/campaigns/{seeded.campaign.id}/results")
    assert "+12.5" in page.evaluate("document.getElementById('headline').textContent")
    assert page.evaluate("document.querySelectorAll('figure.chart svg').length") >= 3
    shoot(page, "results", full=True)
    page.click("document.getElementById('create-share')")
    page.wait_for("document.body.textContent.includes('Share link created: ')")
    share = page.evaluate("document.querySelector('p.notice').textContent.split('Share link created: ')[1].trim()")
    page.goto(f"{server}/console/campaigns/{seeded.campaign.id}/report")
    shoot(page, "report", full=True)

    page.goto(f"{server}/console/follow-ups")
    page.click(f"document.getElementById('note-{task.id}')")
    page.type("Called them: a billing fix is on its way")
    page.click(f"document.getElementById('move-{task.id}-contacted')")
    page.wait_for(f"document.body.textContent.includes('Follow-up {task.id} is now contacted.')")
    session.commit()  # end the read transaction: see what the server committed
    session.expire_all()
    moved = session.get(FollowUp, task.id)
    assert moved is not None and moved.state == "contacted" and moved.notes[-1]["text"] == "Called them: a billing fix is on its way"
    page.goto(f"{server}/console/follow-ups?state=contacted")
    shoot(page, "follow-ups")

    # A form posted without its CSRF token is refused, as a page on another site would post it.
    status = page.evaluate(f"fetch('/console/campaigns/{seeded.campaign.id}/resume', {{method: 'POST', body: new URLSearchParams({{}})}}).then(r => r.status)")
    assert status == 403
    session.commit()  # end the read transaction: see what the server committed
    session.expire_all()
    assert session.get(Campaign, seeded.campaign.id).status == "paused"  # type: ignore[union-attr]

    page.click("[...document.querySelectorAll('header button')].find(b => b.textContent.trim() === 'Sign out')")
    wait_path(page, "/console/sign-in")
    page.send("Page.navigate", url=f"{server}/console/campaigns")
    wait_path(page, "/console/sign-in")  # signed out: back to sign-in

    # Signed out, the share link still shows the report: read-only, without names.
    page.goto(share)
    page.wait_for("!!document.getElementById('headline')")
    assert "Sign out" not in page.evaluate("document.body.textContent")
    shoot(page, "shared-report", full=True)

    # The link already used does not sign in again.
    page.goto(link)
    page.click("document.getElementById('finish-sign-in')")
    page.wait_for("document.body.textContent.includes('unknown, expired or already used')")


# [opacity, WCAG contrast ratio of the text on its background] of the element %s.
_CONTRAST = """(() => {
  const style = getComputedStyle(%s);
  const luminance = color => {
    const [r, g, b] = color.match(/[\\d.]+/g).slice(0, 3).map(v => {
      v = Number(v) / 255;
      return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const [light, dark] = [luminance(style.color), luminance(style.backgroundColor)].sort((x, y) => y - x);
  return [style.opacity, (light + 0.05) / (dark + 0.05)];
})()"""


def test_a_viewer_cannot_launch_and_a_forged_link_is_refused(runtime: Runtime, session: Session, server: str, browser: Browser) -> None:
    factories.contact(session)
    viewer = member(session, "viewer", name="Vera Viewer")
    draft = Campaign(name="Draft CSAT", kind="csat", status="draft", survey={}, audience={"filter": {}}, exclusions={}, plan=[],
                     sending_window={}, channels=["email"], internal_recipients={}, created_at=runtime.clock.now())
    session.add(draft)
    session.commit()
    page = browser.new_page()

    page.goto(f"{server}/console/sign-in/forged-0123456789abcdef")
    page.click("document.getElementById('finish-sign-in')")
    page.wait_for("document.body.textContent.includes('unknown, expired or already used')")
    shoot(page, "sign-in-refused")

    sign_in_by_email(page, runtime, server, viewer.email)
    page.goto(f"{server}/console/campaigns/{draft.id}")
    assert page.evaluate("document.getElementById('launch').disabled") is True
    opacity, contrast = page.evaluate(_CONTRAST % "document.getElementById('launch')")
    assert opacity == "1" and contrast >= 4.5, (opacity, contrast)  # a disabled button is still readable (WCAG AA), not faded
    page.click("document.getElementById('launch')")  # a disabled button does nothing
    session.commit()  # end the read transaction: see what the server committed
    session.expire_all()
    assert session.get(Campaign, draft.id).status == "draft"  # type: ignore[union-attr]
    assert page.evaluate("document.getElementById('pause-reason')") is None
    shoot(page, "campaign-viewer")
    page.click("[...document.querySelectorAll('header button')].find(b => b.textContent.trim() === 'Sign out')")
    wait_path(page, "/console/sign-in")


def test_an_admin_sees_the_sessions_page_fit_a_phone(runtime: Runtime, session: Session, server: str, browser: Browser) -> None:
    admin = member(session, "admin", name="Ada Admin")
    session.commit()
    page = browser.new_page()
    sign_in_by_email(page, runtime, server, admin.email)
    page.goto(f"{server}/console/sessions")
    wait_path(page, "/console/sessions")
    assert "this browser" in page.evaluate("document.body.innerText")
    shoot(page, "sessions")  # the table scrolls inside its box; its hidden column label does not widen the page
