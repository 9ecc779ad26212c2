"""What the browser tests of the console share: Chromium, screenshots at desktop and phone widths,
and signing in the way a person does (type the email, open the emailed link, finish)."""

from __future__ import annotations

import base64
import json
import re
import time
from pathlib import Path
from urllib.parse import urlsplit

from channels.outbox import list_outbox, read_outbox_entry
from dispatcher.runtime.core import Runtime
from tests.answers.cdp import Page

SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
SIZES = (("desktop", 1280, 800, False), ("phone", 390, 844, True))


# The elements that reach past the page's right edge: outside the boxes that scroll on their own (.scroll),
# or placed absolutely, which can escape such a box.
SPILLING = """(() => { const width = document.documentElement.clientWidth;
  if (document.documentElement.scrollWidth <= width) return [];
  return [...document.body.querySelectorAll('*')].filter(e => e.getBoundingClientRect().right > width + 1
      && (!e.closest('.scroll') || getComputedStyle(e).position === 'absolute'))
    .slice(0, 5).map(e => `${e.tagName.toLowerCase()}.${e.className} (right edge ${Math.round(e.getBoundingClientRect().right)} px)`); })()"""


def shoot(page: Page, name: str, *, full: bool = False) -> dict[str, Path]:
    """Save the page at desktop and phone sizes (and, with ``full``, the whole page in parts), then go
    back to desktop; the saved files by size label. Fails when the page is wider than the screen at
    either size (a phone would show it shrunk or make the reader scroll sideways)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.evaluate("window.scrollTo(0, 0)")
    saved = {}
    for label, width, height, mobile in SIZES:
        page.send("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=mobile)
        page.evaluate("new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))")
        wider = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
        assert wider[0] <= wider[1], f"{name} at {label} width is {wider[0]} px wide on a {wider[1]} px screen: {page.evaluate(SPILLING)}"
        data = page.send("Page.captureScreenshot", format="png")["data"]
        saved[label] = SCREENSHOTS / f"{name}-{label}.png"
        saved[label].write_bytes(base64.b64decode(data))
        if full:  # the whole page, in screen-high parts
            whole = min(page.evaluate("document.documentElement.scrollHeight"), 12 * height)
            for part, top in enumerate(range(0, whole, height), 1):
                clip = {"x": 0, "y": top, "width": width, "height": min(height, whole - top), "scale": 1}
                data = page.send("Page.captureScreenshot", format="png", captureBeyondViewport=True, clip=clip)["data"]
                (SCREENSHOTS / f"{name}-{label}-part{part}.png").write_bytes(base64.b64decode(data))
    page.send("Emulation.setDeviceMetricsOverride", width=1280, height=800, deviceScaleFactor=1, mobile=False)
    return saved


def emailed_links(runtime: Runtime, email: str) -> set[str]:
    """Every sign-in link the outbox holds for ``email``."""
    links = set()
    for entry in list_outbox(runtime.settings.outbox_dir):
        if entry.to == email and entry.subject == "Your Pulse sign-in link":
            text = read_outbox_entry(runtime.settings.outbox_dir, entry.name).text or ""
            found = re.search(r"(http://\S+/console/sign-in/\S+)", text)
            assert found, text
            links.add(found.group(1))
    return links


def emailed_link(runtime: Runtime, email: str, *, besides: set[str]) -> str:
    """The link emailed to ``email`` that is not among ``besides`` (earlier tests' links to the
    same address); the send runs after the page answers, so wait for its file a little."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        new = emailed_links(runtime, email) - besides
        if new:
            return new.pop()
        time.sleep(0.1)
    raise AssertionError(f"no sign-in email to {email}")


def wait_path(page: Page, path: str) -> None:
    try:
        page.wait_for(f"location.pathname === {json.dumps(path)} && document.readyState === 'complete'")
    except AssertionError as error:  # say what the page showed instead
        raise AssertionError(f"{error}; it says: {page.evaluate('document.body.innerText')[:500]!r}") from None


def sign_in_by_email(page: Page, runtime: Runtime, server: str, email: str, *, lands: str = "/console/campaigns", screenshot: bool = False) -> str:
    """Open the console, ask for a link for ``email``, follow the emailed link and finish; the page
    ends on ``lands`` (a member's home page). Returns the link."""
    page.send("Page.navigate", url=f"{server}/console")
    wait_path(page, "/console/sign-in")
    if screenshot:
        shoot(page, "sign-in")
    earlier = emailed_links(runtime, email)
    page.click("document.getElementById('email')")
    page.type(email)
    page.click("document.querySelector('form[action=\"/console/sign-in\"] button')")
    page.wait_for("document.body.textContent.includes('a sign-in link is on its way')")
    link = emailed_link(runtime, email, besides=earlier)
    page.goto(link)
    wait_path(page, urlsplit(link).path)  # not the button of the page before (a refused link has one too)
    page.click("document.getElementById('finish-sign-in')")
    wait_path(page, lands)
    return link
