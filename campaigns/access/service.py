"""Creating and checking API keys."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from campaigns.access.models import ApiKey, Role

KEY_PREFIX = "pulse"


@dataclass(frozen=True)
class NewKey:
    key: ApiKey
    token: str  # shown once; only its hash is stored


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_key(session: Session, *, role: Role, name: str, now: datetime) -> NewKey:
    """Add a key (flushes, does not commit); the token is never retrievable again."""
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    key = ApiKey(name=name, role=role.value, prefix=prefix, secret_hash=_hash(secret), created_at=now)
    session.add(key)
    session.flush()
    return NewKey(key=key, token=f"{KEY_PREFIX}_{prefix}_{secret}")


def verify_key(session: Session, token: str) -> ApiKey | None:
    """The active key for ``token``, or None. Constant-time on the secret."""
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_PREFIX:
        return None
    key = session.scalar(select(ApiKey).where(ApiKey.prefix == parts[1]))
    if key is None or key.revoked_at is not None:
        return None
    if not hmac.compare_digest(key.secret_hash, _hash(parts[2])):
        return None
    return key


LAST_USED_RESOLUTION = timedelta(minutes=1)


def note_use(session: Session, key: ApiKey, *, now: datetime) -> None:
    """Record that ``key`` was used, at most once a minute; commits when it writes.

    Call it before the request writes anything else (the commit is its own). A
    busy key costs one conditional UPDATE a minute, not one write per request.
    """
    if key.last_used_at is not None and key.last_used_at > now - LAST_USED_RESOLUTION:
        return
    session.execute(
        update(ApiKey).where(ApiKey.id == key.id, or_(ApiKey.last_used_at.is_(None), ApiKey.last_used_at <= now - LAST_USED_RESOLUTION))
        .values(last_used_at=now), execution_options={"synchronize_session": False},
    )
    session.commit()


def count_active_keys(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(ApiKey).where(ApiKey.revoked_at.is_(None))) or 0


def revoke_key(session: Session, *, key_id: int, now: datetime) -> bool:
    key = session.get(ApiKey, key_id)
    if key is None or key.revoked_at is not None:
        return False
    key.revoked_at = now
    return True
