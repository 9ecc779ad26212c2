"""Issue 4: fatigue-budget reservations for a 100,000-contact selection on PostgreSQL.

    .venv/bin/python bench/bench_reservations.py [--contacts 100000] [--batch 500] [--history 0.5]
    (PULSE_BENCH_DATABASE_URL picks the server; default postgresql+psycopg://postgres@127.0.0.1:5432/test)

A fresh schema; the contacts (20 per account), and for a ``--history`` share of
them an earlier touch inside the longest window (a CSAT 60 days ago; one in
twenty an NPS 100 days ago, so it is refused). Then an NPS campaign reserves
every contact through ``FatigueBudget.reserve_invitations`` in batches, one
transaction each, as selection does: lock the contacts and accounts, read the
policy, one ledger read, judge, one bulk insert, commit. Compared with a bare
``executemany`` of the very same ledger rows, batch by batch, each batch
committed, into the same table with the same indexes.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from common import Timer, fresh_schema, peak_rss_mb, settle
from pydantic import SecretStr
from sqlalchemy import Table, delete, insert, select

from campaigns.fatigue.models import FatigueTouch
from campaigns.people.models import Contact
from campaigns.people.upsert import upsert_accounts, upsert_contacts
from campaigns.programs import service
from dispatcher.runtime.core import build_runtime
from dispatcher.runtime.settings import Settings
from dispatcher.sending.fatigue import FatigueBudget

NOW = datetime(2026, 3, 2, 10, tzinfo=UTC)
INVITE_AT = NOW + timedelta(days=3)


def seed(runtime: Any, count: int, history: float) -> tuple[int, list[list[int]]]:
    with runtime.sessions() as session:
        accounts = [{"external_id": f"a{i}", "name": f"Account {i}", "segment": "smb", "created_on": "2024-01-01"} for i in range(max(1, count // 20))]
        upsert_accounts(session, list(enumerate(accounts, 1)), now=NOW)
        for start in range(0, count, 10_000):
            rows = [{"external_id": f"c{i}", "account_external_id": f"a{i // 20}", "name": f"Person {i}", "email": f"p{i}@example.com"}
                    for i in range(start, min(count, start + 10_000))]
            upsert_contacts(session, list(enumerate(rows, 1)), now=NOW)
        campaign = service.create_campaign(session, spec={"name": "Bench NPS", "survey": {"kind": "nps"}, "audience": {"filter": {"segment": ["smb"]}}}, now=NOW)
        session.commit()
        people = list(session.execute(select(Contact.id, Contact.account_id).order_by(Contact.id)))
        earlier = [
            {"contact_id": cid, "account_id": aid, "kind": "nps" if n % 20 == 0 else "csat", "step": "invite", "state": "sent",
             "policy_version": 0, "at": NOW - timedelta(days=100 if n % 20 == 0 else 60), "created_at": NOW}
            for n, (cid, aid) in enumerate(people) if n < history * len(people)
        ]
        for start in range(0, len(earlier), 10_000):
            session.execute(insert(FatigueTouch), earlier[start:start + 10_000])
        session.commit()
    settle(runtime.settings.database_url)
    ids = [cid for cid, _ in people]
    return campaign.id, [ids[i:i + BATCH] for i in range(0, len(ids), BATCH)]


def reserve_all(runtime: Any, campaign_id: int, batches: list[list[int]]) -> tuple[float, int, int]:
    """Seconds spent in the budget (and its commits), contacts reserved, contacts refused."""
    budget, seconds, refused = FatigueBudget(), 0.0, 0
    for ids in batches:
        with runtime.sessions() as session:
            contacts = list(session.scalars(select(Contact).where(Contact.id.in_(ids)).order_by(Contact.id)).unique())
            with Timer() as timer:
                refusals = budget.reserve_invitations(session, kind="nps", campaign_id=campaign_id, contacts=contacts, at=INVITE_AT, now=NOW)
                session.commit()
            seconds += timer.seconds
            refused += len(refusals)
    return seconds, sum(len(b) for b in batches) - refused, refused


def raw_insert(runtime: Any, campaign_id: int) -> tuple[float, int]:
    """Take the reservations out, then put the same rows back with a bare executemany per batch."""
    with runtime.sessions() as session:
        rows = [dict(r._mapping) for r in session.execute(
            select(FatigueTouch.contact_id, FatigueTouch.account_id, FatigueTouch.kind, FatigueTouch.step, FatigueTouch.campaign_id,
                   FatigueTouch.state, FatigueTouch.policy_version, FatigueTouch.at, FatigueTouch.created_at)
            .where(FatigueTouch.campaign_id == campaign_id).order_by(FatigueTouch.contact_id))]
        session.execute(delete(FatigueTouch).where(FatigueTouch.campaign_id == campaign_id))
        session.commit()
    table = cast(Table, FatigueTouch.__table__)
    with Timer() as timer:
        for start in range(0, len(rows), BATCH):
            with runtime.engine.begin() as connection:
                connection.execute(insert(table), rows[start:start + BATCH])
    return timer.seconds, len(rows)


def main() -> None:
    global BATCH
    parser = argparse.ArgumentParser()
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=500, help="contacts per selection transaction (selection uses 500)")
    parser.add_argument("--history", type=float, default=0.5, help="share of contacts with an earlier touch in the ledger")
    args = parser.parse_args()
    BATCH = args.batch
    with fresh_schema() as url:
        settings = Settings(environment="test", secret_key=SecretStr("bench-secret-key-0123456789-abcdefghij"), database_url=url)
        runtime = build_runtime(settings)
        campaign_id, batches = seed(runtime, args.contacts, args.history)
        seconds, reserved, refused = reserve_all(runtime, campaign_id, batches)
        raw_seconds, rows = raw_insert(runtime, campaign_id)
        runtime.close()
    budget_rate, raw_rate = args.contacts / seconds, rows / raw_seconds
    print(f"contacts: {args.contacts:,} in batches of {BATCH}; {reserved:,} reserved, {refused:,} refused (earlier NPS)")
    print(f"reservations through the budget: {seconds:6.2f} s  {budget_rate:10,.0f} contacts/s")
    print(f"raw executemany of the same rows: {raw_seconds:6.2f} s  {raw_rate:10,.0f} rows/s")
    print(f"ratio budget / raw insert: {budget_rate / raw_rate:.2f}   peak RSS {peak_rss_mb():.0f} MiB")


BATCH = 500

if __name__ == "__main__":
    main()
