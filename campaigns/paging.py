"""Opaque cursors for keyset paging by id."""

from __future__ import annotations

import base64
import json


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
    if not isinstance(after, int) or after < 0:
        raise BadCursor("cursor: not a cursor returned by this API")
    return after
