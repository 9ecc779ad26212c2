"""Prometheus metrics in multiprocess mode: counters written by Celery pool processes, read by the API's /metrics."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from dispatcher.runtime.core import Runtime
from dispatcher.sending.scheduler import tick
from tests.answers.live_server import free_port, live_server
from tests.dispatcher.scenario import create_and_launch
from tests.e2e.conftest import start_workers

ALWAYS = {"start": "00:00", "end": "23:59", "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]}


def total(text: str, name: str, **labels: str) -> float:
    """The sum of every sample of ``name`` whose labels include ``labels``."""
    found = 0.0
    for line in text.splitlines():
        match = re.match(rf"^{name}(?:\{{(.*)\}})? (\S+)$", line)
        if match and all(f'{k}="{v}"' in (match.group(1) or "") for k, v in labels.items()):
            found += float(match.group(2))
    return found


def test_metrics_move_after_a_campaign_on_celery_workers(
    beat: Runtime, runtime: Runtime, broker_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    shared = tmp_path / "prometheus"
    shared.mkdir()
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(shared))  # inherited by the worker and the API process
    workers = start_workers(runtime, broker_url, tmp_path, PROMETHEUS_MULTIPROC_DIR=str(shared))
    port = free_port()
    try:
        with live_server(runtime.settings, port, tmp_path / "api.log") as url:
            before = httpx.get(f"{url}/metrics", timeout=10).text
            campaign_id = create_and_launch(runtime, 30, sending_window=ALWAYS, plan=[
                {"step": "invite", "offset_days": 0}, {"step": "close", "offset_days": 5}])
            for _ in range(3):
                workers.settle(beat, tick)
                runtime.clock.advance(timedelta(minutes=30))  # type: ignore[attr-defined]
            after = httpx.get(f"{url}/metrics", timeout=10).text
    finally:
        workers.stop()

    assert any(p.name.endswith(".db") for p in shared.iterdir()), "the worker's processes wrote no multiprocess files"
    # Counted in the worker's pool processes, added up by the API process.
    assert total(before, "pulse_provider_requests_total") == 0
    assert total(after, "pulse_provider_requests_total", outcome="ok") >= 1
    assert total(after, "pulse_provider_request_seconds_count") >= 1
    assert total(after, "pulse_messages_handed_over_total", result="sent") >= 30
    # Read from the database at scrape time.
    assert total(before, "pulse_messages", state="sent") == 0
    assert total(after, "pulse_messages", state="sent") >= 30
    assert "pulse_queue_depth" in after and "pulse_answers_total" in after
    assert campaign_id
