"""Continuous programs: every day a wave invites a share of the eligible base,
so that each contact is asked once per period (as the NPS platforms do).

Wave N starts ``N`` days after the program's start. Within a period, the day's
share is what is left of the base (those not asked yet this period, newcomers
included) divided by the days left. Contacts are taken in one fixed
pseudo-random order, the same every period, so each person is asked about
every ``period_days`` days — never twice in quick succession across a period
boundary — and a rerun picks the same people.
"""

from __future__ import annotations

import hashlib
import math
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from campaigns.db import dialect_insert
from campaigns.people.models import Contact
from campaigns.programs.audience import audience_query
from campaigns.programs.models import Campaign, Episode, PlanStep
from campaigns.programs.plan import check_plan
from dispatcher.runtime.core import Runtime
from dispatcher.sending.selection import select_chunk


def wave_number(campaign: Campaign, now: datetime) -> int:
    assert campaign.send_at is not None
    return (now - campaign.send_at) // timedelta(days=1)


def _order(contact_id: int, program_id: int) -> str:
    return hashlib.sha256(f"{program_id}:{contact_id}".encode()).hexdigest()


def wave_sample(session: Session, campaign: Campaign, wave: int, now: datetime) -> list[Contact]:
    period = campaign.period_days or 90
    cycle_start = wave - wave % period
    asked = set(session.scalars(select(Episode.contact_id).where(
        Episode.campaign_id == campaign.id, Episode.wave >= cycle_start, Episode.wave < wave)))
    base = [c for c in session.scalars(audience_query(campaign.audience, now)).unique() if c.id not in asked]
    days_left = period - wave % period
    quota = math.ceil(len(base) / days_left)
    base.sort(key=lambda c: _order(c.id, campaign.id))
    return base[:quota]


def plan_waves(runtime: Runtime, now: datetime) -> None:
    """Create today's wave for every active continuous program that has none yet."""
    with runtime.sessions() as session:
        programs = list(session.scalars(select(Campaign).where(Campaign.mode == "continuous", Campaign.status == "active")))
    for program in programs:
        wave = wave_number(program, now)
        if wave >= 0:
            create_wave(runtime, program.id, wave, now)


def create_wave(runtime: Runtime, campaign_id: int, wave: int, now: datetime) -> bool:
    """One transaction: claim the wave through its invite step's unique key, select, schedule."""
    with runtime.sessions() as session:
        campaign = session.get(Campaign, campaign_id)
        assert campaign is not None and campaign.send_at is not None
        start = campaign.send_at + timedelta(days=wave)
        steps = check_plan(campaign.plan)
        invite = next(s for s in steps if s.step == "invite")
        claimed = session.scalar(
            dialect_insert(session, PlanStep).values(
                campaign_id=campaign.id, key=invite.key, step=invite.step, number=0, final=False, wave=wave,
                due_at=start, status="pending",
            ).on_conflict_do_nothing(index_elements=["campaign_id", "key", "wave"]).returning(PlanStep.id)
        )
        if claimed is None:  # another scheduler made this wave
            return False
        for step in steps:
            if step.step != "invite":
                session.add(PlanStep(campaign_id=campaign.id, key=step.key, step=step.step, number=step.number, final=step.final, wave=wave, due_at=step.due(start), status="pending"))
        sample = wave_sample(session, campaign, wave, now)
        for index in range(0, len(sample), 500):
            select_chunk(runtime, session, campaign, sample[index:index + 500], now=now, wave=wave)
        session.commit()
    return True
