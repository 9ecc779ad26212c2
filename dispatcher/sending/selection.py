"""Selecting a campaign's audience: one episode per contact, selected or excluded with the reason.

Runs in chunks of contacts in id order; each chunk is one transaction that
reserves the selected contacts' invitations and writes their episodes, so a
crash mid-way loses nothing and a rerun continues where it stopped.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from campaigns.db import insert_ignoring_conflicts
from campaigns.people.models import Contact
from campaigns.programs.audience import audience_query
from campaigns.programs.exclusions import Exclusion, program_exclusions
from campaigns.programs.models import Campaign, Episode
from campaigns.programs.reach import Reach
from campaigns.programs.service import new_public_id
from dispatcher.runtime.core import Runtime

CHUNK = 500


def evaluate(
    runtime: Runtime, session: Session, campaign: Campaign, contacts: Sequence[Contact], *, now: datetime, reserve: bool, at: datetime
) -> dict[int, Exclusion]:
    """Exclusions for ``contacts``: program criteria first, then the fatigue budget.

    ``at`` is when the invitation is planned; with ``reserve``, the budget
    reserves it for everyone it lets through.
    """
    reach = Reach.load(session, contacts, allowed=campaign.channels, available=runtime.available_media, now=now)
    excluded = program_exclusions(session, contacts=contacts, exclusions=campaign.exclusions, reach=reach, now=now)
    remaining = [c for c in contacts if c.id not in excluded]
    budget = runtime.budget
    refusals = (
        budget.reserve_invitations(session, kind=campaign.kind, campaign_id=campaign.id, contacts=remaining, at=at, now=now)
        if reserve else budget.check_invitations(session, kind=campaign.kind, contacts=remaining, at=at, now=now)
    )
    for contact_id, refusal in refusals.items():
        excluded[contact_id] = Exclusion(refusal.rule, refusal.reason)
    return excluded


def invite_time(campaign: Campaign, wave: int) -> datetime:
    assert campaign.send_at is not None
    return campaign.send_at + timedelta(days=wave)


def select_chunk(runtime: Runtime, session: Session, campaign: Campaign, contacts: Sequence[Contact], *, now: datetime, wave: int = 0) -> int:
    """Write the episodes of ``contacts`` (skipping any already written); how many were selected."""
    have = set(session.scalars(
        select(Episode.contact_id).where(Episode.campaign_id == campaign.id, Episode.wave == wave, Episode.contact_id.in_([c.id for c in contacts]))
    ))
    fresh = [c for c in contacts if c.id not in have]
    if not fresh:
        return 0
    excluded = evaluate(runtime, session, campaign, fresh, now=now, reserve=True, at=invite_time(campaign, wave))
    rows = [
        {
            "public_id": new_public_id(), "campaign_id": campaign.id, "contact_id": c.id, "wave": wave,
            "state": "excluded" if c.id in excluded else "selected",
            "exclusion_rule": excluded[c.id].rule if c.id in excluded else None,
            "exclusion_reason": excluded[c.id].reason if c.id in excluded else None,
            "created_at": now,
        }
        for c in fresh
    ]
    insert_ignoring_conflicts(session, Episode, rows, unique=["campaign_id", "contact_id", "wave"])
    return sum(1 for c in fresh if c.id not in excluded)


def select_audience(runtime: Runtime, campaign_id: int) -> None:
    """Task: select the whole audience of a one-off campaign, then mark selection done. Safe to rerun."""
    after = 0
    while True:
        with runtime.sessions() as session:
            campaign = session.get(Campaign, campaign_id)
            if campaign is None or campaign.status not in ("active", "paused"):
                return
            now = runtime.clock.now()
            contacts = list(session.scalars(audience_query(campaign.audience, now).where(Contact.id > after).limit(CHUNK)).unique())
            if not contacts:
                session.execute(update(Campaign).where(Campaign.id == campaign_id).values(selection_state="done"))
                session.commit()
                return
            select_chunk(runtime, session, campaign, contacts, now=now)
            session.commit()
            after = contacts[-1].id


def audience_size(session: Session, campaign: Campaign, now: datetime) -> int:
    query = audience_query(campaign.audience, now).with_only_columns(func.count(Contact.id)).order_by(None)
    return session.scalar(query) or 0
