"""Shared pieces of the benchmarks: a fresh PostgreSQL schema, peak memory, timing."""

from __future__ import annotations

import os
import resource
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import make_url, text

from campaigns.db import make_engine
from campaigns.migrate import upgrade

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def base_url() -> str:
    return os.environ.get("PULSE_BENCH_DATABASE_URL", DEFAULT_URL)


@contextmanager
def fresh_schema(url: str | None = None) -> Iterator[str]:
    """A new, migrated PostgreSQL schema for one run; dropped afterwards."""
    base = url or base_url()
    schema = f"pulse_bench_{uuid.uuid4().hex[:8]}"
    admin = make_engine(base)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    scoped = f"{base}{'&' if '?' in base else '?'}options={quote(f'-csearch_path={schema}')}"
    try:
        upgrade(scoped)
        yield scoped
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@contextmanager
def copy_of_database(name: str, prepare: Callable[[str], None], url: str | None = None) -> Iterator[str]:
    """A new database copied from the kept database ``name`` for one run; dropped afterwards.

    ``prepare(url)`` fills the kept one the first time (migrated, seeded, vacuumed), and it stays
    between runs: ``CREATE DATABASE … TEMPLATE`` copies its files in seconds where seeding a
    million contacts takes minutes. Delete it by hand (``dropdb``) when the seed changes.
    """
    base = make_url(url or base_url())
    admin = make_engine(base.render_as_string(hide_password=False)).execution_options(isolation_level="AUTOCOMMIT")
    copy = f"{name}_{uuid.uuid4().hex[:8]}"
    try:
        with admin.connect() as connection:
            if connection.scalar(text("SELECT count(*) FROM pg_database WHERE datname = :name"), {"name": name}) == 0:
                connection.execute(text(f'CREATE DATABASE "{name}"'))
                try:
                    kept = base.set(database=name).render_as_string(hide_password=False)
                    upgrade(kept)
                    prepare(kept)
                except BaseException:
                    connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
                    raise
            connection.execute(text(f'CREATE DATABASE "{copy}" TEMPLATE "{name}"'))
        try:
            yield base.set(database=copy).render_as_string(hide_password=False)
        finally:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE "{copy}" WITH (FORCE)'))
    finally:
        admin.dispose()


def settle(url: str, tables: tuple[str, ...] = ()) -> None:
    """Vacuum and analyze what a bench seeded (``tables``, or the whole database), as autovacuum keeps a live one's.

    Autovacuum runs late or not at all on a freshly seeded schema, and without statistics the planner
    guesses: unanalyzed, an SMS reply was matched by reading every open episode into a temporary file
    (70 ms of the server's CPU per reply, where 0.4 ms with statistics), and the ledger reads of the
    budget picked sequential scans. A bench measures what a database in use does, so it settles first.
    """
    engine = make_engine(url).execution_options(isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f"VACUUM (ANALYZE) {', '.join(tables)}" if tables else "VACUUM (ANALYZE)"))
    engine.dispose()


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Timer:
    def __enter__(self) -> Timer:
        self.start = time.perf_counter()
        return self

    def __exit__(self, *_: object) -> None:
        self.seconds = time.perf_counter() - self.start
