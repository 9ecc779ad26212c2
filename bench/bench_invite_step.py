"""Issue 3 / 12: plan and persist an invite step for 100,000 (or 1,000,000) contacts on PostgreSQL, against COPY.

    .venv/bin/python bench/bench_invite_step.py [--contacts 100000] [--rounds 2] [--phones 0.5] [--channels email,sms] [--channel-choice ordered]
        [--keep-seed] [--plan-only]

Through exclusions, channel choice, the budget's message rules, rendering, a
message row per contact committed before the hand-off, then handed to the
outbox channel. Each round uses a fresh schema, seeded in SQL (``generate_series``,
the same rows the import would write, in seconds even for a million): the
selection (episodes and budget reservations), then Pulse's step in a fresh
process (its peak memory is its own), then the baseline on the same rows —
``COPY`` (psycopg's copy API) of the very same message rows into a table with
the same columns and indexes. Rounds alternate, so both see the same load on a
shared machine. CPU is the client process's (the step's own process; the
bench's for COPY), not PostgreSQL's.

The step is reported whole and split: planning (rows written: eligibility,
channel choice, budget, one ``INSERT … SELECT`` per batch; ``_plan_and_write``)
is timed inside the step's process, wall and its own thread's CPU, so planning's
ratio to ``COPY`` is visible on its own; the hand-off to the channel (claim,
render, write to the outbox, record results) is the rest of the process's CPU.
Since a step's batches send the earlier batches' requests from a second thread
while they plan, the hand-off's wall time overlaps planning: the step's wall
time minus planning's is what the hand-off added. The outbox writes one spool file per
request during the step; the files users open are expanded from it after the step (when
sends pause, or at the latest when the process closes its channels): the bench prints how
long after the step the last file was on disk. While the step runs the bench prints
its progress (messages written so far) every 15 s.

``--keep-seed`` keeps the seeded (and vacuumed) contacts in a database of their
own and starts each round from a file copy of it (``CREATE DATABASE … TEMPLATE``):
a million contacts are ready in seconds. ``--plan-only`` runs the step's batches'
planning (the same ranges and ``_plan_and_write``) without handing anything to a
channel, so selection and planning can be measured at a million without waiting
for a million outbox files.
"""

from __future__ import annotations

import argparse
import multiprocessing
import queue
import shutil
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from common import Timer, base_url, copy_of_database, fresh_schema, peak_rss_mb, settle
from pydantic import SecretStr
from sqlalchemy import func, make_url, select, text

from campaigns.db import driver_connection, make_engine
from campaigns.programs import service
from campaigns.programs.models import Message, PlanStep
from dispatcher.runtime.core import build_runtime, freeze_start_up_objects
from dispatcher.runtime.settings import Settings
from dispatcher.runtime.tasks import attach_inline_queue
from dispatcher.sending import step_batch
from dispatcher.sending.lifecycle import launch_campaign
from dispatcher.sending.scheduler import dispatch_step, episode_ranges
from dispatcher.sending.selection import select_audience

ZONES = ["America/Los_Angeles", "Europe/Berlin", "Asia/Tokyo", "UTC", "America/New_York"]
NOW = datetime(2026, 3, 2, 10, tzinfo=UTC)
ALWAYS = {"start": "00:00", "end": "23:59", "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--phones", type=float, default=0.0, help="share of contacts with a phone number")
    parser.add_argument("--channels", default="email", help="the campaign's media, in order, comma-separated")
    parser.add_argument("--channel-choice", default="learned", choices=["learned", "ordered"],
                        help="learned (the default for new campaigns) or ordered (the first reachable medium in the list)")
    parser.add_argument("--plan-only", action="store_true",
                        help="the step's batches only plan and write their rows; nothing is handed to a channel (planning measured without the hand-off's "
                             "share of the box)")
    parser.add_argument("--keep-seed", action="store_true",
                        help="keep the seeded contacts in a database of their own (<database>_invite_<contacts>_<phones %%>, made on first use) "
                             "and start each round from a copy of it: seconds instead of minutes at a million")
    args = parser.parse_args()
    figures = []
    for round_number in range(1, args.rounds + 1):
        outbox = Path(tempfile.mkdtemp(prefix="pulse-bench-outbox-"))
        try:
            if args.keep_seed:
                kept = f"{make_url(base_url()).database}_invite_{args.contacts}_{round(args.phones * 100)}"
                place = copy_of_database(kept, lambda url: seed(url, args.contacts, NOW, args.phones))
            else:
                place = fresh_schema()
            with place as url:
                if not args.keep_seed:
                    seed(url, args.contacts, NOW, args.phones)
                figures.append(run(url, args.contacts, outbox, round_number, channels=args.channels.split(","), choice=args.channel_choice, plan_only=args.plan_only))
        finally:
            shutil.rmtree(outbox, ignore_errors=True)
    rates = [f[0] for f in figures]
    bares = [f[1] for f in figures]
    plans = [f[2] for f in figures]
    print(f"summary over {args.rounds} rounds: Pulse {min(rates):,.0f}-{max(rates):,.0f} contacts/s, "
          f"COPY {min(bares):,.0f}-{max(bares):,.0f} rows/s, ratio {min(r / b for r, b in zip(rates, bares)):.3f}-{max(r / b for r, b in zip(rates, bares)):.3f}; "
          f"planning alone {min(plans):,.0f}-{max(plans):,.0f} contacts/s, ratio {min(p / b for p, b in zip(plans, bares)):.3f}-{max(p / b for p, b in zip(plans, bares)):.3f}")


def seed(url: str, count: int, now: datetime, phones: float) -> None:
    """Accounts a0…, contacts c0… as the import would write them (ids in the same order), in two statements."""
    accounts = max(1, count // 20)
    engine = make_engine(url)
    with engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO accounts (external_id, name, segment, created_on, attributes, created_at, updated_at) "
            "SELECT 'a' || i, 'Account ' || i, 'smb', DATE '2024-01-01', '{}', :now, :now FROM generate_series(0, :n - 1) AS i ORDER BY i"
        ), {"n": accounts, "now": now})
        connection.execute(text(
            "INSERT INTO contacts (external_id, account_id, name, email, phone, locale, timezone, attributes, created_at, updated_at) "
            "SELECT 'c' || i, a.id, 'Person ' || i, 'p' || i || '@example.com', "
            "       CASE WHEN i % 100 < :phones THEN '+1415' || lpad((2000000 + i)::text, 7, '0') END, "
            "       CASE WHEN i % 4 = 0 THEN 'de' ELSE 'en' END, (CAST(:zones AS text[]))[i % 5 + 1], '{}', :now, :now "
            "FROM generate_series(0, :n - 1) AS i JOIN accounts a ON a.external_id = 'a' || (i % :accounts) ORDER BY i"
        ), {"n": count, "accounts": accounts, "phones": round(phones * 100), "zones": ZONES, "now": now})
    engine.dispose()
    settle(url)  # contacts imported long before a campaign have been vacuumed and analyzed


def run(url: str, count: int, outbox: Path, round_number: int, *, channels: list[str] | None = None, choice: str = "learned", plan_only: bool = False) -> tuple[float, float, float]:
    settings = Settings(environment="test", secret_key=SecretStr("bench-secret-key-0123456789-abcdefghij"), database_url=url,
                        outbox_dir=outbox, public_url="https://pulse.example.com", batch_size=1000, clock="database")
    runtime = attach_inline_queue(build_runtime(settings))
    now = NOW
    runtime.clock.set(now)  # type: ignore[attr-defined]
    with runtime.sessions() as session:
        campaign = service.create_campaign(session, spec={
            "name": "Bench", "survey": {"kind": "nps"}, "audience": {"filter": {"segment": ["smb"]}}, "sending_window": ALWAYS,
            "plan": [{"step": "invite", "offset_days": 0}, {"step": "close", "offset_days": 14}], "channels": channels or ["email"], "channel_choice": choice,
        }, now=now)
        session.commit()
        launch_campaign(runtime, session, campaign.id)
        session.commit()
    selection_cpu = time.process_time()
    with Timer() as selection:
        select_audience(runtime, campaign.id)
    selection_cpu = time.process_time() - selection_cpu
    print(f"round {round_number}: selection of {count:,} contacts (exclusions + budget reservations): {selection.seconds:.1f} s = {count / selection.seconds:,.0f}/s, "
          f"CPU {1e6 * selection_cpu / count:,.0f} µs/contact", flush=True)
    settle(url)  # the invite step runs days after selection, when autovacuum has long analyzed what it wrote
    with runtime.sessions() as session:
        step_id = session.scalar(select(PlanStep.id).where(PlanStep.campaign_id == campaign.id, PlanStep.step == "invite"))
    # The step runs in a fresh process, so its peak memory is its own, not the seeding's.
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    child = context.Process(target=_run_step, args=(settings.model_dump(), step_id, now, results, plan_only))
    child.start()
    started = time.perf_counter()
    while True:
        try:
            seconds, peak, cpu, plan_seconds, plan_cpu, files_seconds, files_cpu = results.get(timeout=15)
            break
        except queue.Empty:
            with runtime.sessions() as session:
                written = session.scalar(select(func.count()).select_from(Message).where(Message.step_id == step_id)) or 0
            print(f"round {round_number}: … {time.perf_counter() - started:.0f} s: {written:,} of {count:,} messages written", flush=True)
    child.join()
    with runtime.sessions() as session:
        sent = session.scalar(select(func.count()).select_from(Message).where(Message.state == "sent"))
        mix = dict(session.execute(select(Message.medium, func.count()).group_by(Message.medium)).all())
    files = sum(1 for name in outbox.iterdir() if not name.name.startswith("."))
    bare_seconds, bare_cpu, copied = copy_baseline(runtime)
    rate, bare_rate = count / seconds, copied / bare_seconds
    handoff_seconds, handoff_cpu = seconds - plan_seconds, cpu - plan_cpu
    plan_rate = count / plan_seconds
    what = "planned only, nothing handed off" if plan_only else "plan, persist, render, hand to outbox"
    print(f"round {round_number}: invite step for {count:,} contacts ({what}; {sent:,} sent, {files:,} files; media {mix}): "
          f"{seconds:.1f} s = {rate:,.0f} contacts/s; CPU {1e6 * cpu / count:,.0f} µs/contact; peak memory {peak:.0f} MiB")
    print(f"round {round_number}:   of which planning (rows written): {plan_seconds:.1f} s = {plan_rate:,.0f} contacts/s, CPU {1e6 * plan_cpu / count:,.0f} µs/contact; "
          f"hand-off (claim, render, outbox, results; the rest): {handoff_seconds:.1f} s more, CPU {1e6 * handoff_cpu / count:,.0f} µs/contact")
    print(f"round {round_number}:   outbox files: the last on disk {files_seconds:.1f} s after the step (the step process's close waits for "
          f"the expander process; the step process's own CPU in that wait {1e6 * files_cpu / max(1, files):,.1f} µs/file)")
    print(f"round {round_number}: COPY of the same {copied:,} message rows (same columns and indexes): {bare_seconds:.1f} s = {bare_rate:,.0f} rows/s; "
          f"CPU {1e6 * bare_cpu / copied:,.0f} µs/row")
    print(f"round {round_number}: ratio invite step / COPY: {rate / bare_rate:.3f}; planning alone / COPY: {plan_rate / bare_rate:.3f}", flush=True)
    runtime.close()
    return rate, bare_rate, plan_rate


def copy_baseline(runtime) -> tuple[float, float, int]:
    """COPY the step's message rows into a twin of the messages table: (seconds, CPU seconds, rows)."""
    columns = [c.key for c in Message.__table__.columns if c.key != "id"]
    with runtime.engine.connect() as connection:
        connection.execute(text("CREATE TABLE messages_bare (LIKE messages INCLUDING ALL)"))
        connection.commit()
        raw = driver_connection(connection)
        listed = ", ".join(columns)
        with raw.cursor() as cursor:  # the rows as COPY's text format, read before the clock starts
            with cursor.copy(f"COPY messages ({listed}) TO STDOUT") as out:
                data = [bytes(chunk) for chunk in out]
            count = cursor.execute("SELECT count(*) FROM messages").fetchall()[0][0]
        started, cpu = time.perf_counter(), time.process_time()
        with raw.cursor() as cursor, cursor.copy(f"COPY messages_bare ({listed}) FROM STDIN") as copy:
            for chunk in data:
                copy.write(chunk)
        raw.commit()
        return time.perf_counter() - started, time.process_time() - cpu, count


def _run_step(values: dict, step_id: int, now: datetime, results: object, plan_only: bool) -> None:
    # The step process stands in for a `pulse worker` pool process, which freezes what start-up made
    # (imports, mappers) before its first task: without it every full collection walks that heap.
    freeze_start_up_objects()
    runtime = attach_inline_queue(build_runtime(Settings(**values)))
    planning = [0.0, 0.0]  # wall seconds inside planning, and its thread's CPU seconds
    plan = step_batch._plan_and_write

    def timed_plan(*args: object) -> None:
        started, cpu = time.perf_counter(), time.thread_time()
        try:
            plan(*args)  # type: ignore[arg-type]
        finally:
            planning[0] += time.perf_counter() - started
            planning[1] += time.thread_time() - cpu

    step_batch._plan_and_write = timed_plan  # type: ignore[assignment]  # a stopwatch around the real planning
    cpu = time.process_time()
    with Timer() as step:
        if plan_only:
            _plan_step(runtime, step_id, now)
        else:
            dispatch_step(runtime, step_id, "invite", now)
    cpu = time.process_time() - cpu
    # The outbox's files are expanded from its spool once sends pause; close writes what is left,
    # so this is how long after the step the last file is on disk (and the CPU that took).
    files_cpu = time.process_time()
    with Timer() as files:
        runtime.close()
    files_cpu = time.process_time() - files_cpu
    results.put((step.seconds, peak_rss_mb(), cpu, planning[0], planning[1], files.seconds, files_cpu))  # type: ignore[attr-defined]


def _plan_step(runtime, step_id: int, now: datetime) -> None:
    """The step's batches as ``run_step_batch`` plans them (same ranges, same ``_plan_and_write``), handing nothing to a channel."""
    with runtime.sessions() as session:
        step = session.get(PlanStep, step_id)
        ranges = episode_ranges(session, step.campaign_id, step.wave, runtime.settings.batch_size)
    for first, last in ranges:
        with runtime.sessions() as session:
            step_batch._plan_and_write(runtime, session, session.get(PlanStep, step_id), first, last, now)


if __name__ == "__main__":
    main()
