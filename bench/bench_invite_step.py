"""Issue 3: plan and persist an invite step for 100,000 contacts on PostgreSQL.

    .venv/bin/python bench/bench_invite_step.py [--contacts 100000] [--phones 0.5] [--channels email,sms]

Through exclusions, channel choice, the budget's message rules, rendering and
per-recipient values, a message row per contact committed before the hand-off,
then handed to the outbox channel (a file per message). Compared with a bare
``executemany`` of the same message rows on the same machine.
"""

from __future__ import annotations

import argparse
import multiprocessing
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from common import Timer, fresh_schema, peak_rss_mb
from sqlalchemy import delete, func, insert, select

from campaigns.people.upsert import upsert_accounts, upsert_contacts
from campaigns.programs import service
from campaigns.programs.models import Message, PlanStep
from dispatcher.lifecycle import launch_campaign
from dispatcher.runtime import build_runtime
from dispatcher.scheduler import dispatch_step
from dispatcher.selection import select_audience
from dispatcher.settings import Settings
from dispatcher.tasks import attach_inline_queue

ZONES = ["America/Los_Angeles", "Europe/Berlin", "Asia/Tokyo", "UTC", "America/New_York"]
ALWAYS = {"start": "00:00", "end": "23:59", "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--phones", type=float, default=0.0, help="share of contacts with a phone number")
    parser.add_argument("--channels", default="email", help="the campaign's media, in order, comma-separated")
    args = parser.parse_args()
    outbox = Path(tempfile.mkdtemp(prefix="pulse-bench-outbox-"))
    try:
        with fresh_schema() as url:
            run(url, args.contacts, outbox, phones=args.phones, channels=args.channels.split(","))
    finally:
        shutil.rmtree(outbox, ignore_errors=True)


def run(url: str, count: int, outbox: Path, *, phones: float = 0.0, channels: list[str] | None = None) -> None:
    settings = Settings(environment="test", secret_key="bench-secret-key-0123456789-abcdefghij", database_url=url,
                        outbox_dir=outbox, public_url="https://pulse.example.com", batch_size=1000, clock="database")
    runtime = attach_inline_queue(build_runtime(settings))
    now = datetime(2026, 3, 2, 10, tzinfo=UTC)
    runtime.clock.set(now)  # type: ignore[attr-defined]
    with runtime.sessions() as session:
        accounts = [{"external_id": f"a{i}", "name": f"Account {i}", "segment": "smb", "created_on": "2024-01-01"} for i in range(count // 20)]
        upsert_accounts(session, list(enumerate(accounts, 1)), now=now)
        contacts = [{"external_id": f"c{i}", "account_external_id": f"a{i % (count // 20)}", "name": f"Person {i}",
                     "email": f"p{i}@example.com", "timezone": ZONES[i % len(ZONES)], "locale": "de" if i % 4 == 0 else "en",
                     **({"phone": f"+1415{2_000_000 + i:07d}"} if i % 100 < phones * 100 else {})} for i in range(count)]
        upsert_contacts(session, list(enumerate(contacts, 1)), now=now)
        campaign = service.create_campaign(session, spec={
            "name": "Bench", "survey": {"kind": "nps"}, "audience": {"filter": {"segment": ["smb"]}}, "sending_window": ALWAYS,
            "plan": [{"step": "invite", "offset_days": 0}, {"step": "close", "offset_days": 14}], "channels": channels or ["email"],
        }, now=now)
        session.commit()
        launch_campaign(runtime, session, campaign.id)
        session.commit()
    with Timer() as selection:
        select_audience(runtime, campaign.id)
    with runtime.sessions() as session:
        step_id = session.scalar(select(PlanStep.id).where(PlanStep.campaign_id == campaign.id, PlanStep.step == "invite"))
    # The step runs in a fresh process, so its peak memory is its own, not the seeding's.
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    child = context.Process(target=_run_step, args=(settings.model_dump(), step_id, now, results))
    child.start()
    seconds, cpu, peak = results.get()
    child.join()
    step = type("Elapsed", (), {"seconds": seconds})()
    with runtime.sessions() as session:
        mix = dict(session.execute(select(Message.medium, func.count()).group_by(Message.medium)).all())
    with runtime.sessions() as session:
        sent = session.scalar(select(Message.id).where(Message.state == "sent").order_by(Message.id.desc()).limit(1))
        rows = [{c.key: getattr(m, c.key) for c in Message.__table__.columns if c.key != "id"} for m in session.scalars(select(Message))]
    files = len(list(outbox.iterdir()))
    # The baseline: the very same rows, inserted with a bare executemany.
    with runtime.sessions() as session:
        session.execute(delete(Message))
        session.commit()
        for row in rows:
            row["idempotency_key"] += ":bare"
        cpu_before = time.process_time()
        with Timer() as bare:
            session.execute(insert(Message.__table__), rows)
            session.commit()
        bare_cpu = time.process_time() - cpu_before
    rate = count / step.seconds
    bare_rate = len(rows) / bare.seconds
    print(f"selection of {count:,} contacts (exclusions + budget reservations): {selection.seconds:.1f} s = {count / selection.seconds:,.0f}/s")
    print(f"invite step for {count:,} contacts (plan, persist, render, hand to outbox; {files:,} files; media {mix}): "
          f"{step.seconds:.1f} s = {rate:,.0f} contacts/s; CPU of the step's process {cpu:.1f} s = {cpu / count * 1e6:.0f} µs/contact")
    print(f"bare executemany of the same {len(rows):,} message rows: {bare.seconds:.1f} s = {bare_rate:,.0f} rows/s; CPU {bare_cpu:.1f} s = {bare_cpu / max(len(rows), 1) * 1e6:.0f} µs/row")
    print(f"ratio invite step / bare insert: {rate / bare_rate:.2f}; peak memory of the process running the step {peak:.0f} MiB; last sent message id {sent}")
    runtime.close()


def _run_step(values: dict, step_id: int, now: datetime, results: object) -> None:
    runtime = attach_inline_queue(build_runtime(Settings(**values)))
    cpu = time.process_time()
    with Timer() as step:
        dispatch_step(runtime, step_id, "invite", now)
    cpu = time.process_time() - cpu
    runtime.close()
    results.put((step.seconds, cpu, peak_rss_mb()))  # type: ignore[attr-defined]


if __name__ == "__main__":
    sys.exit(main())
