"""``Idempotency-Key``: the same key and body get the same answer; another body is refused."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.errors import ApiError
from campaigns.programs.models import IdempotentRequest


def body_digest(body: Any) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


def idempotent(session: Session, *, key: str | None, body: Any, now: datetime, run: Callable[[], tuple[int, dict[str, Any]]]) -> tuple[int, dict[str, Any]]:
    """Run once per key: commits the work and the remembered answer together."""
    if key is None:
        status, response = run()
        session.commit()
        return status, response
    if not 1 <= len(key) <= 200:
        raise ApiError(422, "invalid_header", "Idempotency-Key must be 1 to 200 characters", fields=[{"field": "Idempotency-Key", "reason": "length"}])
    digest = body_digest(body)
    seen = session.get(IdempotentRequest, key)
    if seen is None:
        status, response = run()
        session.add(IdempotentRequest(key=key, body_digest=digest, status_code=status, response=response, created_at=now))
        try:
            session.commit()
            return status, response
        except IntegrityError:  # the same key raced in from another request: answer as it did
            session.rollback()
            seen = session.get(IdempotentRequest, key)
            if seen is None:  # some other constraint failed: not a replay
                raise
    stored_digest, status, response = seen.body_digest, seen.status_code, seen.response
    session.rollback()  # a replay writes nothing: end the transaction (and its write lock) now
    if stored_digest != digest:
        raise ApiError(422, "idempotency_key_reused", "this Idempotency-Key was used with a different body; use a new key for a new request",
                       fields=[{"field": "Idempotency-Key", "reason": "used with a different body"}])
    return status, response
