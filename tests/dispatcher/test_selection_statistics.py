"""A selection leaves PostgreSQL statistics of what it wrote, for the steps planned on it right after."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from dispatcher.runtime.core import Runtime
from dispatcher.sending.selection import select_audience
from tests.backends import Backend
from tests.dispatcher.test_delivery_outcomes import launch


def test_selection_analyzes_the_episodes_and_reservations_it_wrote(backend: Backend, runtime: Runtime, session: Session) -> None:
    """Without statistics (autovacuum comes a minute or more later) the planner guessed that a handful
    of reservations had no message yet, and linking each batch's invites scanned all of them."""
    if not backend.is_postgres:
        pytest.skip("statistics are PostgreSQL's (ANALYZE); SQLite plans without them")
    campaign_id = launch(runtime, 30)

    select_audience(runtime, campaign_id)

    estimated: dict[str, float] = dict(session.execute(text(
        "SELECT relname, reltuples FROM pg_class WHERE oid IN ('episodes'::regclass, 'fatigue_touches'::regclass)")).all())
    assert estimated == {"episodes": 30, "fatigue_touches": 30}  # a table never analyzed says -1


def test_selection_takes_statistics_again_as_it_grows(backend: Backend, runtime: Runtime, session: Session) -> None:
    """Each chunk probes the episodes and the ledger by its ids; planned on statistics of the tables before the
    selection filled them, those probes scanned everything written so far (a million contacts: O(n²)). So the
    statistics are taken after the first chunk and at each doubling: 2,500 contacts in chunks of 1,000 are
    analyzed after the first and the second chunk, then at the end."""
    if not backend.is_postgres:
        pytest.skip("statistics are PostgreSQL's (ANALYZE); SQLite plans without them")
    campaign_id = launch(runtime, 2500)

    def analyzed() -> dict[str, int]:
        session.rollback()  # a new snapshot of the cumulative statistics (ANALYZE reports its count at once)
        return dict(session.execute(text(
            "SELECT relname, analyze_count FROM pg_stat_user_tables WHERE relname IN ('episodes', 'fatigue_touches')")).all())

    before = analyzed()
    select_audience(runtime, campaign_id)
    after = analyzed()

    assert {name: after[name] - before[name] for name in after} == {"episodes": 3, "fatigue_touches": 3}
