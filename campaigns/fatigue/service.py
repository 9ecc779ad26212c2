"""Reading and changing the policy in force; every change is a new version with who and when."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from campaigns.access.models import ApiKey
from campaigns.fatigue.models import FatiguePolicyVersion
from campaigns.fatigue.policy import DEFAULT_POLICY, Policy, check_policy


@dataclass(frozen=True)
class PolicyRecord:
    policy: Policy
    created_at: datetime | None  # None: the built-in defaults, never changed
    created_by: str | None


def current_policy(session: Session) -> Policy:
    """The newest version (the defaults while nobody has saved one).

    Asked once per budget transaction, so every process follows a change at
    once; one small indexed query and a few microseconds of parsing.
    """
    row = session.execute(
        select(FatiguePolicyVersion.id, FatiguePolicyVersion.document).order_by(FatiguePolicyVersion.id.desc()).limit(1)
    ).first()
    if row is None:
        return DEFAULT_POLICY
    version, document = row
    return check_policy(document, version=version)


def policy_versions(session: Session) -> dict[int, Policy]:
    """Every version ever in force, the defaults as version 0."""
    versions = {0: DEFAULT_POLICY}
    for row in session.scalars(select(FatiguePolicyVersion)):
        versions[row.id] = check_policy(row.document, version=row.id)
    return versions


def current_record(session: Session) -> PolicyRecord:
    row = session.scalar(select(FatiguePolicyVersion).order_by(FatiguePolicyVersion.id.desc()).limit(1))
    if row is None:
        return PolicyRecord(DEFAULT_POLICY, None, None)
    return PolicyRecord(check_policy(row.document, version=row.id), row.created_at, row.created_by)


def history(session: Session) -> list[PolicyRecord]:
    """Every saved version, newest first, then the defaults they replaced."""
    rows = session.scalars(select(FatiguePolicyVersion).order_by(FatiguePolicyVersion.id.desc()))
    return [PolicyRecord(check_policy(r.document, version=r.id), r.created_at, r.created_by) for r in rows] + [
        PolicyRecord(DEFAULT_POLICY, None, None)
    ]


def save_policy(session: Session, *, document: Mapping[str, Any], key: ApiKey | None, now: datetime) -> PolicyRecord:
    """Check ``document`` and make it the policy in force (flushes; the caller commits).

    Raises ``FieldError`` naming the field; then nothing is written and the
    old policy stays in force.
    """
    policy = check_policy(document)
    who = f"{key.name} (key {key.id}, {key.role})" if key is not None else "system"
    row = FatiguePolicyVersion(
        document=policy.document(), created_at=now, created_by_key_id=key.id if key else None, created_by=who[:200],
    )
    session.add(row)
    session.flush()
    return PolicyRecord(check_policy(row.document, version=row.id), now, row.created_by)
