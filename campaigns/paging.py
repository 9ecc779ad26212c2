"""Keyset paging by id, with opaque cursors."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select
from sqlalchemy.orm import Session

from campaigns.db import ID_MAX


class BadCursor(ValueError):
    pass


def encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"after": last_id}).encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        after = json.loads(base64.urlsafe_b64decode(padded))["after"]
    except (ValueError, KeyError, TypeError):
        raise BadCursor("cursor: not a cursor returned by this API") from None
    if not isinstance(after, int) or isinstance(after, bool) or not 0 <= after <= ID_MAX:
        raise BadCursor("cursor: not a cursor returned by this API")
    return after


@dataclass(frozen=True)
class Page:
    items: list[Any]
    next_cursor: str | None


def page_by_id(session: Session, query: Select[Any], id_column: Any, *, cursor: str | None, limit: int, newest_first: bool = False) -> Page:
    """One page of ``query`` in id order, after the cursor; the next cursor if there is more."""
    after = decode_cursor(cursor)
    if after:
        query = query.where(id_column < after if newest_first else id_column > after)
    order = id_column.desc() if newest_first else id_column
    rows = list(session.scalars(query.order_by(order).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(rows, encode_cursor(rows[-1].id) if more and rows else None)
