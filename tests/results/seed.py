"""A small campaign with known answers, so every figure of the results can be computed by hand.

Today is 2026-03-02 (the suite's clock). Accounts and their renewal windows:
  A1 enterprise/gold   renews 2026-04-01 (within 90 days)
  A2 enterprise/silver renews 2026-06-20 (91–120 days)
  A3 smb/gold          renews 2026-12-01 (later)
  A4 no segment/tier   no renewal date (unknown)
Answers (NPS): c1 A1 exec 10 · c2 A1 user 3 · c3 A2 exec 9 · c4 A2 user 7 · c5 A3 user 0 ·
c6 A3 exec 10 · c7 A4 user 6 · c8 A4 user 9; c9 and c10 (A3) were invited and did not answer.
An earlier NPS campaign: c1 6, c2 9, c3 9 (so c1 improved, c2 got worse, c3 stayed).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy.orm import Session

from campaigns.followups.models import FollowUp
from campaigns.people.models import Account, Contact
from campaigns.programs.kinds import kind_named
from campaigns.programs.models import Campaign, Episode, Message, Response
from tests import factories

TODAY = date(2026, 3, 2)
NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
_keys = itertools.count(1)


def campaign(session: Session, *, name: str = "Spring NPS", kind: str = "nps", launched_at: datetime = NOW - timedelta(days=10), status: str = "active") -> Campaign:
    row = Campaign(
        name=name, kind=kind, mode="one_off", status=status, survey={}, audience={}, exclusions={}, plan=[], sending_window={},
        channels=["email", "sms"], internal_recipients={}, created_at=launched_at - timedelta(days=1), launched_at=launched_at,
        send_at=launched_at,
    )
    session.add(row)
    session.flush()
    return row


def episode(session: Session, campaign: Campaign, contact: Contact, *, invited: bool = True) -> Episode:
    row = Episode(public_id=f"ep{next(_keys)}x", campaign_id=campaign.id, contact_id=contact.id, wave=0, state="invited",
                  created_at=campaign.launched_at, invited_at=campaign.launched_at if invited else None)
    session.add(row)
    session.flush()
    return row


def answer(session: Session, campaign: Campaign, contact: Contact, score: int, *, comment: str | None = None, medium: str = "email", at: datetime | None = None) -> Response:
    ep = episode(session, campaign, contact)
    ep.state = "answered"
    kind = kind_named(campaign.kind)
    row = Response(episode_id=ep.id, campaign_id=campaign.id, contact_id=contact.id, account_id=contact.account_id, kind=campaign.kind,
                   score=score, category=kind.category(score), comment=comment, medium=medium, current=True,
                   created_at=at or (campaign.launched_at or NOW) + timedelta(hours=next(_keys)))
    session.add(row)
    session.flush()
    return row


def message(session: Session, campaign: Campaign, contact: Contact, *, medium: str, state: str, step: str = "invite") -> None:
    session.add(Message(idempotency_key=f"seed:{next(_keys)}", campaign_id=campaign.id, contact_id=contact.id, step=step, medium=medium,
                        state=state, substitutions={}, attempts=0, created_at=NOW, updated_at=NOW))


@dataclass
class Seeded:
    campaign: Campaign
    previous: Campaign
    contacts: list[Contact]
    accounts: list[Account]


def seed(session: Session) -> Seeded:
    owner = factories.team_member(session)
    accounts = [
        factories.account(session, segment="enterprise", tier="gold", renewal_on=date(2026, 4, 1), owner_id=owner.id),
        factories.account(session, segment="enterprise", tier="silver", renewal_on=date(2026, 6, 20)),
        factories.account(session, segment="smb", tier="gold", renewal_on=date(2026, 12, 1)),
        factories.account(session, segment=None, tier=None, renewal_on=None),
    ]
    plan = [(0, "executive", 10, "Great support team", "email"), (0, "end_user", 3, "Billing is confusing", "email"),
            (1, "executive", 9, "Great support, fast", "email"), (1, "end_user", 7, None, "email"),
            (2, "end_user", 0, "Billing errors again", "email"), (2, "executive", 10, None, "email"),
            (3, "end_user", 6, "slow support", "sms"), (3, "end_user", 9, None, "sms")]
    contacts = [factories.contact(session, account=accounts[a], role=role) for a, role, *_ in plan]
    contacts += [factories.contact(session, account=accounts[2], role="end_user") for _ in range(2)]

    previous = campaign(session, name="Autumn NPS", launched_at=NOW - timedelta(days=180), status="closed")
    for contact, score in zip(contacts[:3], (6, 9, 9), strict=True):
        answer(session, previous, contact, score)

    current = campaign(session)
    for contact, (_, _, score, comment, medium) in zip(contacts, plan, strict=False):
        answer(session, current, contact, score, comment=comment, medium=medium)
        message(session, current, contact, medium=medium, state="clicked" if medium == "email" else "delivered")
    for contact, state in zip(contacts[8:], ("opened", "failed"), strict=True):
        episode(session, current, contact)
        message(session, current, contact, medium="email", state=state)
    session.flush()
    return Seeded(current, previous, contacts, accounts)


def follow_up(session: Session, response: Response, *, owner_id: int | None = None, state: str = "open") -> FollowUp:
    row = FollowUp(episode_id=response.episode_id, response_id=response.id, campaign_id=response.campaign_id, contact_id=response.contact_id,
                   account_id=response.account_id, owner_id=owner_id, assigned_by="account_owner" if owner_id else None,
                   category=response.category, state=state, notes=[], created_at=NOW, updated_at=NOW)
    session.add(row)
    session.flush()
    return row
