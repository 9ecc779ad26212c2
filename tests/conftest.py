"""Fixtures shared by the whole suite: the backends, the runtime, the API client, keys."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from campaigns.access.models import Role
from campaigns.access.service import create_key
from campaigns.db import make_session_factory
from dispatcher.runtime.clock import DatabaseClock
from dispatcher.runtime.core import Runtime, build_runtime
from dispatcher.runtime.settings import Settings
from dispatcher.runtime.tasks import attach_inline_queue
from tests.backends import Backend, backend_names, embedded_backend, empty_tables, server_backend
from tests.servers import redis_url_or_skip


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--rounds", type=int, default=3, help="chaos suite: how many SIGKILL rounds (3 in CI; e.g. --rounds 10 by hand)")


# A Monday morning in UTC: inside default sending hours almost everywhere in Europe.
START = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


@pytest.fixture(scope="session")
def redis_url() -> str:
    """A real Redis server (PULSE_TEST_REDIS_URL); skipped locally without one, fails in CI."""
    return redis_url_or_skip()


@pytest.fixture(scope="session", params=backend_names())
def backend(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backend]:
    if request.param == "embedded":
        yield from embedded_backend(tmp_path_factory.mktemp("embedded"))
    else:
        yield from server_backend()


def make_settings(backend: Backend, tmp_path: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "environment": "test",
        "secret_key": "test-secret-key-not-for-production-0123456789",
        "database_url": backend.database_url,
        "redis_url": backend.redis_url,
        "outbox_dir": tmp_path / "outbox",
        "clock": "database",
        "public_url": "https://pulse.test",
        # The fakes that stand in for Slack and webhook receivers listen on loopback,
        # which Pulse refuses unless allowed (tests/answers/test_outbound_guard.py).
        "outbound_allow": "127.0.0.1",
        **overrides,
    }
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture
def settings(backend: Backend, tmp_path: Path) -> Settings:
    return make_settings(backend, tmp_path)


@pytest.fixture
def runtime(settings: Settings) -> Iterator[Runtime]:
    runtime = attach_inline_queue(build_runtime(settings))
    empty_tables(runtime.engine)
    assert isinstance(runtime.clock, DatabaseClock)
    runtime.clock.set(START)
    yield runtime
    runtime.close()


@pytest.fixture
def clock(runtime: Runtime) -> DatabaseClock:
    assert isinstance(runtime.clock, DatabaseClock)
    return runtime.clock


@pytest.fixture
def session(runtime: Runtime) -> Iterator[Session]:
    """A session for arranging and checking data; commit what the code under test must see.

    Deferred on SQLite (it does not hold the write lock between statements), so
    the code under test can write while the test keeps this session open.
    """
    with make_session_factory(runtime.engine, read_only=True)() as session:
        yield session


@pytest.fixture
def client(runtime: Runtime) -> Iterator[TestClient]:
    from api.app import create_app

    with TestClient(create_app(runtime.settings, runtime=runtime, start_worker=False)) as test_client:
        yield test_client


@pytest.fixture
def auth(runtime: Runtime) -> Callable[[Role], dict[str, str]]:
    """Headers carrying a fresh key of the given role."""

    def headers(role: Role = Role.ADMIN) -> dict[str, str]:
        with runtime.sessions() as session, session.begin():
            token = create_key(session, role=role, name=f"test {role.value}", now=runtime.clock.now()).token
        return {"Authorization": f"Bearer {token}"}

    return headers
