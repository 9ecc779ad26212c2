"""Rate limits on the public answer endpoints: per client IP and per link or in-app contact."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from api import ratelimit
from api.app import create_app
from api.ratelimit import MemoryCounter, RedisCounter
from dispatcher.runtime.core import Runtime, build_runtime
from dispatcher.runtime.settings import Settings
from tests.answers.fixtures_links import (
    IN_APP_SETTINGS,
    identity,
    person_form,
    response_count,
    survey,
)
from tests.backends import Backend
from tests.conftest import make_settings

PER_TOKEN, PER_IP = 3, 5


@pytest.fixture(autouse=True)
def mid_window(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every request of a test falls in one counting window (no minute turns over mid-test)."""
    monkeypatch.setattr(ratelimit, "wall_time", lambda: 1_800_000_030.0)


@pytest.fixture
def settings(backend: Backend, tmp_path: Path) -> Settings:
    return make_settings(backend, tmp_path, answer_rate_per_token=PER_TOKEN, answer_rate_per_ip=PER_IP, **IN_APP_SETTINGS)


def test_one_link_asked_too_often_gets_429_with_retry_after(runtime: Runtime, session: Session, link_client: TestClient) -> None:
    item = survey(runtime)

    answered = [link_client.get(item.answer_path).status_code for _ in range(PER_TOKEN)]
    limited = link_client.post(item.answer_path, data=person_form(runtime, item, score=9))

    assert answered == [200] * PER_TOKEN
    assert limited.status_code == 429
    assert limited.headers["retry-after"] == "31"  # the window turns over in 30 s (+1)
    assert "Too many requests" in limited.text and limited.headers["referrer-policy"] == "no-referrer"
    assert response_count(session) == 0


def test_one_client_trying_many_links_gets_429(runtime: Runtime, link_client: TestClient) -> None:
    items = [survey(runtime) for _ in range(PER_IP + 1)]

    statuses = [link_client.get(item.unsubscribe_path).status_code for item in items]

    assert statuses == [200] * PER_IP + [429]


def test_the_in_app_api_answers_429_in_the_error_shape(runtime: Runtime, link_client: TestClient) -> None:
    statuses = [link_client.get("/v1/in-app/prompt", headers=identity("c-busy")).status_code for _ in range(PER_TOKEN + 1)]
    limited = link_client.get("/v1/in-app/prompt", headers=identity("c-busy"))

    assert statuses == [200] * PER_TOKEN + [429]
    assert limited.json()["error"]["code"] == "rate_limited" and "retry-after" in limited.headers


def test_every_api_process_shares_the_counters_in_redis(runtime: Runtime, backend: Backend, link_client: TestClient) -> None:
    if not backend.redis_url:
        pytest.skip("the embedded stack counts in memory, per process")
    item = survey(runtime)
    other = build_runtime(runtime.settings)

    with TestClient(create_app(runtime.settings, runtime=other, start_worker=False)) as second_process:
        statuses = [(link_client if n % 2 else second_process).get(item.answer_path).status_code for n in range(PER_TOKEN + 1)]

    assert statuses == [200] * PER_TOKEN + [429]


def test_a_redis_outage_lets_answers_through() -> None:
    counter = RedisCounter("redis://127.0.0.1:1/0")

    assert counter.hit("ip:198.51.100.7", window=60, now=1_000.0) == 0


def test_memory_counters_start_again_each_window() -> None:
    counter = MemoryCounter()

    counts = [counter.hit("token:abc", window=60, now=t) for t in (0.0, 30.0, 59.9, 60.0)]

    assert counts == [1, 2, 3, 1]
