"""`pulse run --demo`: a new user sees every step of the plan arrive in the outbox."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

PULSE = str(Path(sys.executable).with_name("pulse"))
STEPS = ("kickoff", "pre_notice", "invite", "reminder", "thank_you", "summary")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_demo_runs_the_whole_plan_into_the_outbox(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PULSE_")}
    env.update({"PULSE_DATABASE_URL": f"sqlite:///{tmp_path / 'demo.db'}", "PULSE_OUTBOX_DIR": str(tmp_path / "outbox"), "COLUMNS": "200"})
    log = (tmp_path / "demo.log").open("wb")
    server = subprocess.Popen([PULSE, "run", "--demo", "--day-seconds", "0.6", "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 90
        seen: set[str] = set()
        while time.monotonic() < deadline and not set(STEPS) <= seen:
            assert server.poll() is None, (tmp_path / "demo.log").read_text()[-3000:]
            try:
                page = httpx.get(f"http://127.0.0.1:{port}/outbox", timeout=5).text
            except httpx.HTTPError:
                time.sleep(0.5)
                continue
            seen = {step for step in STEPS if _has(tmp_path / "outbox", step)}
            time.sleep(0.5)
        assert set(STEPS) <= seen, f"only {sorted(seen)} arrived:\n" + (tmp_path / "demo.log").read_text()[-3000:]
        assert "Outbox" in page
        output = (tmp_path / "demo.log").read_text()
        assert "First admin API key" in output and "Demo:" in output
    finally:
        server.terminate()
        server.wait(30)


def _has(outbox: Path, step: str) -> bool:
    """A message of ``step`` was sent, and so written to the outbox (the file names carry its id)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(f"sqlite:///{outbox.parent / 'demo.db'}")
    with engine.connect() as connection:
        sent = connection.execute(text("SELECT id FROM messages WHERE step = :s AND state = 'sent' LIMIT 1"), {"s": step}).first()
    engine.dispose()
    return sent is not None and any(f"-{sent[0]}-" in p.name for p in outbox.iterdir())
