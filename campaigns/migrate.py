"""Running the Alembic migrations against a database URL."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


POSTGRESQL_AT_LEAST = 15  # MERGE (the send results' one statement per chunk)


class UnsupportedDatabase(RuntimeError):
    """The server is older than Pulse's statements need."""


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the schema at ``url`` up to ``revision``; safe to run again. Refuses a PostgreSQL
    older than 15 before touching it (``UnsupportedDatabase``)."""
    _check_server(url)
    command.upgrade(alembic_config(url), revision)


def _check_server(url: str) -> None:
    from sqlalchemy import make_url

    from campaigns.db import make_engine

    if make_url(url).get_backend_name() != "postgresql":
        return
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            major = int(connection.exec_driver_sql("SHOW server_version_num").scalar_one()) // 10_000
    finally:
        engine.dispose()
    if major < POSTGRESQL_AT_LEAST:
        raise UnsupportedDatabase(f"PostgreSQL {major} is too old: Pulse needs PostgreSQL {POSTGRESQL_AT_LEAST} or newer")


def current_revision(url: str) -> str | None:
    from alembic.runtime.migration import MigrationContext

    from campaigns.db import make_engine

    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()
