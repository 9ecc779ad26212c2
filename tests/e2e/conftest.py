from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from dispatcher.runtime.core import Runtime, build_runtime
from dispatcher.runtime.work import CeleryQueue
from tests.backends import Backend
from tests.conftest import make_settings
from tests.e2e.workers import Workers, worker_env


@pytest.fixture
def broker_url(backend: Backend) -> str:
    """The run's Redis database, emptied, as the Celery broker."""
    if backend.redis_url is None:
        # Worker processes on a broker belong to the servers run; the embedded run
        # (SQLite, no Redis) covers the same engine with the in-process worker.
        pytest.skip("end-to-end Celery tests run on the servers backend (PostgreSQL + Redis)")
    # The run's own Redis database (PULSE_TEST_REDIS_URL): runs side by side on one Redis
    # (a shared development machine) must not take each other's tasks.
    url = backend.redis_url
    redis.Redis.from_url(url).flushdb()
    return url


def start_workers(runtime: Runtime, broker_url: str, tmp_path: Path, **extra: str) -> Workers:
    workers = Workers(worker_env(runtime, broker_url, **extra), tmp_path / "worker.log")
    workers.start()
    return workers


@pytest.fixture
def beat(runtime: Runtime, broker_url: str, tmp_path: Path, backend: Backend) -> Iterator[Runtime]:
    """The test's scheduler: a runtime whose tasks go to Celery through the broker."""
    from dispatcher.runtime.celery_app import make_celery

    settings = make_settings(backend, tmp_path, worker="celery", broker_url=broker_url)
    scheduler = build_runtime(settings)
    scheduler.queue = CeleryQueue(make_celery(settings))
    yield scheduler
    scheduler.close()
