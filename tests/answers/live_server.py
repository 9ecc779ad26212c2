"""A real uvicorn server process running Pulse, for browsers and concurrent clients."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from pydantic import SecretStr

from dispatcher.runtime.settings import Settings

# The app without the in-process scheduler: the test drives the engine itself.
SERVE = """
import sys, uvicorn
from api.app import create_app
uvicorn.run(create_app(start_worker=False), host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", backlog=4096)
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def settings_environment(settings: Settings) -> dict[str, str]:
    """The ``PULSE_*`` variables that make a process read exactly these settings."""
    variables: dict[str, str] = {}
    for name, value in settings:
        if value is None:
            continue
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        variables[f"PULSE_{name.upper()}"] = str(value)
    return variables


@contextmanager
def live_server(settings: Settings, port: int, log: Path) -> Iterator[str]:
    """Serve Pulse with ``settings`` on ``port`` until the block ends; yields its URL."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("PULSE_")}
    environment.update(settings_environment(settings))
    url = f"http://127.0.0.1:{port}"
    with log.open("wb") as output:
        process = subprocess.Popen([sys.executable, "-c", SERVE, str(port)], env=environment, stdout=output, stderr=subprocess.STDOUT)
        try:
            _wait_until_up(url, process, log)
            yield url
        finally:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_until_up(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"{url}/widget.js", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)  # polling a starting process, not waiting for time to pass
    raise RuntimeError(f"the server did not start within 30 s:\n{log.read_text()}")
