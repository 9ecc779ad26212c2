"""`make demo`: its own database and outbox, customers who answer every way, the whole plan, the summary."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text

from channels.outbox import expand_outbox

PULSE = str(Path(sys.executable).with_name("pulse"))
STEPS = ("kickoff", "pre_notice", "invite", "reminder", "thank_you", "summary")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_demo_runs_the_whole_plan_with_customers_in_its_own_database(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PULSE_")}
    env["COLUMNS"] = "200"
    (tmp_path / "pulse.db").write_bytes(b"")  # the user's own `make run` database, which the demo must not touch
    log_path = tmp_path / "demo.log"
    with log_path.open("wb") as log:
        server = subprocess.Popen([PULSE, "run", "--demo", "--day-seconds", "0.6", "--port", str(port)],
                                  cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        # The links (outbox, sign in) are printed after "Demo finished"; this line comes last.
        while time.monotonic() < deadline and "keeps running for you to look around" not in log_path.read_text():
            assert server.poll() is None, log_path.read_text()[-3000:]
            time.sleep(0.5)  # the demo runs on its own fast clock
        output = log_path.read_text()
        assert "Demo finished" in output and "keeps running for you to look around" in output, output[-3000:]
        assert httpx.get(f"http://127.0.0.1:{port}/outbox", timeout=5).status_code == 200
        results = _signed_in_results(output, port)
    finally:
        server.terminate()
        server.wait(30)

    assert (tmp_path / "pulse.db").read_bytes() == b""
    assert "Demo database: ./demo/pulse-demo.db, outbox: demo/outbox/" in output
    assert "console-link" not in output  # that command reads ./pulse.db: the demo's sign-in link is the printed one
    for said in ("answered 10 by email link", "answered 9 by SMS reply", "answered 9 in the app", "replied STOP", "a detractor"):
        assert said in output, f"{said!r} missing from the demo's output:\n{output[-4000:]}"
    assert "NPS +40 from 5 answers" in output and f"http://127.0.0.1:{port}/outbox" in output
    assert "+40" in results and "Onboarding took three weeks" in results  # the console's results page, signed in by the printed link

    engine = create_engine(f"sqlite:///{tmp_path / 'demo' / 'pulse-demo.db'}")
    with engine.connect() as db:
        media = {row[0] for row in db.execute(text("SELECT medium FROM responses"))}
        alerts = db.execute(text("SELECT count(*) FROM messages WHERE step = 'detractor_alert' AND state = 'sent'")).scalar()
        opted_out = db.execute(text("SELECT count(*) FROM suppressions WHERE medium = 'sms'")).scalar()
        follow_ups = db.execute(text("SELECT count(*) FROM follow_ups")).scalar()
        sent = {step: db.execute(text("SELECT id FROM messages WHERE step = :s AND state = 'sent' LIMIT 1"), {"s": step}).scalar() for step in STEPS}
    engine.dispose()
    assert media == {"email", "sms", "in_app"}
    assert alerts == 1 and opted_out == 1 and follow_ups == 5
    expand_outbox(tmp_path / "demo" / "outbox")  # what the demo's last sends left in the spool, if any
    outbox = [p.name for p in (tmp_path / "demo" / "outbox").iterdir()]
    for step, message_id in sent.items():
        assert message_id is not None and any(f"-{message_id}-" in name for name in outbox), f"no {step} in the outbox"


def _signed_in_results(output: str, port: int) -> str:
    """Follow the one-time console link the demo printed, as a browser would, and open the results page."""
    link = re.search(rf"sign in +(http://127\.0\.0\.1:{port}/console/sign-in/\S+)", output)
    assert link, output[-2000:]
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as browser:
        confirm = browser.get(link.group(1))
        token = re.search(r'name="csrf_token" value="([^"]+)"', confirm.text)
        assert confirm.status_code == 200 and token, confirm.text[:500]
        signed = browser.post(link.group(1), data={"csrf_token": token.group(1), "next": "/console/campaigns/1/results"}, follow_redirects=True)
        assert signed.status_code == 200, signed.text[:500]
        return browser.get("/console/campaigns/1/results").text
