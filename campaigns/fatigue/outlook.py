"""One contact's fatigue: its ledger, and per survey kind the earliest moment it may be surveyed again."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from campaigns.fatigue.ledger import scopes_for
from campaigns.fatigue.models import FatigueTouch
from campaigns.fatigue.policy import KINDS, Policy
from campaigns.fatigue.rules import earliest_room, explain, first_block
from campaigns.fatigue.service import current_policy
from campaigns.people.models import Contact

LEDGER_LIMIT = 500  # the newest touches shown; the rules never look further back than the longest window


@dataclass(frozen=True)
class KindOutlook:
    kind: str
    earliest_at: datetime | None  # now when nothing blocks; None if the ledger never leaves room
    rule: str | None  # what blocks an invitation now, if anything
    reason: str | None


@dataclass(frozen=True)
class ContactFatigue:
    policy: Policy
    touches: list[FatigueTouch]
    kinds: list[KindOutlook]


def contact_fatigue(session: Session, contact: Contact, *, now: datetime) -> ContactFatigue:
    """Reads only; the earliest moments follow the policy in force and every counting touch, future ones too."""
    policy = current_policy(session)
    scope = scopes_for(session, [contact], policy, start=now - policy.longest_window, end=None)[contact.id]
    kinds = []
    for kind in KINDS:
        block = first_block(policy, scope, kind=kind, invitation=True, at=now)
        earliest = now if block is None else earliest_room(policy, scope, kind=kind, invitation=True, at=now)
        kinds.append(KindOutlook(
            kind, earliest, block.rule if block else None, explain(block, contact_id=contact.id, now=now) if block else None,
        ))
    touches = list(session.scalars(
        select(FatigueTouch).where(FatigueTouch.contact_id == contact.id)
        .order_by(FatigueTouch.at.desc(), FatigueTouch.id.desc()).limit(LEDGER_LIMIT)
    ))
    return ContactFatigue(policy, touches, kinds)
