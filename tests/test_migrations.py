"""Alembic migrations build exactly the schema the models describe, on every backend."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from campaigns.db import make_engine
from campaigns.migrate import current_revision, upgrade
from campaigns.models import Base
from tests.backends import Backend


def test_migrated_schema_matches_the_models(backend: Backend) -> None:
    engine = make_engine(backend.database_url)
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    engine.dispose()
    assert differences == []


def test_upgrade_is_idempotent(backend: Backend) -> None:
    before = current_revision(backend.database_url)
    upgrade(backend.database_url)
    assert current_revision(backend.database_url) == before is not None


def test_a_postgresql_older_than_pulse_needs_is_refused_before_migrating(backend: Backend, monkeypatch: pytest.MonkeyPatch) -> None:
    from campaigns import migrate

    major = 0
    if backend.is_postgres:
        engine = make_engine(backend.database_url)
        with engine.connect() as connection:
            major = int(connection.exec_driver_sql("SHOW server_version_num").scalar_one()) // 10_000
        engine.dispose()
    monkeypatch.setattr(migrate, "POSTGRESQL_AT_LEAST", major + 1)
    if backend.is_postgres:
        with pytest.raises(migrate.UnsupportedDatabase, match=f"PostgreSQL {major} is too old: Pulse needs PostgreSQL {major + 1} or newer"):
            upgrade(backend.database_url)
    else:
        upgrade(backend.database_url)  # SQLite has no such floor
    assert current_revision(backend.database_url) is not None
