"""A chunk's claim and its results find their messages by key, whatever statistics the planner has of the table."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, cast

import pytest
from sqlalchemy import event, text
from sqlalchemy.orm import Session

from campaigns.db import driver_connection
from dispatcher.runtime.clock import utcnow
from dispatcher.runtime.core import Runtime
from dispatcher.sending.handoff import _claim_statement
from dispatcher.sending.outcomes import _write_results
from tests.backends import Backend

AT_REST = 50_000  # messages already sent when autovacuum analyzed the table
CHUNK = 1_000


def _thrown_away(node: dict[str, Any], by: str) -> int:
    """Rows a plan threw away by ``by`` ("Join Filter", "Filter"), over every node."""
    return int(node.get(f"Rows Removed by {by}", 0)) + sum(_thrown_away(child, by) for child in node.get("Plans", []))


@contextmanager
def _sent_statements(session: Session) -> Iterator[list[tuple[str, Any]]]:
    """The statements (and their parameters) sent to the server meanwhile, as the driver got them."""
    statements: list[tuple[str, Any]] = []

    def seen(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        statements.append((statement, parameters))

    engine = session.get_bind()
    event.listen(engine, "before_cursor_execute", seen)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", seen)


def _explained(session: Session, statement: str, parameters: Any) -> dict[str, Any]:
    """The plan the server ran ``statement`` with (run, then rolled back)."""
    with driver_connection(session.connection()).cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + statement, parameters)
        explained = cursor.fetchone()
    session.rollback()
    assert explained is not None
    return cast(dict[str, Any], explained[0][0]["Plan"])


def _at_rest(session: Session) -> None:
    """Messages already sent when autovacuum analyzed the table."""
    session.execute(text(
        "INSERT INTO messages (idempotency_key, step, substitutions, state, attempts, created_at, updated_at) "
        "SELECT 'at-rest-' || i, 'invite', '{}', 'sent', 1, now(), now() FROM generate_series(1, :n) AS i"), {"n": AT_REST})
    session.commit()
    session.execute(text("ANALYZE messages"))


def test_results_find_their_rows_by_key_when_statistics_were_taken_at_rest(backend: Backend, runtime: Runtime, session: Session) -> None:
    """Statistics taken while no message was in flight say no row is ``sending``. The results'
    ``UPDATE … FROM unnest`` then scanned the table for "that one row" and compared each of the
    1,000 it found with each of the chunk's 1,000 values (999,000 rows thrown away, 160 ms a chunk
    at 200,000 messages). Written as a ``MERGE``, the state check is the action's condition and the
    rows are joined to the chunk by key."""
    if not backend.is_postgres:
        pytest.skip("plans and statistics are PostgreSQL's; SQLite writes results with an executemany by key")
    _at_rest(session)
    ids = list(session.scalars(text(
        "UPDATE messages SET state = 'sending' WHERE id IN (SELECT id FROM messages ORDER BY id LIMIT :n) RETURNING id"), {"n": CHUNK}))
    session.commit()
    now = runtime.clock.now()
    values = [{"id": id_, "state": "sent", "sent_at": now, "provider_message_id": f"p{id_}", "segments": None,
               "error_code": None, "error_text": None, "not_before": None, "attempts": 1} for id_ in ids]
    with _sent_statements(session) as statements:
        _write_results(session, values, now)
    session.commit()
    assert session.scalar(text("SELECT count(*) FROM messages WHERE state = 'sent' AND provider_message_id = 'p' || id")) == CHUNK

    session.execute(text("UPDATE messages SET state = 'sending' WHERE id = ANY(:ids)"), {"ids": ids})  # in flight again, not committed
    plan = _explained(session, *statements[-1])
    assert _thrown_away(plan, "Join Filter") < CHUNK, plan


def test_a_claim_finds_its_rows_by_key_when_statistics_were_taken_with_nothing_due(backend: Backend, runtime: Runtime, session: Session) -> None:
    """Statistics taken while nothing was due make the partial index over due messages look empty,
    and a claim of a chunk's ids walked every due message of the step to find them (quadratic over a
    step). The claim reaches its rows by primary key."""
    if not backend.is_postgres:
        pytest.skip("plans and statistics are PostgreSQL's")
    _at_rest(session)
    session.execute(text(
        "INSERT INTO messages (idempotency_key, step, substitutions, state, attempts, created_at, updated_at, not_before) "
        "SELECT 'due-' || i, 'invite', '{}', 'queued', 0, now(), now(), :due FROM generate_series(1, :n) AS i"),
        {"n": 10 * CHUNK, "due": runtime.clock.now()})
    ids = list(session.scalars(text("SELECT id FROM messages WHERE state = 'queued' ORDER BY id LIMIT :n"), {"n": CHUNK}))
    session.commit()

    with _sent_statements(session) as statements:
        claimed = session.execute(_claim_statement(session, ids, runtime.clock.now(), utcnow(), checked=False)).all()
    session.rollback()
    assert len(claimed) == CHUNK

    plan = _explained(session, *statements[-1])
    assert _thrown_away(plan, "Filter") < CHUNK, plan
