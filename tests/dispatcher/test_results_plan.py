"""A chunk's results find their messages by key, whatever statistics the planner has of the table."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.orm import Session

from campaigns.db import driver_connection
from dispatcher.runtime.core import Runtime
from dispatcher.sending.outcomes import _write_results
from tests.backends import Backend

AT_REST = 50_000  # messages already sent when autovacuum analyzed the table
CHUNK = 1_000


def _join_filtered(node: dict[str, Any]) -> int:
    """Rows a plan threw away by join filters, over every node."""
    return int(node.get("Rows Removed by Join Filter", 0)) + sum(_join_filtered(child) for child in node.get("Plans", []))


def test_results_find_their_rows_by_key_when_statistics_were_taken_at_rest(backend: Backend, runtime: Runtime, session: Session) -> None:
    """Statistics taken while no message was in flight say no row is ``sending``. The results'
    ``UPDATE … FROM unnest`` then scanned the table for "that one row" and compared each of the
    1,000 it found with each of the chunk's 1,000 values (999,000 rows thrown away, 160 ms a chunk
    at 200,000 messages). Written as a ``MERGE``, the state check is the action's condition and the
    rows are joined to the chunk by key."""
    if not backend.is_postgres:
        pytest.skip("plans and statistics are PostgreSQL's; SQLite writes results with an executemany by key")
    session.execute(text(
        "INSERT INTO messages (idempotency_key, step, substitutions, state, attempts, created_at, updated_at) "
        "SELECT 'at-rest-' || i, 'invite', '{}', 'sent', 1, now(), now() FROM generate_series(1, :n) AS i"), {"n": AT_REST})
    session.commit()
    session.execute(text("ANALYZE messages"))
    ids = list(session.scalars(text(
        "UPDATE messages SET state = 'sending' WHERE id IN (SELECT id FROM messages ORDER BY id LIMIT :n) RETURNING id"), {"n": CHUNK}))
    session.commit()
    now = runtime.clock.now()
    values = [{"id": id_, "state": "sent", "sent_at": now, "provider_message_id": f"p{id_}", "segments": None,
               "error_code": None, "error_text": None, "not_before": None, "attempts": 1} for id_ in ids]
    statements: list[tuple[str, Any]] = []

    def seen(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        statements.append((statement, parameters))

    engine = session.get_bind()
    event.listen(engine, "before_cursor_execute", seen)
    try:
        _write_results(session, values, now)
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    session.commit()
    assert session.scalar(text("SELECT count(*) FROM messages WHERE state = 'sent' AND provider_message_id = 'p' || id")) == CHUNK

    statement, parameters = statements[-1]
    session.execute(text("UPDATE messages SET state = 'sending' WHERE id = ANY(:ids)"), {"ids": ids})  # in flight again, not committed
    with driver_connection(session.connection()).cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + statement, parameters)
        explained = cursor.fetchone()
        assert explained is not None
        plan = explained[0][0]["Plan"]
    session.rollback()
    assert _join_filtered(plan) < CHUNK, plan
