"""Engines, sessions and the declarative base, made from a URL the caller gives.

Nothing here reads settings: the dispatcher (or a test) passes the URL in.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    JSON,
    Connection,
    DateTime,
    Engine,
    MetaData,
    any_,
    bindparam,
    create_engine,
    event,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

if TYPE_CHECKING:
    import psycopg

# The largest value of a BIGINT column (and of SQLite's INTEGER): no integer
# beyond it is accepted anywhere, even inside JSON attributes.
DB_INT_MAX = 2**63 - 1
# Ids are INTEGER columns on PostgreSQL: an id (in a path, a query, a body or a
# cursor) beyond this names nothing and is refused at the edge.
ID_MAX = 2**31 - 1


def id_in(text: str) -> int | None:
    """The id ``text`` spells in ASCII digits, or None (beyond ``ID_MAX`` too).

    ``str.isdigit`` is no test before ``int``: it passes "²" (which ``int`` refuses)
    and digit runs too long for ``int`` to convert or a column to hold.
    """
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 10 and int(text) <= ID_MAX else None

# Stable constraint names, so Alembic migrations read the same on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


JsonDocument = JSON().with_variant(JSONB(), "postgresql")


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend.

    SQLite keeps no offset, so values come back naive; this gives them back
    their UTC zone and refuses naive values on the way in (a naive time is a bug).
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; use an aware UTC time")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for ``url``; SQLite gets foreign keys, WAL and a busy timeout.

    Bound parameters never appear in error messages or SQL logs: they carry
    personal data (emails, phone numbers, comments) and tokens.
    """
    kwargs.setdefault("hide_parameters", True)
    if url.startswith("sqlite"):
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        # pysqlite's own transaction handling defers BEGIN; take it over. A
        # deferred transaction that reads and then writes after another thread
        # committed fails at once ("database is locked": its snapshot is stale,
        # and SQLite does not wait). So transactions begin IMMEDIATE, taking the
        # write lock up front and waiting their turn; read-only sessions (see
        # ``read_only``) stay deferred, which never blocks anyone in WAL mode.
        @event.listens_for(engine, "connect")
        def _no_pysqlite_begin(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None

        @event.listens_for(engine, "begin")
        def _begin(connection: Any) -> None:
            read_only = connection.get_execution_options().get(READ_ONLY, False)
            connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

        return engine
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    return create_engine(url, **kwargs)


READ_ONLY = "pulse_read_only"


def make_session_factory(engine: Engine, *, read_only: bool = False) -> sessionmaker[Session]:
    """Sessions on ``engine``; ``read_only`` ones never take SQLite's write lock up front."""
    bind = engine.execution_options(**{READ_ONLY: True}) if read_only else engine
    return sessionmaker(bind=bind, expire_on_commit=False)


def driver_connection(connection: Connection) -> psycopg.Connection[Any]:
    """The psycopg connection under a SQLAlchemy one (PostgreSQL only): for COPY and binary arrays."""
    raw = connection.connection.driver_connection
    if raw is None:  # only once SQLAlchemy has invalidated the connection
        raise RuntimeError("the database connection was closed")
    return raw


def dialect_insert(session: Session, model: Any) -> Any:
    """An INSERT that knows ``on_conflict_do_nothing/update`` on SQLite and PostgreSQL alike."""
    from sqlalchemy.dialects import postgresql, sqlite

    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(model)


def one_of(session: Session, column: Any, values: Iterable[Any]) -> Any:
    """``column IN values``; on PostgreSQL ``= ANY`` of one array parameter, so a batch of
    thousands is one bound value (no statement text that grows, and reads three times faster)."""
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam(None, list(values), type_=ARRAY(column.type)))
    return column.in_(list(values))


def insert_ignoring_conflicts(session: Session, model: Any, rows: list[dict[str, Any]], *, unique: list[str]) -> None:
    """Insert many rows, skipping any that would break the ``unique`` key.

    A plain executemany of one small statement on the table (psycopg pipelines it
    and prepares it once), never a giant multi-row INSERT text that the driver
    parses again each time; through the ORM entity an executemany goes row by row.
    One statement needs one set of keys: a key some rows leave out is NULL in them.
    """
    if rows:
        table = model.__table__
        keys = {key for row in rows for key in row}
        rows = [row if len(row) == len(keys) else {key: row.get(key) for key in keys} for row in rows]
        session.execute(dialect_insert(session, table).on_conflict_do_nothing(index_elements=unique), rows)


def rows_source(
    session: Session, columns: Sequence[tuple[str, str]], values: Mapping[str, Sequence[Any]] | Iterable[Sequence[Any]], *, alias: str = "r",
) -> tuple[str, dict[str, Any]]:
    """A FROM item with one row per given row, for ``INSERT … SELECT`` / ``UPDATE … FROM``: SQL text and its parameters.

    ``columns`` are (name, PostgreSQL type) pairs; ``values`` either one list
    per column (a mapping by name) or the rows themselves (sequences in
    ``columns`` order). Whatever the batch's size it travels as one parameter,
    one ``json.dumps`` of an array of arrays (the cheapest form to build and
    to send: a third of the client CPU of an array of objects, a sixth of one
    typed array per column), and the statement text does not grow. PostgreSQL
    reads it with ``jsonb_array_elements`` and casts each position to its type
    (``jsonb`` columns stay JSON); SQLite with ``json_each`` (untyped; booleans
    come back as 0/1). Datetimes go as PostgreSQL reads them (ISO 8601) or as
    ``UtcDateTime`` stores them on SQLite, so they compare and store the same.
    Names and types are the caller's constants, never user input.
    """
    if isinstance(values, Mapping):
        values = zip(*(values[name] for name, _ in columns), strict=True)
    param = f"{alias}_rows"
    if session.get_bind().dialect.name == "postgresql":
        picks = ", ".join(
            f"j.value->{index} AS {name}" if kind == "jsonb" else f"CAST(j.value->>{index} AS {kind}) AS {name}"
            for index, (name, kind) in enumerate(columns)
        )
        source = f"(SELECT {picks} FROM jsonb_array_elements(CAST(:{param} AS jsonb)) AS j) AS {alias}"
        return source, {param: json.dumps(list(values), default=_iso)}
    picks = ", ".join(f"json_extract(j.value, '$[{index}]') AS {name}" for index, (name, _) in enumerate(columns))
    stamp = UtcDateTime().dialect_impl(session.get_bind().dialect).bind_processor(session.get_bind().dialect)
    assert stamp is not None
    return f"(SELECT {picks} FROM json_each(:{param}) AS j) AS {alias}", {param: json.dumps(list(values), default=lambda v: _stored(stamp, v))}


@lru_cache(maxsize=4096)  # a batch's times repeat (events of the same seconds)
def _iso(value: Any) -> str:
    """A datetime inside a JSON parameter, as PostgreSQL reads a timestamptz (json.dumps calls this only for what JSON lacks)."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; use an aware UTC time")
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _stored(stamp: Any, value: Any) -> Any:
    if isinstance(value, datetime):
        return stamp(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def bound_time(session: Session, value: datetime) -> Any:
    """``value`` as a plain ``text()`` parameter stores it in a ``UtcDateTime`` column (SQLite keeps text)."""
    if session.get_bind().dialect.name == "postgresql":
        return value
    stamp = UtcDateTime().dialect_impl(session.get_bind().dialect).bind_processor(session.get_bind().dialect)
    assert stamp is not None
    return stamp(value)


def refresh_statistics(session: Session, tables: Sequence[str]) -> None:
    """PostgreSQL: statistics of ``tables`` taken now, in the caller's transaction, as autovacuum
    would take them a minute or more later (skipped while autovacuum is at one already). SQLite: nothing.

    For rows just bulk-written that statements are about to be planned on: without statistics (or
    with those of the table before the write) the planner guesses a condition like ``message_key IS
    NULL`` matches a handful of rows, and a per-batch statement becomes a scan of all of them.
    Table names are the caller's constants, never user input.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text(f"ANALYZE (SKIP_LOCKED) {', '.join(tables)}"))


def lock_name(session: Session, name: str) -> None:
    """Hold a lock on ``name`` until the transaction ends, for get-or-create races.

    PostgreSQL: a transaction-scoped advisory lock. SQLite needs none: writing
    transactions begin IMMEDIATE, so they already run one at a time.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:name, 0))"), {"name": name})


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commits on success, rolls back on any error."""
    with factory() as session, session.begin():
        yield session
