from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from dispatcher.runtime.celery_app import make_celery
from dispatcher.runtime.core import Runtime, build_runtime
from dispatcher.runtime.work import CeleryQueue
from tests.backends import Backend
from tests.chaos.harness import BATCH, VISIBILITY_SECONDS, Chaos
from tests.chaos.servers import OwnRedis
from tests.conftest import make_settings
from tests.fakes.sendgrid_fake import SendGridFake


@pytest.fixture
def own_redis(backend: Backend, tmp_path: Path) -> Iterator[OwnRedis]:
    if not backend.is_postgres:
        # Worker processes, a broker and dropped connections belong to the servers run.
        pytest.skip("the chaos suite runs on the servers backend (PostgreSQL, Redis, Celery)")
    server = OwnRedis(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def chaos(runtime: Runtime, own_redis: OwnRedis, backend: Backend, tmp_path: Path) -> Iterator[Chaos]:
    """Workers on the test's own Redis, SendGrid faked with a latency so requests are in flight when things die."""
    fake = SendGridFake(latency=0.3)
    fake.start()
    settings = make_settings(backend, tmp_path, worker="celery", broker_url=own_redis.url, batch_size=BATCH, broker_visibility_timeout=VISIBILITY_SECONDS)
    beat = build_runtime(settings)
    beat.queue = CeleryQueue(make_celery(settings))
    harness = Chaos(runtime, beat, fake, own_redis.url, tmp_path)
    harness.workers.start()
    try:
        yield harness
    finally:
        harness.workers.stop()
        beat.close()
        fake.stop()


@pytest.fixture
def rounds(request: pytest.FixtureRequest) -> int:
    return int(request.config.getoption("--rounds"))
