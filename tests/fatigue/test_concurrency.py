"""Eight OS processes hammer the same 1,000 contacts at once: the audit finds nothing, every refusal has its reason.

PostgreSQL only: that is where several workers, processes and hosts share one
database. (SQLite has a single writer; its transactions cannot interleave.)
No Redis sits in the budget's path, so there is no Redis to restart here.
"""

from __future__ import annotations

import multiprocessing
import random
from collections import Counter
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from campaigns.fatigue.models import FatigueTouch
from campaigns.programs import service
from campaigns.programs.models import Episode
from dispatcher.runtime.core import Runtime
from dispatcher.sending.lifecycle import launch_campaign
from tests import factories
from tests.backends import Backend
from tests.fatigue.audit import DESIGN_DEFAULTS, audit
from tests.fatigue.hammer import child
from tests.fatigue.helpers import ALWAYS_OPEN, SHORT_PLAN, set_policy, transactional

PROCESSES = 8
CONTACTS = 1000
CHUNK = 100
TRIGGERS = 80  # per process
FATIGUE_RULES = {r["name"] for r in DESIGN_DEFAULTS["rules"]} | {"min_gap_3d", "account_csat_3_per_7d"}


def _campaigns(runtime: Runtime, kinds: list[str]) -> list[int]:
    ids = []
    with runtime.sessions() as session:
        for kind in kinds:
            campaign = service.create_campaign(session, spec={
                "name": f"Hammered {kind}", "survey": {"kind": kind}, "audience": {"filter": {"segment": ["smb"]}},
                "sending_window": ALWAYS_OPEN, "plan": SHORT_PLAN, "exclusions": {"min_account_age_days": 0},
            }, now=runtime.clock.now())
            session.commit()
            launch_campaign(runtime, session, campaign.id)  # selection is left to the processes
            session.commit()
            ids.append(campaign.id)
    return ids


def _jobs(people: list[int], campaigns: list[int], cancelled: int, rng: random.Random) -> list[list[tuple[Any, ...]]]:
    jobs: list[list[tuple[Any, ...]]] = [[] for _ in range(PROCESSES)]
    for campaign in campaigns:
        order = rng.sample(people, len(people))
        for start in range(0, len(order), CHUNK):
            for process in rng.sample(range(PROCESSES), 2):  # every batch twice, as a redelivered task would
                jobs[process].append(("select", campaign, order[start:start + CHUNK]))
    for process in range(PROCESSES):
        jobs[process] += [("trigger", rng.choice(people), rng.choice(["csat", "csat", "ces"])) for _ in range(TRIGGERS)]
        jobs[process] += [("dismiss", rng.choice(people), "nps") for _ in range(10)]
        rng.shuffle(jobs[process])
    jobs[3].insert(len(jobs[3]) // 2, ("cancel", cancelled))
    return jobs


def test_eight_processes_on_the_same_contacts_never_break_a_rule(runtime: Runtime, backend: Backend, session: Session) -> None:
    if not backend.is_postgres:
        pytest.skip("PostgreSQL only: the case of many processes sharing one database server")
    set_policy(runtime, {**DESIGN_DEFAULTS, "rules": [*DESIGN_DEFAULTS["rules"], {"kinds": ["csat"], "limit": 3, "window_days": 7, "scope": "account"}]})
    people = [c.id for c in factories.population(session, CONTACTS)]
    session.commit()
    campaigns = _campaigns(runtime, ["nps", "nps", "ces", "csat"])
    for kind in ("csat", "ces"):  # the hidden transactional programs exist before the race
        transactional(runtime, people[0], kind, f"{kind}_event")
    jobs = _jobs(people, campaigns, campaigns[1], random.Random(20260302))

    context = multiprocessing.get_context("spawn")
    start, results = context.Barrier(PROCESSES), context.Queue()
    processes = [context.Process(target=child, args=(runtime.settings, work, start, results)) for work in jobs]
    for process in processes:
        process.start()
    reports = [results.get(timeout=600) for _ in processes]
    for process in processes:
        process.join(60)
    assert [r for r in reports if r[0] != "ok"] == [] and {p.exitcode for p in processes} == {0}
    done: Counter[str] = sum((Counter(r[1]) for r in reports), Counter())
    assert done["select"] == 2 * len(campaigns) * CONTACTS // CHUNK and done["trigger"] == PROCESSES * TRIGGERS

    assert audit(session) == []  # (with the scope locks taken out, this finds dozens)
    episodes = session.execute(select(Episode.campaign_id, Episode.contact_id, Episode.state, Episode.exclusion_rule, Episode.exclusion_reason)).all()
    refused = [e for e in episodes if e.state == "excluded"]
    assert refused and all(e.exclusion_rule and e.exclusion_reason for e in refused)
    assert all(e.exclusion_reason.startswith(f"{e.exclusion_rule}: ") for e in refused if e.exclusion_rule in FATIGUE_RULES)
    assert {e.exclusion_rule for e in refused} & FATIGUE_RULES, "the processes never competed for budget"
    reserved = Counter((campaign_id, contact_id) for campaign_id, contact_id in session.execute(
        select(FatigueTouch.campaign_id, FatigueTouch.contact_id).where(FatigueTouch.step == "invite", FatigueTouch.state != "released")
    ))
    gave_way = set(session.execute(select(FatigueTouch.campaign_id, FatigueTouch.contact_id).where(FatigueTouch.note.is_not(None))))
    assert gave_way, "no NPS selection ever preempted an unannounced CES or CSAT reservation"
    for campaign in campaigns:
        mine = [e for e in episodes if e.campaign_id == campaign]
        assert len(mine) == CONTACTS  # each batch ran twice, each contact has one episode
        # One reservation per selected contact; none for the refused; a preempted one may have been taken again by a rerun batch.
        expected = {e.contact_id: 0 if e.state in ("excluded", "cancelled") else 1 for e in mine}
        actual = {c: reserved.get((campaign, c), 0) for c in expected}
        for contact in expected:
            if (campaign, contact) in gave_way and actual[contact] == 0:
                expected[contact] = 0
        assert actual == expected, f"campaign {campaign}: a selection without its one reservation"
    assert session.scalar(select(func.count()).select_from(FatigueTouch).where(
        FatigueTouch.campaign_id == campaigns[1], FatigueTouch.state != "released")) == 0  # the cancelled one holds nothing
