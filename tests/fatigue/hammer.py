"""One OS process of the concurrency test: its own engine and runtime, a list of jobs, each its own transaction.

Imported by ``multiprocessing`` (spawn) in every child, so it holds nothing
but what a child needs. Jobs: ``("select", campaign_id, [contact ids])`` runs
a selection batch exactly as the engine does; ``("trigger", contact_id, kind)``
a transactional send; ``("dismiss", contact_id, kind)`` an in-app dismissal;
``("cancel", campaign_id)`` a cancellation.
"""

from __future__ import annotations

from multiprocessing.synchronize import Barrier
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, OperationalError

from campaigns.people.models import Contact
from campaigns.programs.models import Campaign
from campaigns.programs.service import StateConflict
from dispatcher.runtime.core import build_runtime
from dispatcher.runtime.settings import Settings
from dispatcher.sending.budget import Touch
from dispatcher.sending.lifecycle import cancel_campaign
from dispatcher.sending.selection import select_chunk
from dispatcher.sending.transactional import send_transactional

RETRIES = 5


def run_jobs(settings: Settings, jobs: list[tuple[Any, ...]], start: Barrier) -> dict[str, int]:
    runtime = build_runtime(settings)
    done = {"select": 0, "trigger": 0, "dismiss": 0, "cancel": 0, "retried": 0}
    start.wait()
    try:
        for job in jobs:
            for attempt in range(RETRIES):
                try:
                    _run(runtime, job)
                    break
                except (IntegrityError, OperationalError):
                    # Two triggers for one contact race for the same episode number
                    # (a unique key): the loser starts again, as an API client would.
                    done["retried"] += 1
                    if attempt == RETRIES - 1:
                        raise
            done[job[0]] += 1
    finally:
        runtime.close()
    return done


def _run(runtime: Any, job: tuple[Any, ...]) -> None:
    with runtime.sessions() as session:
        now = runtime.clock.now()
        if job[0] == "select":
            campaign = session.get(Campaign, job[1])
            contacts = list(session.scalars(select(Contact).where(Contact.id.in_(job[2])).order_by(Contact.id)).unique())
            select_chunk(runtime, session, campaign, contacts, now=now)
        elif job[0] == "trigger":
            contact = session.get(Contact, job[1])
            send_transactional(runtime, session, contact=contact, kind=job[2], trigger=f"{job[2]}_event", reference=None, channels=["email"], respect_sending_hours=False)
        elif job[0] == "dismiss":
            contact = session.get(Contact, job[1])
            runtime.budget.record_touches(session, [Touch(contact, job[2], "dismissal", "in_app", now)], now=now)
        elif job[0] == "cancel":
            try:
                cancel_campaign(runtime, session, job[1])
            except StateConflict:
                return
        session.commit()


def child(settings: Settings, jobs: list[tuple[Any, ...]], start: Barrier, results: Any) -> None:
    """The process entry point: report what was done, or the error that stopped it."""
    try:
        results.put(("ok", run_jobs(settings, jobs, start)))
    except Exception as exc:  # the parent fails the test with this text
        results.put(("error", f"{type(exc).__name__}: {exc}"))
        raise
