"""Which real servers the test run talks to, and what happens when one is missing.

The suite always runs on the embedded stack (SQLite, no Redis). When
``PULSE_TEST_DATABASE_URL`` and ``PULSE_TEST_REDIS_URL`` are set it runs again
on PostgreSQL and Redis. Under ``CI=true`` a missing or unreachable server fails
the run instead of skipping, so CI can never go green without them.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest

IN_CI = os.environ.get("CI", "").lower() == "true"


def server_url(variable: str) -> str | None:
    url = os.environ.get(variable)
    if not url and IN_CI:
        pytest.fail(f"CI=true but {variable} is not set: .ci/run must start the server and set it")
    return url


def missing(reason: str) -> NoReturn:
    """Skip locally; fail in CI."""
    if IN_CI:
        pytest.fail(reason)
    pytest.skip(reason)


def redis_url_or_skip() -> str:
    url = server_url("PULSE_TEST_REDIS_URL")
    if not url:
        missing("PULSE_TEST_REDIS_URL is not set")
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        missing(f"Redis at {url} is unreachable: {exc}")
    return url
