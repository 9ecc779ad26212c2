"""Selecting a campaign's audience: one episode per contact, selected or excluded with the reason.

Runs in chunks of contacts in id order; each chunk is one transaction that
reserves the selected contacts' invitations and writes their episodes, so a
crash mid-way loses nothing and a rerun continues where it stopped. Most of a
chunk is selected set-based (see ``select_ids``); only contacts that are left
out, or whose ledger the fatigue rules must weigh, are judged one by one.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session

from campaigns.db import (
    bound_time,
    insert_ignoring_conflicts,
    one_of,
    refresh_statistics,
    rows_source,
)
from campaigns.people.models import Account, Contact
from campaigns.programs.audience import audience_query
from campaigns.programs.exclusions import Exclusion, included_condition, program_exclusions
from campaigns.programs.models import Campaign, Episode
from campaigns.programs.reach import Reach
from campaigns.programs.service import new_public_id
from dispatcher.runtime.core import Runtime
from dispatcher.sending.budget import ContactRef

CHUNK = 1000


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
    return select_ids(runtime, session, campaign, [c.id for c in contacts], now=now, wave=wave)


def _quiet_candidates(runtime: Runtime, session: Session, campaign: Campaign, contact_ids: Sequence[int], *, now: datetime, wave: int) -> list[ContactRef]:
    """Of ``contact_ids``, those without an episode yet that no program criterion leaves out. Two queries,
    each an index probe by the ids (a correlated ``NOT EXISTS`` on the episodes this selection is writing
    is planned on statistics that lag behind it, and turns into a scan per contact)."""
    written = set(session.scalars(select(Episode.contact_id).where(
        Episode.campaign_id == campaign.id, one_of(session, Episode.contact_id, contact_ids), Episode.wave == wave)))
    fresh = [i for i in contact_ids if i not in written]
    if not fresh:
        return []
    rows = session.execute(
        select(Contact.id, Contact.account_id).outerjoin(Account, Account.id == Contact.account_id).where(
            one_of(session, Contact.id, fresh),
            included_condition(campaign.exclusions, allowed=campaign.channels, available=runtime.available_media, now=now),
        )
    )
    return [ContactRef(contact_id, account_id) for contact_id, account_id in rows]


def _write_selected(session: Session, campaign: Campaign, contact_ids: Sequence[int], *, now: datetime, wave: int) -> None:
    """The ``selected`` episodes of ``contact_ids``, in one ``INSERT … SELECT`` (skipping any already written)."""
    if not contact_ids:
        return
    source, params = rows_source(session, (("contact_id", "integer"), ("public_id", "text")),
                                 {"contact_id": contact_ids, "public_id": [new_public_id() for _ in contact_ids]})
    session.execute(text(
        "INSERT INTO episodes (public_id, campaign_id, contact_id, wave, state, created_at) "
        f"SELECT r.public_id, :campaign_id, r.contact_id, :wave, 'selected', :now FROM {source} WHERE true "
        "ON CONFLICT (campaign_id, contact_id, wave) DO NOTHING"
    ), {**params, "campaign_id": campaign.id, "wave": wave, "now": bound_time(session, now)})


def select_ids(runtime: Runtime, session: Session, campaign: Campaign, contact_ids: Sequence[int], *, now: datetime, wave: int = 0) -> int:
    """Write the episodes of ``contact_ids`` (skipping any already written); how many were selected.

    Set-based for the common case: contacts no program criterion leaves out and
    whose fatigue ledger is quiet are reserved and selected by two statements
    (``reserve_quiet``, ``_write_selected``). Only the others — excluded, or with
    touches the rules must weigh — are loaded and judged one by one
    (``evaluate``), so each of them gets its reason.
    """
    at = invite_time(campaign, wave)
    candidates = _quiet_candidates(runtime, session, campaign, contact_ids, now=now, wave=wave)
    quiet = runtime.budget.reserve_quiet(session, kind=campaign.kind, campaign_id=campaign.id, contacts=candidates, at=at, now=now)
    _write_selected(session, campaign, sorted(quiet), now=now, wave=wave)
    rest = [i for i in contact_ids if i not in quiet]
    have = set(session.scalars(
        select(Episode.contact_id).where(Episode.campaign_id == campaign.id, Episode.wave == wave, one_of(session, Episode.contact_id, rest))
    )) if rest else set()
    fresh = list(session.scalars(select(Contact).where(one_of(session, Contact.id, [i for i in rest if i not in have])).order_by(Contact.id))) if rest else []
    if not fresh:
        return len(quiet)
    excluded = evaluate(runtime, session, campaign, fresh, now=now, reserve=True, at=at)
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
    return len(quiet) + sum(1 for c in fresh if c.id not in excluded)


def select_audience(runtime: Runtime, campaign_id: int) -> None:
    """Task: select the whole audience of a one-off campaign, then mark selection done. Safe to rerun.

    Pages the audience by contact id on the server: the process holds one chunk's ids at a time.
    The statistics of the episodes and the ledger are taken again each time the contacts this run
    went through have doubled (see ``_outgrown``).
    """
    after, seen, analyzed = 0, 0, 0
    while True:
        with runtime.sessions() as session:
            campaign = session.get(Campaign, campaign_id)
            if campaign is None or campaign.status not in ("active", "paused"):
                return
            now = runtime.clock.now()
            page = audience_query(campaign.audience, now).with_only_columns(Contact.id).where(Contact.id > after).limit(CHUNK)
            ids = list(session.scalars(page))
            if not ids:
                # The steps are planned on the episodes and reservations just written (an invite
                # may be due at once): each batch's statements need their statistics, not a guess.
                refresh_statistics(session, ("episodes", "fatigue_touches"))
                session.execute(update(Campaign).where(Campaign.id == campaign_id).values(selection_state="done"))
                session.commit()
                return
            select_ids(runtime, session, campaign, ids, now=now)
            session.commit()
            after, seen = ids[-1], seen + len(ids)
            if _outgrown(seen, analyzed):
                refresh_statistics(session, ("episodes", "fatigue_touches"))
                session.commit()
                analyzed = seen


def _outgrown(seen: int, analyzed: int) -> bool:
    """Whether the statistics taken after ``analyzed`` contacts are too old now that ``seen`` went through.

    Each chunk probes the episodes and the ledger by its ids. Planned on statistics of the tables
    before this selection wrote to them (autovacuum analyzes a table being filled minutes later,
    or never when it is off), those probes become scans of every row written so far — the
    campaign's episodes, the ledger's window — so the selection's time grew with the square of
    the audience (a million contacts: 2,300/s against 11,000/s at 100,000). Taken again at each
    doubling, they cost eleven ``ANALYZE`` (each samples at most 30,000 rows) for a million.
    """
    return seen >= 2 * analyzed


def audience_size(session: Session, campaign: Campaign, now: datetime) -> int:
    query = audience_query(campaign.audience, now).with_only_columns(func.count(Contact.id)).order_by(None)
    return session.scalar(query) or 0
