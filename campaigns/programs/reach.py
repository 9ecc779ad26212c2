"""Which media a contact can be reached on: an address, not suppressed, a working channel."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import and_, exists, false, or_, select
from sqlalchemy.orm import Session

from campaigns.db import one_of
from campaigns.people.models import Contact
from campaigns.programs.models import Suppression

MEDIA = ("email", "sms", "in_app")
IN_APP_RECENT = timedelta(days=30)  # in-app only reaches people who use the product


class Addressable(Protocol):
    """What reachability reads of a contact: a ``Contact``, or a plain row with these columns."""

    @property
    def email(self) -> str | None: ...
    @property
    def phone(self) -> str | None: ...
    @property
    def external_id(self) -> str | None: ...
    @property
    def last_seen_at(self) -> datetime | None: ...


def address(contact: Addressable, medium: str) -> str | None:
    if medium == "email":
        return contact.email
    if medium == "sms":
        return contact.phone
    return contact.external_id  # in_app


def reachable_condition(allowed: Sequence[str], available: set[str], now: datetime) -> Any:
    """SQL over ``contacts``: true when ``Reach.media`` would name at least one medium (the same four checks)."""
    columns = {"email": Contact.email, "sms": Contact.phone, "in_app": Contact.external_id}
    ways = []
    for medium in allowed:
        if medium not in available or medium not in columns:
            continue
        value = columns[medium]
        way = and_(value.is_not(None), value != "", ~exists().where(Suppression.medium == medium, Suppression.address == value))
        if medium == "in_app":
            way = and_(way, Contact.last_seen_at >= now - IN_APP_RECENT)
        ways.append(way)
    return or_(*ways) if ways else false()


def suppressed_addresses(session: Session, pairs: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
    """Which (medium, address) pairs are suppressed: per medium, one index probe by the addresses
    (one array parameter on PostgreSQL), not a row-value ``IN`` the planner cannot probe by."""
    by_medium: dict[str, set[str]] = defaultdict(set)
    for medium, value in pairs:
        by_medium[medium].add(value)
    found: set[tuple[str, str]] = set()
    for medium, values in by_medium.items():
        wanted = sorted(values)
        for start in range(0, len(wanted), 5000):
            chunk = wanted[start:start + 5000]
            rows = session.scalars(select(Suppression.address).where(Suppression.medium == medium, one_of(session, Suppression.address, chunk)))
            found.update((medium, a) for a in rows)
    return found


@dataclass
class Reach:
    """Reachability for a batch of contacts, given the campaign's media in order of preference."""

    allowed: Sequence[str]  # the campaign's media, best first
    available: set[str]  # media with a configured channel
    now: datetime
    suppressed: set[tuple[str, str]] = field(default_factory=set)

    @classmethod
    def load(cls, session: Session, contacts: Sequence[Addressable], *, allowed: Sequence[str], available: set[str], now: datetime) -> Reach:
        pairs = [(m, a) for c in contacts for m in allowed if (a := address(c, m))]
        return cls(allowed, available, now, suppressed_addresses(session, pairs))

    def problem(self, contact: Addressable, medium: str) -> str | None:
        """Why ``contact`` cannot be reached on ``medium``; None if it can."""
        if medium not in self.available:
            return f"{medium}: channel not configured"
        value = address(contact, medium)
        if not value:
            return f"{medium}: no address"
        if (medium, value) in self.suppressed:
            return f"{medium}: opted out or bounced"
        if medium == "in_app" and (contact.last_seen_at is None or self.now - contact.last_seen_at > IN_APP_RECENT):
            return "in_app: not seen in the product in the last 30 days"
        return None

    def media(self, contact: Addressable) -> list[str]:
        return [m for m in self.allowed if self.problem(contact, m) is None]

    def why_not(self, contact: Addressable) -> str:
        return "; ".join(p for m in self.allowed if (p := self.problem(contact, m)))
