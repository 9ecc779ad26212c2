"""Which media a contact can be reached on: an address, not suppressed, a working channel."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session

from campaigns.people.models import Contact
from campaigns.programs.models import Suppression

MEDIA = ("email", "sms", "in_app")
IN_APP_RECENT = timedelta(days=30)  # in-app only reaches people who use the product


def address(contact: Contact, medium: str) -> str | None:
    if medium == "email":
        return contact.email
    if medium == "sms":
        return contact.phone
    return contact.external_id  # in_app


def suppressed_addresses(session: Session, pairs: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
    wanted = list(set(pairs))
    found: set[tuple[str, str]] = set()
    for start in range(0, len(wanted), 500):
        chunk = wanted[start:start + 500]
        rows = session.execute(select(Suppression.medium, Suppression.address).where(tuple_(Suppression.medium, Suppression.address).in_(chunk)))
        found.update((m, a) for m, a in rows)
    return found


@dataclass
class Reach:
    """Reachability for a batch of contacts, given the campaign's media in order of preference."""

    allowed: Sequence[str]  # the campaign's media, best first
    available: set[str]  # media with a configured channel
    now: datetime
    suppressed: set[tuple[str, str]] = field(default_factory=set)

    @classmethod
    def load(cls, session: Session, contacts: Sequence[Contact], *, allowed: Sequence[str], available: set[str], now: datetime) -> Reach:
        pairs = [(m, a) for c in contacts for m in allowed if (a := address(c, m))]
        return cls(allowed, available, now, suppressed_addresses(session, pairs))

    def problem(self, contact: Contact, medium: str) -> str | None:
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

    def media(self, contact: Contact) -> list[str]:
        return [m for m in self.allowed if self.problem(contact, m) is None]

    def why_not(self, contact: Contact) -> str:
        return "; ".join(p for m in self.allowed if (p := self.problem(contact, m)))
