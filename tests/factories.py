"""Test data builders: the smallest valid rows, with anything overridable."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy.orm import Session

from campaigns.people.models import Account, Contact, TeamMember

_sequence = itertools.count(1)
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


def team_member(session: Session, **values: Any) -> TeamMember:
    n = next(_sequence)
    member = TeamMember(**{"name": f"CSM {n}", "email": f"csm{n}@example.com", "created_at": EPOCH, **values})
    session.add(member)
    session.flush()
    return member


def account(session: Session, **values: Any) -> Account:
    n = next(_sequence)
    row = Account(**{
        "external_id": f"acc-{n}", "name": f"Account {n}", "segment": "smb", "tier": "gold",
        "plan": "pro", "lifecycle_stage": "active", "created_on": date(2024, 1, 1),
        "attributes": {}, "created_at": EPOCH, "updated_at": EPOCH, **values,
    })
    session.add(row)
    session.flush()
    return row


def contact(session: Session, **values: Any) -> Contact:
    n = next(_sequence)
    if "account" not in values and "account_id" not in values:
        values["account"] = account(session)
    row = Contact(**{
        "external_id": f"c-{n}", "name": f"Contact {n}", "email": f"contact{n}@example.com",
        "phone": None, "role": "admin", "locale": "en", "timezone": "UTC", "attributes": {},
        "created_at": EPOCH, "updated_at": EPOCH, **values,
    })
    session.add(row)
    session.flush()
    return row


TIMEZONES = ("America/Los_Angeles", "Europe/Berlin", "Asia/Tokyo", "UTC")


def population(session: Session, count: int, *, timezones: tuple[str, ...] = TIMEZONES, **contact_values: Any) -> list[Contact]:
    """``count`` contacts spread over accounts (each with an owner) and timezones."""
    owners = [team_member(session) for _ in range(3)]
    accounts = [account(session, owner_id=owners[i % 3].id) for i in range(max(1, count // 10))]
    return [
        contact(session, account=accounts[i % len(accounts)], timezone=timezones[i % len(timezones)], **contact_values)
        for i in range(count)
    ]
