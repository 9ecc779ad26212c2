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
from sqlalchemy import Engine, text

from dispatcher.runtime.settings import Settings

# The app without the in-process scheduler: the test drives the engine itself.
SERVE = """
import sys, uvicorn
from api.app import create_app
uvicorn.run(create_app(start_worker=False), host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", backlog=4096)
"""


# The server's PostgreSQL sessions carry this name, so a test can wait for them to go quiet.
SERVER_APPLICATION = "pulse-live-server"


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
    if not settings.is_sqlite:
        separator = "&" if "?" in settings.database_url else "?"
        environment["PULSE_DATABASE_URL"] = f"{settings.database_url}{separator}application_name={SERVER_APPLICATION}"
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


def wait_until_server_quiet(engine: Engine, timeout: float = 60.0) -> None:
    """Wait until no PostgreSQL session of a live server is inside a transaction.

    A server answers before the work its requests set off is done (the follow-through runs
    after the reply). Work that outlives its test holds row locks while the next test's
    TRUNCATE takes every table, and PostgreSQL then picks one of them as a deadlock's victim.
    Quiet means quiet on three polls in a row: a trailing kick may start one more pass.
    On SQLite there is no live server to wait for (those tests need PostgreSQL).
    """
    if engine.dialect.name != "postgresql":
        return
    busy = text(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND application_name = :name"
        " AND state IN ('active', 'idle in transaction', 'idle in transaction (aborted)')"
    )
    deadline, quiet = time.monotonic() + timeout, 0
    while quiet < 3:
        with engine.connect() as connection:
            working = connection.execute(busy, {"name": SERVER_APPLICATION}).scalar_one()
        quiet = 0 if working else quiet + 1
        assert time.monotonic() < deadline, f"the live server still works in {working} sessions after {timeout} s"
        time.sleep(0.1)  # polling another process's sessions
