"""``campaigns.db.rows_source``: the one way a batch of rows reaches SQL, on SQLite and PostgreSQL alike."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import bindparam, select, text
from sqlalchemy.orm import Session

from campaigns.db import UtcDateTime, rows_source
from campaigns.people.models import Contact
from dispatcher.runtime.core import Runtime
from tests import factories

COLUMNS = (("n", "integer"), ("word", "text"), ("flag", "boolean"), ("at", "timestamptz"))
AT = datetime(2026, 3, 2, 10, 30, 15, 123456, tzinfo=UTC)


def test_rows_and_columns_give_the_same_rows_with_their_types_and_nulls(runtime: Runtime, session: Session) -> None:
    rows = [(1, "één", True, AT), (2, None, False, None), (3, "it's \"quoted\"", None, AT + timedelta(days=1))]
    by_rows = rows_source(session, COLUMNS, rows)
    by_columns = rows_source(session, COLUMNS, {"n": [1, 2, 3], "word": [r[1] for r in rows], "flag": [r[2] for r in rows], "at": [r[3] for r in rows]})
    assert by_rows == by_columns  # one text, one parameter, whichever shape the caller holds

    source, params = by_rows
    found = session.execute(text(f"SELECT r.n, r.word, r.flag, r.at IS NULL FROM {source} ORDER BY r.n"), params).all()

    assert [(n, word, None if flag is None else bool(flag), bool(no_time)) for n, word, flag, no_time in found] == [
        (n, w, f, at is None) for n, w, f, at in rows
    ]
    # A time compares and stores as UtcDateTime writes it: joined to a real column it matches.
    contact = factories.contact(session, external_id="c1")
    session.execute(text("UPDATE contacts SET last_seen_at = :at WHERE id = :id").bindparams(bindparam("at", type_=UtcDateTime)), {"at": AT, "id": contact.id})
    matched = session.execute(text(f"SELECT c.id FROM contacts c JOIN {source} ON c.last_seen_at = r.at"), params).scalars().all()
    assert matched == [contact.id]
    assert session.scalar(select(Contact.last_seen_at)) == AT


def test_a_naive_time_is_refused(runtime: Runtime, session: Session) -> None:
    with pytest.raises(ValueError, match="naive"):
        rows_source(session, COLUMNS, [(1, "x", True, datetime(2026, 3, 2, 10))])
