"""/docs renders Swagger UI from Pulse's own assets, with the browser's network cut off from everything else."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest

from campaigns.migrate import upgrade
from tests.answers.cdp import Browser, Page, chromium_path
from tests.answers.live_server import free_port, live_server
from tests.backends import Backend
from tests.conftest import make_settings
from tests.servers import missing

SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
TAGS_IN_ORDER = ["contacts", "accounts", "team", "campaigns", "results", "surveys", "answers", "templates", "follow-ups", "fatigue", "webhooks", "keys", "operations", "health"]


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Browser]:
    if chromium_path() is None:
        missing("chromium is not installed: run .ci/browser")
    opened = Browser(tmp_path / "profile")
    yield opened
    opened.close()


def screenshot(page: Page, name: str, width: int, height: int) -> Path:
    page.send("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=width < 600)
    data = page.send("Page.captureScreenshot", format="png")["data"]
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}-{width}x{height}.png"
    path.write_bytes(base64.b64decode(data))
    return path


def test_docs_render_offline_with_tags_in_reading_order(tmp_path: Path, browser: Browser) -> None:
    """The docs need no database of any kind: one run, on a fresh SQLite file."""
    port = free_port()
    settings = make_settings(Backend("embedded", f"sqlite:///{tmp_path / 'docs.db'}", None), tmp_path, public_url=f"http://127.0.0.1:{port}")
    upgrade(settings.database_url)
    with live_server(settings, port, tmp_path / "uvicorn.log") as url:
        page = browser.new_page()
        requested: list[str] = []
        page.send("Network.enable")
        # Offline: every request that is not to Pulse fails, as on a machine without internet.
        page.send("Fetch.enable", patterns=[{"urlPattern": "*"}])
        _serve_only_pulse(page, f"{url}/docs", url, requested)
        titles = page.wait_for(
            "(() => { const t = [...document.querySelectorAll('.opblock-tag-section h3 .nostyle span, .opblock-tag-section h3 a span')]"
            ".map(e => e.textContent.trim()); return t.length ? t : null; })()", timeout=30)
        assert page.evaluate("!!document.querySelector('.swagger-ui .info .title')")
        assert "Pulse" in page.evaluate("document.querySelector('.swagger-ui .info .title').textContent")
        assert titles == TAGS_IN_ORDER
        description = page.evaluate("document.querySelector('.opblock-tag-section h3 small, .opblock-tag small')?.textContent || ''")
        assert "import" in description  # each tag says what it is for
        assert requested and all(r.startswith(url) for r in requested), requested
        for width, height in ((1280, 800), (390, 844)):
            assert screenshot(page, "docs", width, height).stat().st_size > 10_000


def _serve_only_pulse(page: Page, address: str, url: str, requested: list[str]) -> None:
    """Open ``address`` and answer its paused requests until they stop: Pulse's go on, anything else
    fails as without internet. Raw protocol: the navigation's reply waits for the paused document."""
    import json
    import time

    deadline = time.monotonic() + 30
    socket = page._socket  # the helper's websocket: events arrive between command replies
    page._next_id += 1
    socket.send(json.dumps({"id": page._next_id, "method": "Page.navigate", "params": {"url": address}}))
    socket.settimeout(0.5)
    quiet_since = time.monotonic()
    while time.monotonic() < deadline and time.monotonic() - quiet_since < 2.0:
        try:
            message = json.loads(socket.recv())
        except Exception:
            continue
        if message.get("method") != "Fetch.requestPaused":
            continue
        quiet_since = time.monotonic()
        request_id, address = message["params"]["requestId"], message["params"]["request"]["url"]
        requested.append(address)
        page._next_id += 1
        if address.startswith(url):
            socket.send(json.dumps({"id": page._next_id, "method": "Fetch.continueRequest", "params": {"requestId": request_id}}))
        else:
            socket.send(json.dumps({"id": page._next_id, "method": "Fetch.failRequest", "params": {"requestId": request_id, "errorReason": "InternetDisconnected"}}))
    socket.settimeout(30)
    page.send("Fetch.disable")
