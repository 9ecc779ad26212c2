from __future__ import annotations

import pytest

from tests.servers import redis_url_or_skip


@pytest.fixture(scope="session")
def redis_url() -> str:
    """A real Redis server (PULSE_TEST_REDIS_URL); skipped locally without one, fails in CI."""
    return redis_url_or_skip()
