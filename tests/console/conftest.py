"""The console is served over HTTPS in tests (public_url https://pulse.test), so its Secure cookies travel."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from dispatcher.runtime.core import Runtime


@pytest.fixture
def browser_client(runtime: Runtime) -> Iterator[TestClient]:
    from api.app import create_app

    with TestClient(create_app(runtime.settings, runtime=runtime, start_worker=False), base_url="https://pulse.test") as test_client:
        yield test_client


@pytest.fixture
def other_client(runtime: Runtime) -> Iterator[TestClient]:
    """A second browser, with its own cookies."""
    from api.app import create_app

    with TestClient(create_app(runtime.settings, runtime=runtime, start_worker=False), base_url="https://pulse.test") as test_client:
        yield test_client
