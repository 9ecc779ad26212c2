"""Headless Chromium (Debian's ``chromium``) driven over the DevTools protocol.

Plain CDP over a websocket (``websocket-client``): no browser download, no
driver. Clicks and typing go through ``Input.*`` so the page sees *trusted*
events, as from a person; ``evaluate`` runs script as a page (or a scanner) would.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import websocket

from tests.servers import missing

CHROMIUM = "/usr/bin/chromium"


def chromium_path() -> str | None:
    return CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")


class Page:
    """One tab."""

    def __init__(self, websocket_url: str) -> None:
        self._socket = websocket.create_connection(websocket_url, timeout=30, suppress_origin=True)
        self._next_id = 0

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        self._next_id += 1
        self._socket.send(json.dumps({"id": self._next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self._socket.recv())
            if message.get("id") == self._next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})

    def evaluate(self, expression: str) -> Any:
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 20) -> Any:
        """Poll until ``expression`` is truthy in the page (navigations may come and go)."""
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            try:
                last = self.evaluate(expression)
            except RuntimeError:
                last = None  # the page is between documents
            if last:
                return last
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {expression!r} (last value {last!r}); page: {self.location()}")

    def location(self) -> str:
        try:
            return str(self.evaluate("location.href"))
        except RuntimeError:
            return "?"

    def goto(self, url: str) -> None:
        self.send("Page.navigate", url=url)
        self.wait_for(f"location.href.startsWith({json.dumps(url.split('#')[0])}) && document.readyState === 'complete'")

    def click(self, element: str) -> None:
        """A person's click (mouse down and up) in the middle of the element ``element`` evaluates to."""
        x, y = self.wait_for(
            f"(() => {{ const e = {element}; if (!e) return null; e.scrollIntoView({{block: 'center'}});"
            " const r = e.getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; })()"
        )
        self.send("Page.bringToFront")  # a background tab renders no frames to click in
        self.send("Input.dispatchMouseEvent", type="mouseMoved", x=x, y=y)
        self.send("Input.dispatchMouseEvent", type="mousePressed", x=x, y=y, button="left", clickCount=1)
        self.send("Input.dispatchMouseEvent", type="mouseReleased", x=x, y=y, button="left", clickCount=1)

    def type(self, text: str) -> None:
        self.send("Input.insertText", text=text)

    def close(self) -> None:
        self._socket.close()


class Browser:
    """A fresh headless Chromium with its own profile, quit on ``close``."""

    def __init__(self, profile: Path) -> None:
        executable = chromium_path()
        if executable is None:
            raise FileNotFoundError("chromium is not installed (.ci/browser installs it)")
        self._process = subprocess.Popen(
            [executable, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             f"--user-data-dir={profile}", "--remote-debugging-port=0", "--remote-allow-origins=*",
             "--no-first-run", "--no-default-browser-check", "--disable-dev-shm-usage", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        self.endpoint = f"http://127.0.0.1:{self._port(profile / 'DevToolsActivePort')}"
        self._pages: list[Page] = []

    def _port(self, announced: Path) -> int:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"chromium exited with {self._process.returncode}")
            if announced.exists() and announced.read_text().strip():
                return int(announced.read_text().split()[0])
            time.sleep(0.05)
        raise RuntimeError("chromium did not open its DevTools port within 30 s")

    def targets(self) -> list[dict[str, Any]]:
        return [t for t in httpx.get(f"{self.endpoint}/json/list", timeout=5).json() if t["type"] == "page"]

    def new_page(self, url: str = "about:blank") -> Page:
        target = httpx.put(f"{self.endpoint}/json/new?{url}", timeout=5).json()
        page = self._attach(target)
        page.wait_for("document.readyState === 'complete'")
        return page

    def wait_for_page(self, matches: Callable[[str], bool], timeout: float = 20) -> Page:
        """Attach to the tab whose URL ``matches`` (e.g. one a link opened with target=_blank)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for target in self.targets():
                if matches(target["url"]):
                    return self._attach(target)
            time.sleep(0.05)
        raise AssertionError(f"no tab opened a matching URL; tabs: {[t['url'] for t in self.targets()]}")

    def _attach(self, target: dict[str, Any]) -> Page:
        page = Page(target["webSocketDebuggerUrl"])
        self._pages.append(page)
        return page

    def close(self) -> None:
        for page in self._pages:
            page.close()
        self._process.terminate()
        try:
            self._process.wait(10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()


def open_browser(tmp_path_factory: Any) -> Iterator[Browser]:
    """Headless Chromium for a module's tests (``yield from`` it in a fixture)."""
    if chromium_path() is None:
        missing("chromium is not installed: run .ci/browser")
    chromium = Browser(tmp_path_factory.mktemp("chromium-profile"))
    yield chromium
    chromium.close()
