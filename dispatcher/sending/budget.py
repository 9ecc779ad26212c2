"""The seam between the engine and the fatigue budget.

The engine asks the budget at three moments: when a contact is selected (reserve
the invitation at its planned time), when any other survey message is planned
(count it against message rules), and when a campaign ends (release what was
reserved and never sent). ``AllowAll`` is the placeholder the fatigue budget
(issue 4) replaces; callers do not change.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple, Protocol

from sqlalchemy.orm import Session

from campaigns.fatigue.rules import Subject
from campaigns.people.models import Contact


@dataclass(frozen=True)
class Refusal:
    rule: str  # e.g. nps_once_per_180d
    reason: str  # e.g. "nps_once_per_180d: invited 2026-08-02 by campaign 14"
    action: str = "drop"  # drop, or defer (try again at retry_at)
    retry_at: datetime | None = None


class ContactRef(NamedTuple):
    """A contact as the budget needs it, without loading the ORM object (a planned batch's rows)."""

    id: int
    account_id: int | None


@dataclass(frozen=True)
class Touch:
    """One survey message about to be planned for a contact."""

    contact: Subject
    kind: str
    step: str  # pre_notice, invite, reminder, thank_you, you_said_we_did, dismissal
    medium: str | None
    at: datetime
    campaign_id: int | None = None
    trigger: str | None = None  # transactional: what started it
    message_key: str | None = None  # the message's idempotency key


class Budget(Protocol):
    def reserve_invitations(self, session: Session, *, kind: str, campaign_id: int, contacts: Sequence[Contact], at: datetime, now: datetime) -> dict[int, Refusal]:
        """Reserve an invitation for every contact that has room at ``at``; the refused, by contact id."""
        ...

    def reserve_quiet(self, session: Session, *, kind: str, campaign_id: int, contacts: Sequence[Subject], at: datetime, now: datetime) -> set[int]:
        """Set-based: reserve the invitation of every contact no rule could refuse (nothing in their ledger's
        windows); their ids. Leaves the rest, unjudged, for ``reserve_invitations``."""
        ...

    def check_invitations(self, session: Session, *, kind: str, contacts: Sequence[Contact], at: datetime, now: datetime) -> dict[int, Refusal]:
        """What ``reserve_invitations`` would refuse, without reserving (campaign preview)."""
        ...

    def record_touches(self, session: Session, touches: Sequence[Touch], *, now: datetime) -> dict[int, Refusal]:
        """Count each touch against the rules and record the allowed ones; the refused, by index."""
        ...

    def held_invitations(self, session: Session, *, campaign_id: int, contacts: Sequence[Subject]) -> dict[int, int]:
        """Of ``contacts``, those whose invite takes over the campaign's reservation (counted at selection, not judged
        again): the reservation's id, by contact id. Locks their scopes until the transaction ends."""
        ...

    def link_invitations(self, session: Session, *, links: Mapping[str, Sequence[Any]]) -> None:
        """The invite messages just written take over reservations from ``held_invitations``:
        lists ``{"entry_id", "message_key"}``, one position per message."""
        ...

    def settle(self, session: Session, *, message_keys: Sequence[str], sent: bool, now: datetime) -> None:
        """The planned messages went out (``sent``) or never will (their touches are released)."""
        ...

    def release_campaign(self, session: Session, *, campaign_id: int, now: datetime) -> int:
        """Release every reservation of the campaign not yet sent; how many were released."""
        ...


class AllowAll:
    """Placeholder until the fatigue budget lands: every touch allowed, nothing recorded."""

    def reserve_invitations(self, session: Session, *, kind: str, campaign_id: int, contacts: Sequence[Contact], at: datetime, now: datetime) -> dict[int, Refusal]:
        return {}

    def reserve_quiet(self, session: Session, *, kind: str, campaign_id: int, contacts: Sequence[Subject], at: datetime, now: datetime) -> set[int]:
        return {c.id for c in contacts}

    def check_invitations(self, session: Session, *, kind: str, contacts: Sequence[Contact], at: datetime, now: datetime) -> dict[int, Refusal]:
        return {}

    def record_touches(self, session: Session, touches: Sequence[Touch], *, now: datetime) -> dict[int, Refusal]:
        return {}

    def held_invitations(self, session: Session, *, campaign_id: int, contacts: Sequence[Subject]) -> dict[int, int]:
        return {}

    def link_invitations(self, session: Session, *, links: Mapping[str, Sequence[Any]]) -> None:
        return None

    def settle(self, session: Session, *, message_keys: Sequence[str], sent: bool, now: datetime) -> None:
        return None

    def release_campaign(self, session: Session, *, campaign_id: int, now: datetime) -> int:
        return 0
