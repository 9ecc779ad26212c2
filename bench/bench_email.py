"""Issue 5: email invites to 100,000 contacts through Celery workers to the SendGrid fake (80 ms latency).

    .venv/bin/python bench/bench_email.py [--contacts 100000] [--workers 2]

Reports messages per second end to end (invite step due → every message
recorded as sent), Mail Send requests per 1,000 messages, and the rate of a
bare loop posting the very same payloads to the same fake, as a ratio. Rounds
(default 2) alternate Pulse and the bare loop, each on a fresh schema; the
fake runs with its schema validation off (tests keep it on). CPU per message
is the workers' (from the kernel, after they exit; and from ready to done, without their
start-up) and beat's (this process).
"""

from __future__ import annotations

import argparse
import http.client
import json
import resource
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

from common import Timer, fresh_schema
from sqlalchemy import func, select, text
from workers import BROKER, run_until, start_workers, stop_workers, tree_cpu, worker_env

from campaigns.people.upsert import upsert_accounts, upsert_contacts
from campaigns.programs import service
from campaigns.programs.models import Message
from dispatcher.runtime.celery_app import make_celery
from dispatcher.runtime.core import build_runtime
from dispatcher.runtime.settings import Settings
from dispatcher.runtime.work import CeleryQueue
from dispatcher.sending.lifecycle import launch_campaign
from dispatcher.sending.scheduler import tick
from tests.fakes.sendgrid_fake import FAKE_API_KEY, SendGridFake

ALWAYS = {"start": "00:00", "end": "23:59", "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]}


def seed(runtime, count: int) -> int:
    now = runtime.clock.now()
    with runtime.sessions() as session:
        accounts = [{"external_id": f"a{i}", "name": f"A{i}", "segment": "smb", "created_on": "2024-01-01"} for i in range(count // 20)]
        upsert_accounts(session, list(enumerate(accounts, 1)), now=now)
        contacts = [{"external_id": f"c{i}", "account_external_id": f"a{i % (count // 20)}", "name": f"Person {i}",
                     "email": f"p{i}@example.com", "locale": "de" if i % 4 == 0 else "en"} for i in range(count)]
        for start in range(0, count, 10_000):
            upsert_contacts(session, list(enumerate(contacts[start:start + 10_000], 1)), now=now)
        campaign = service.create_campaign(session, spec={
            "name": "Bench email", "survey": {"kind": "nps"}, "audience": {"filter": {"segment": ["smb"]}},
            "sending_window": ALWAYS, "plan": [{"step": "invite", "offset_days": 0}, {"step": "close", "offset_days": 14}],
        }, now=now)
        session.commit()
        launch_campaign(runtime, session, campaign.id)
        session.commit()
        return campaign.id


def bare_loop(base_url: str, bodies: list[dict]) -> tuple[float, float]:
    """Post each payload once over one kept-alive connection; (seconds, CPU seconds)."""
    parts = urlsplit(base_url)
    if parts.hostname is None:
        raise ValueError(f"{base_url} names no host")
    connection = http.client.HTTPConnection(parts.hostname, parts.port)
    headers = {"Authorization": f"Bearer {FAKE_API_KEY}", "Content-Type": "application/json"}
    cpu = time.process_time()
    with Timer() as timer:
        for body in bodies:
            connection.request("POST", "/v3/mail/send", body=json.dumps(body), headers=headers)
            response = connection.getresponse()
            response.read()
            assert response.status == 202, response.status
    connection.close()
    return timer.seconds, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    ratios = []
    for round_number in range(1, args.rounds + 1):
        ratios.append(run(args, round_number))
    print(f"summary over {args.rounds} rounds: ratio Pulse / bare loop {min(ratios):.2f}-{max(ratios):.2f}")


def run(args: argparse.Namespace, round_number: int) -> float:
    """One round on a fresh schema: Pulse end to end, then the bare loop on the same payloads."""
    fake = SendGridFake(latency=0.08, validate=False)  # the fake's schema checks would compete for the CPU
    fake.start()
    outbox = Path(tempfile.mkdtemp())
    with fresh_schema() as url:
        extra = {"PULSE_EMAIL_CHANNEL": "sendgrid", "PULSE_SENDGRID_API_KEY": FAKE_API_KEY, "PULSE_SENDGRID_BASE_URL": fake.base_url,
                 "PULSE_BATCH_SIZE": str(args.batch_size), "PULSE_CLOCK": "database"}
        settings = Settings(**{k[6:].lower(): v for k, v in worker_env(url, outbox, **extra).items() if k.startswith("PULSE_")})  # type: ignore[arg-type]
        runtime = build_runtime(settings)
        runtime.clock.set(datetime(2026, 3, 2, 10, tzinfo=UTC))  # type: ignore[attr-defined]
        runtime.queue = CeleryQueue(make_celery(settings))
        campaign_id = seed(runtime, args.contacts)
        children_cpu = _children_cpu()
        worker = start_workers(worker_env(url, outbox, **extra), args.workers, outbox / "worker.log")
        ready_cpu = tree_cpu(worker.pid)

        def sent() -> int:
            with runtime.sessions() as session:
                return session.scalar(select(func.count()).select_from(Message).where(Message.campaign_id == campaign_id, Message.state == "sent")) or 0

        beat_cpu = time.process_time()
        try:
            selection = run_until(lambda: _selected(runtime, campaign_id, args.contacts), lambda: tick(runtime))
            seconds = run_until(lambda: sent() >= args.contacts, lambda: tick(runtime), every=0.2)
        finally:
            beat_cpu = time.process_time() - beat_cpu
            running_cpu = tree_cpu(worker.pid) - ready_cpu
            stop_workers(worker)
        workers_cpu = _children_cpu() - children_cpu
        updates, hot = _message_updates(runtime)
        requests = len(fake.requests)
        bodies = [r.body for r in fake.requests]
        personalizations = sum(len(b["personalizations"]) for b in bodies)
        bare, bare_cpu = bare_loop(fake.base_url, bodies)
        fake.stop()
        rate, bare_rate = args.contacts / seconds, args.contacts / bare
        print(f"round {round_number}: selection {selection:.1f} s; {args.contacts:,} invites through {args.workers} Celery worker processes on {BROKER} "
              f"to the SendGrid fake (80 ms, validation off): {seconds:.1f} s = {rate:,.0f} messages/s; "
              f"CPU {1e6 * workers_cpu / args.contacts:,.0f} µs/message in the workers (selection included; "
              f"{1e6 * running_cpu / args.contacts:,.0f} from ready to done, start-up and shutdown left out) + {1e6 * beat_cpu / args.contacts:,.0f} µs in beat")
        print(f"round {round_number}: Mail Send requests: {requests} = {1000 * requests / args.contacts:.1f} per 1,000 messages, "
              f"{personalizations / max(requests, 1):,.0f} personalizations each on average; "
              f"message rows updated {updates / args.contacts:.2f} times each after their insert ({hot / args.contacts:.2f} in place, HOT)")
        print(f"round {round_number}: bare loop posting the same {requests} payloads: {bare:.1f} s = {bare_rate:,.0f} messages/s; "
              f"CPU {1e6 * bare_cpu / args.contacts:,.0f} µs/message; ratio {rate / bare_rate:.2f}", flush=True)
        runtime.close()
        return rate / bare_rate


def _message_updates(runtime) -> tuple[int, int]:
    """Row updates of ``messages`` in this run's schema, and how many were HOT (PostgreSQL's
    statistics, reported by each backend at the latest when it exits: the workers have)."""
    with runtime.sessions() as session:
        session.execute(text("SELECT pg_stat_clear_snapshot()"))
        row = session.execute(text("SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables "
                                   "WHERE relname = 'messages' AND schemaname = current_schema()")).one()
    return int(row[0]), int(row[1])


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _selected(runtime, campaign_id: int, count: int) -> bool:
    from campaigns.programs.models import Campaign

    with runtime.sessions() as session:
        return session.get(Campaign, campaign_id).selection_state == "done"


if __name__ == "__main__":
    main()
