"""The two stacks every database test runs on: embedded (SQLite) and servers (PostgreSQL + Redis).

Each test run gets a fresh schema (a new SQLite file; a new PostgreSQL schema
dropped at the end), migrated by Alembic; each test starts from empty tables.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError

from campaigns.db import make_engine
from campaigns.migrate import upgrade
from campaigns.models import Base
from tests.servers import IN_CI, missing, redis_url_or_skip, server_url


@dataclass(frozen=True)
class Backend:
    name: str
    database_url: str
    redis_url: str | None

    @property
    def is_postgres(self) -> bool:
        return self.database_url.startswith("postgresql")


def backend_names() -> list[str]:
    names = ["embedded"]
    if os.environ.get("PULSE_TEST_DATABASE_URL") or IN_CI:
        names.append("servers")
    return names


def embedded_backend(directory: Path) -> Iterator[Backend]:
    url = f"sqlite:///{directory / 'pulse-test.db'}"
    upgrade(url)
    yield Backend("embedded", url, None)


def server_backend() -> Iterator[Backend]:
    base = server_url("PULSE_TEST_DATABASE_URL")
    if not base:
        missing("PULSE_TEST_DATABASE_URL is not set")
    redis_url = redis_url_or_skip()
    base = base.replace("postgresql://", "postgresql+psycopg://", 1) if base.startswith("postgresql://") else base
    schema = f"pulse_test_{uuid.uuid4().hex[:10]}"
    admin = make_engine(base)
    try:
        with admin.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:
        missing(f"PostgreSQL at PULSE_TEST_DATABASE_URL is unreachable: {exc}")
    separator = "&" if "?" in base else "?"
    url = f"{base}{separator}options={quote(f'-csearch_path={schema}')}"
    try:
        upgrade(url)
        yield Backend("servers", url, redis_url)
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def empty_tables(engine: Engine) -> None:
    """Every table emptied and identities restarted, so each test starts alike."""
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    if engine.dialect.name == "postgresql":
        # A test's background work (a follow-through kick, a writer thread) may still hold a row
        # lock when the next test starts: PostgreSQL then picks the TRUNCATE as a deadlock's
        # victim. The other transaction ends; the TRUNCATE taken again finds the tables free.
        for attempt in range(3):
            try:
                with engine.begin() as connection:
                    connection.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
                return
            except OperationalError as exc:
                if attempt == 2 or "deadlock" not in str(exc):
                    raise
                time.sleep(0.2)
    with engine.begin() as connection:
        for table in tables:
            connection.execute(text(f"DELETE FROM {table}"))
        has_sequence = connection.execute(text("SELECT 1 FROM sqlite_master WHERE name='sqlite_sequence'")).first()
        if has_sequence:
            connection.execute(text("DELETE FROM sqlite_sequence"))
