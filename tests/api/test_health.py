"""GET /healthz checks the database and the broker for real."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from api.app import create_app
from tests.backends import Backend
from tests.conftest import make_settings


def test_healthy_on_this_backend(client: TestClient, backend: Backend) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200, response.text
    checks = response.json()["checks"]
    assert checks["database"]["ok"]
    assert checks["database"]["detail"] == ("postgresql" if backend.is_postgres else "sqlite")
    if backend.redis_url:
        assert checks["redis"]["ok"]


def test_celery_broker_is_checked_over_a_real_connection(backend: Backend, tmp_path: Path, redis_url: str) -> None:
    good = make_settings(backend, tmp_path, worker="celery", broker_url=redis_url)
    with TestClient(create_app(good)) as client:
        assert client.get("/healthz").json()["checks"]["broker"]["ok"]

    dead = make_settings(backend, tmp_path, worker="celery", broker_url="redis://127.0.0.1:1/0")
    with TestClient(create_app(dead)) as client:
        response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"]["broker"]["ok"] is False


def test_unreachable_database_is_503(backend: Backend, tmp_path: Path) -> None:
    settings = make_settings(backend, tmp_path, database_url="postgresql+psycopg://nobody@127.0.0.1:1/none")
    with TestClient(create_app(settings)) as client:
        response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"]["database"]["ok"] is False
