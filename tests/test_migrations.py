"""Alembic migrations build exactly the schema the models describe, on every backend."""

from __future__ import annotations

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
