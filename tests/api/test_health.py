"""GET /healthz checks the database and the broker for real; only staff see the details."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from fastapi.testclient import TestClient

from api.app import create_app
from campaigns.access.models import Role
from tests.backends import Backend
from tests.conftest import make_settings


def test_anyone_gets_ok_or_not_and_nothing_about_hosts(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_healthy_on_this_backend(client: TestClient, backend: Backend, auth: Callable[[Role], dict[str, str]]) -> None:
    response = client.get("/healthz", headers=auth(Role.VIEWER))
    assert response.status_code == 200, response.text
    checks = response.json()["checks"]
    assert checks["database"]["ok"]
    assert checks["database"]["detail"] == ("postgresql" if backend.is_postgres else "sqlite")
    if backend.redis_url:
        assert checks["redis"]["ok"]


def test_celery_broker_is_checked_over_a_real_connection(backend: Backend, tmp_path: Path, redis_url: str, auth: Callable[[Role], dict[str, str]]) -> None:
    staff = auth(Role.VIEWER)
    good = make_settings(backend, tmp_path, worker="celery", broker_url=redis_url)
    with TestClient(create_app(good)) as client:
        assert client.get("/healthz", headers=staff).json()["checks"]["broker"]["ok"]

    dead = make_settings(backend, tmp_path, worker="celery", broker_url="redis://127.0.0.1:1/0")
    with TestClient(create_app(dead)) as client:
        response = client.get("/healthz", headers=staff)
        public = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"]["broker"]["ok"] is False
    assert public.status_code == 503 and public.json() == {"status": "unavailable"}


def test_unreachable_database_is_503(backend: Backend, tmp_path: Path) -> None:
    settings = make_settings(backend, tmp_path, database_url="postgresql+psycopg://nobody@127.0.0.1:1/none")
    with TestClient(create_app(settings)) as client:
        response = client.get("/healthz", headers={"Authorization": "Bearer pulse_abcd_efgh"})
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable"}  # no key can be verified, so no details
