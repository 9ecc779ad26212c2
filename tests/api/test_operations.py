"""What an operator asks: /v1/status (and `pulse status`), `pulse campaigns watch`, /v1/clock, /metrics."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.cli import app as cli
from campaigns.access.models import Role
from dispatcher.runtime.clock import DatabaseClock
from dispatcher.runtime.core import Runtime
from dispatcher.sending.scheduler import tick
from tests.answers.live_server import free_port, settings_environment
from tests.dispatcher.scenario import create_and_launch

INVITE_ONLY = [{"step": "invite", "offset_days": 0}, {"step": "close", "offset_days": 5}]


def _saturday_evening(clock: DatabaseClock) -> None:
    now = clock.now()
    saturday = now + timedelta(days=(5 - now.weekday()) % 7)
    clock.set(saturday.replace(hour=20, minute=0, second=0, microsecond=0))


def test_status_says_why_the_oldest_message_waits_and_what_is_due(runtime: Runtime, clock: DatabaseClock, client: TestClient, auth: object) -> None:
    _saturday_evening(clock)
    campaign_id = create_and_launch(runtime, 5, plan=INVITE_ONLY, timezone="UTC")
    tick(runtime)  # selection, then the invite step: its messages wait for Monday's window
    tick(runtime)

    status = client.get("/v1/status", headers=auth(Role.VIEWER)).json()  # type: ignore[operator]

    assert status["workers"] == {"mode": "inprocess", "alive": [], "broker_queue": None,
                                 "detail": "this API process was started without its in-process worker: nothing is being sent"}
    assert status["queue_by_step"]["invite"] == 5
    oldest = status["oldest_waiting"]
    assert oldest["campaign_id"] == campaign_id and oldest["step"] == "invite"
    assert oldest["why"].startswith("goes Mon ") and " 09:00 " in oldest["why"] and ": outside sending hours in " in oldest["why"]
    assert status["steps_due_24h"] == []  # the close is five days away
    assert status["provider_errors_1h"] == []


def test_status_sees_the_in_process_worker_tick(runtime: Runtime, client: TestClient, auth: object) -> None:
    from dispatcher.runtime.inprocess import InProcessWorker

    worker = InProcessWorker(runtime)
    worker.start()
    try:
        deadline = time.monotonic() + 30
        while worker.last_tick is None and time.monotonic() < deadline:
            time.sleep(0.05)  # a real thread: wait for its first tick
        workers = client.get("/v1/status", headers=auth(Role.VIEWER)).json()["workers"]  # type: ignore[operator]
    finally:
        worker.stop()
    assert workers["alive"] == ["in-process worker (this API process)"] and workers["detail"].startswith("last tick ")


def test_status_needs_a_key(client: TestClient) -> None:
    assert client.get("/v1/status").status_code == 401


def test_pulse_status_prints_the_same_as_the_api(runtime: Runtime, clock: DatabaseClock, monkeypatch: object) -> None:
    _saturday_evening(clock)
    create_and_launch(runtime, 3, plan=INVITE_ONLY)
    tick(runtime)
    tick(runtime)
    env = {**settings_environment(runtime.settings), "PULSE_PORT": str(free_port())}  # no `pulse run` answers there
    result = CliRunner().invoke(cli, ["status", "--json"], env=env)
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["queue_by_step"] == {"invite": 3}
    assert report["workers"]["alive"] == [] and "no pulse run answers at http://127.0.0.1:" in report["workers"]["detail"]
    assert "set its PULSE_PORT and PULSE_HOST here too" in report["workers"]["detail"]  # what to do when it runs elsewhere
    human = CliRunner().invoke(cli, ["status"], env={**env, "COLUMNS": "200"})
    assert "messages waiting: invite 3" in human.output and "outside sending hours" in human.output


def test_watch_shows_each_step_with_its_progress(runtime: Runtime, clock: DatabaseClock) -> None:
    _saturday_evening(clock)
    campaign_id = create_and_launch(runtime, 4, plan=INVITE_ONLY, timezone="UTC")
    tick(runtime)
    tick(runtime)
    result = CliRunner().invoke(cli, ["campaigns", "watch", str(campaign_id), "--once"], env={**settings_environment(runtime.settings), "COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "4 selected" in result.output
    invite = next(line for line in result.output.splitlines() if line.startswith("invite"))
    assert "0/4" in invite and "waiting 4" in invite
    assert " queued in America/Los_Angeles go Mon " in result.output and "outside sending hours in " in result.output
    close = next(line for line in result.output.splitlines() if line.startswith("close"))
    assert "due " in close
    missing = CliRunner().invoke(cli, ["campaigns", "watch", "999999", "--once"], env=settings_environment(runtime.settings))
    assert missing.exit_code == 2 and "no campaign 999999" in missing.output


def test_watch_into_a_pipe_prints_each_new_state_until_the_campaign_ends(runtime: Runtime, clock: DatabaseClock) -> None:
    import threading

    from dispatcher.sending.lifecycle import cancel_campaign

    _saturday_evening(clock)
    campaign_id = create_and_launch(runtime, 4, plan=INVITE_ONLY, timezone="UTC")
    tick(runtime)
    tick(runtime)

    def cancel_soon() -> None:
        time.sleep(1.5)  # the watcher has printed the first state by then
        with runtime.sessions() as session:
            cancel_campaign(runtime, session, campaign_id)
            session.commit()

    canceller = threading.Thread(target=cancel_soon)
    canceller.start()
    result = CliRunner().invoke(cli, ["campaigns", "watch", str(campaign_id), "--interval", "0.2"],
                                env={**settings_environment(runtime.settings), "COLUMNS": "200"})
    canceller.join()
    assert result.exit_code == 0, result.output
    # Not a terminal: no live bars, but every state it saw, as text, each once, ending with the cancelled campaign.
    headers = [line for line in result.output.splitlines() if f"(campaign {campaign_id}, " in line]
    assert [h.split(f"(campaign {campaign_id}, ")[1].split(")")[0] for h in headers] == ["active", "cancelled"], result.output


def test_admins_read_and_move_the_database_clock(client: TestClient, auth: object, clock: DatabaseClock) -> None:
    admin = auth(Role.ADMIN)  # type: ignore[operator]
    before = client.get("/v1/clock", headers=admin).json()
    assert before["kind"] == "database" and before["movable"] is True

    moved = client.put("/v1/clock", json={"advance_hours": 48}, headers=admin).json()
    assert datetime.fromisoformat(moved["now"]) - datetime.fromisoformat(before["now"]) >= timedelta(hours=48)
    assert abs((clock.now() - datetime.fromisoformat(moved["now"])).total_seconds()) < 5

    target = datetime(2027, 1, 4, 8, 0, tzinfo=UTC)
    jumped = client.put("/v1/clock", json={"now": target.isoformat(), "speed": 0}, headers=admin).json()
    assert datetime.fromisoformat(jumped["now"]) == target and jumped["speed"] == 0
    assert clock.now() == target


def test_the_clock_refuses_bad_moves_other_roles_and_production(client: TestClient, auth: object, runtime: Runtime) -> None:
    admin = auth(Role.ADMIN)  # type: ignore[operator]
    both = client.put("/v1/clock", json={"now": "2027-01-04T08:00:00Z", "advance_hours": 1}, headers=admin)
    assert both.status_code == 422
    naive = client.put("/v1/clock", json={"now": "2027-01-04T08:00:00"}, headers=admin)
    assert naive.status_code == 422 and "timezone" in naive.text
    assert client.get("/v1/clock", headers=auth(Role.OPS)).status_code == 403  # type: ignore[operator]
    runtime.settings.environment = "production"
    try:
        refused = client.put("/v1/clock", json={"advance_hours": 1}, headers=admin)
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "clock_not_available"
        assert client.get("/v1/clock", headers=admin).status_code == 403
    finally:
        runtime.settings.environment = "test"


def test_metrics_name_every_family_the_dashboard_charts(client: TestClient) -> None:
    from pathlib import Path

    text = client.get("/metrics").text
    dashboard = json.loads((Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "pulse-dashboard.json").read_text())
    import re

    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            for name in re.findall(r"pulse_[a-z_]+", target["expr"]):
                family = re.sub(r"_(bucket|total|count|sum)$", "", name)
                assert f"# TYPE {family} " in text or f"# TYPE {family}_total " in text, f"{panel['title']}: {name} is not exported"
