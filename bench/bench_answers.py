"""Issue 12: answers by link and by SMS reply against one `pulse run`, under open-loop load, against a bare endpoint.

    .venv/bin/python bench/bench_answers.py [--rates 50,100,150,200,300,400] [--seconds 6] [--rounds 2] [--worker inprocess|celery]

One ``pulse run`` process (uvicorn, the in-process worker doing the follow-through:
follow-up task, thank-you email rendered and written to the outbox, detractor
alert email, channel-choice signal) and, as the baseline, one process serving an
endpoint that only stores the answer (``bare_answer_app.py``: same uvicorn, same
thread-pool route, same database). Each request answers a fresh episode.

The load is open-loop: request *i* is scheduled at ``start + i / rate`` whatever
happened to the earlier ones, and its latency is counted from that scheduled
time, so a server that falls behind shows its queueing (no coordinated
omission). Each rate is run for the bare endpoint, then link answers, then SMS
replies (interleaved, ``--rounds`` times); after a Pulse step the bench waits for
the worker to finish the follow-through and reports how long answers waited for
it. A variant's *capacity* is the highest offered rate it kept up with
(completed ≥ 95 % of the offered rate, p99 ≤ 200 ms) in every round, every
lower rate of the round included (the same rule for the bare endpoint and for
Pulse); each round's own highest rate and the rate it completed at the first
offered rate it fell behind at are printed beside it. A finer ``--rates`` grid
(e.g. 50,60,70,80,90,100,115,130,150) gives a finer capacity. CPU is the servers'
(user + system of their process groups, from /proc), per request — for Pulse it
includes the worker's follow-through until the backlog is drained, and is also
shown for the API process alone; PostgreSQL's own CPU is not counted.

``--worker celery`` runs Pulse as in production: ``pulse run`` with
``PULSE_WORKER=celery`` takes the answers and kicks, one ``pulse worker``
process (Celery, concurrency 1, broker ``PULSE_BENCH_BROKER_URL``) does the
follow-through; still one API process against the bare one.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from common import fresh_schema, settle
from sqlalchemy import func, insert, select
from twilio.request_validator import RequestValidator
from workers import BROKER, start_workers, stop_workers

from campaigns.db import make_engine, make_session_factory
from campaigns.people.models import Account, Contact, TeamMember
from campaigns.programs import service
from campaigns.programs.models import AnswerOutbox, Episode, Message
from dispatcher.answers.links import form_ticket, human_proof
from dispatcher.runtime.core import build_runtime
from dispatcher.runtime.settings import Settings
from dispatcher.sending.contents import answer_url

ROOT = Path(__file__).resolve().parents[1]
SECRET = "bench-secret-key-not-for-production-0123456789"
TWILIO_TOKEN = "bench-twilio-token"
ALWAYS = {"start": "00:00", "end": "23:59", "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]}
KEEPS_UP = 0.95
P99_BOUND = 0.200
WARMUP = 60  # requests per variant at 20/s before the rounds (pools, prepared statements, templates), not counted
TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Step:
    round: int
    variant: str
    rate: int
    sent: int
    ok: int
    seconds: float  # from the first scheduled start to the last completion
    p50: float
    p99: float
    cpu: float  # server CPU seconds (Pulse: the API process and its worker)
    api_cpu: float  # the API process's alone
    follow_p50: float | None = None  # answer → follow-through done (Pulse)
    follow_p99: float | None = None

    @property
    def throughput(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0

    @property
    def kept_up(self) -> bool:
        return self.ok == self.sent and self.throughput >= KEEPS_UP * self.rate and self.p99 <= P99_BOUND


# --- the rows ---------------------------------------------------------------------


def seed(url: str, count: int, medium: str, settings: Settings, tag: str) -> list[tuple[str, str]]:
    """``count`` contacts invited (and sent) on ``medium`` in one active campaign; each one's
    (public id, link token or phone)."""
    now = datetime.now(UTC)
    sessions = make_session_factory(make_engine(url))
    with sessions() as session:
        owner = TeamMember(name="Bill Owner", email=f"owner-{tag}@example.com", active=True, created_at=now)
        session.add(owner)
        session.flush()
        account = Account(external_id=f"acct-{tag}", name="Initech", owner_id=owner.id, attributes={}, created_at=now, updated_at=now)
        session.add(account)
        session.flush()
        campaign = service.create_campaign(session, spec={
            "name": f"Bench {tag}", "survey": {"kind": "nps"}, "channels": [medium], "audience": {"filter": {"segment": ["smb"]}},
            "sending_window": ALWAYS,
        }, now=now)
        campaign.status, campaign.launched_at, campaign.send_at, campaign.selection_state = "active", now, now, "done"
        session.flush()
        phones = [f"+1202555{n:06d}" for n in range(count)]
        contact_ids = session.scalars(insert(Contact).returning(Contact.id, sort_by_parameter_order=True), [{
            "external_id": f"{tag}-{n}", "name": f"Person {n}", "email": f"p{n}@{tag}.example", "phone": phones[n] if medium == "sms" else None,
            "role": "admin", "locale": "en", "timezone": "UTC", "attributes": {}, "account_id": account.id, "created_at": now, "updated_at": now,
        } for n in range(count)]).all()
        public_ids = [service.new_public_id() for _ in range(count)]
        episode_ids = session.scalars(insert(Episode).returning(Episode.id, sort_by_parameter_order=True), [{
            "public_id": public_ids[n], "campaign_id": campaign.id, "contact_id": contact_ids[n], "state": "invited", "channel": medium,
            "invited_at": now, "created_at": now,
        } for n in range(count)]).all()
        session.execute(insert(Message), [{
            "idempotency_key": f"bench:{tag}:{episode_ids[n]}", "campaign_id": campaign.id, "episode_id": episode_ids[n],
            "contact_id": contact_ids[n], "step": "invite", "medium": medium, "channel": f"outbox_{medium}",
            "recipient": phones[n] if medium == "sms" else f"p{n}@{tag}.example", "state": "sent", "substitutions": {},
            "attempts": 1, "created_at": now, "sent_at": now, "updated_at": now,
        } for n in range(count)])
        session.commit()
        episodes = session.scalars(select(Episode).where(Episode.campaign_id == campaign.id).order_by(Episode.id)).all()
        if medium == "sms":
            return [(e.public_id, phones[n]) for n, e in enumerate(episodes)]
        return [(e.public_id, urlsplit(answer_url(settings, e, now)).path) for e in episodes]


SEEDED = ("team_members", "accounts", "campaigns", "contacts", "episodes", "messages")


# --- the requests -----------------------------------------------------------------


def http_post(port: int, path: str, form: dict[str, str], headers: dict[str, str] | None = None) -> bytes:
    body = urlencode(form).encode()
    lines = [f"POST {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Content-Type: application/x-www-form-urlencoded",
             f"Content-Length: {len(body)}", *[f"{k}: {v}" for k, v in (headers or {}).items()]]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def link_requests(runtime_settings: Settings, port: int, targets: list[tuple[str, str]]) -> list[bytes]:
    runtime = build_runtime(runtime_settings)
    issued = datetime.now(UTC) - timedelta(seconds=10)  # a person read the page first
    out = []
    for n, (public_id, path) in enumerate(targets):
        ticket = form_ticket(runtime, public_id, issued_at=issued)
        out.append(http_post(port, path, {"score": str(n % 11), "comment": "the onboarding was slow", "ticket": ticket, "human": human_proof(runtime, ticket)}))
    runtime.close()
    return out


def sms_requests(port: int, targets: list[tuple[str, str]]) -> list[bytes]:
    validator, url = RequestValidator(TWILIO_TOKEN), f"http://127.0.0.1:{port}/webhooks/twilio/sms"
    out = []
    for n, (_, phone) in enumerate(targets):
        sid = f"SM{n:032d}"
        form = {"MessageSid": sid, "SmsSid": sid, "AccountSid": "AC" + "0" * 32, "From": phone, "To": "+15005550006", "Body": str(n % 11), "NumMedia": "0"}
        out.append(http_post(port, "/webhooks/twilio/sms", form, {"X-Twilio-Signature": validator.compute_signature(url, form)}))
    return out


def bare_requests(port: int, targets: list[tuple[str, str]]) -> list[bytes]:
    return [http_post(port, f"/bare/{public_id}", {"score": str(n % 11)}) for n, (public_id, _) in enumerate(targets)]


async def open_loop(port: int, requests: list[bytes], rate: int, expect: int) -> tuple[list[float], int, float]:
    """Send ``requests`` at ``rate`` per second, each at its scheduled time on a free kept-alive
    connection (a new one if none is free); (latencies from the scheduled start, oks, seconds)."""
    loop = asyncio.get_running_loop()
    idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    latencies: list[float] = []
    oks = 0
    start = loop.time() + 0.3
    last = start

    async def one(index: int) -> None:
        nonlocal oks, last
        scheduled = start + index / rate
        await asyncio.sleep(max(0.0, scheduled - loop.time()))
        while True:
            kept = bool(idle)
            reader, writer = idle.pop() if kept else await asyncio.open_connection("127.0.0.1", port)
            writer.write(requests[index])
            try:
                head = await reader.readuntil(b"\r\n\r\n")
                break
            except asyncio.IncompleteReadError as closed:
                # uvicorn closes a kept-alive connection idle for 5 s (its keep-alive timeout) without
                # reading what was sent on it: send again on another; a fresh one failing is an error
                writer.close()
                if not kept or closed.partial:
                    raise
        length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")), 0)
        await reader.readexactly(length)
        done = loop.time()
        latencies.append(done - scheduled)
        last = max(last, done)
        if int(head.split(b" ", 2)[1]) == expect:
            oks += 1
        idle.append((reader, writer))

    await asyncio.gather(*(one(i) for i in range(len(requests))))
    for _, writer in idle:
        writer.close()
    return latencies, oks, last - start


def cpu_seconds(group: int) -> float:
    """User + system CPU of every live process in the process group, seconds."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == group:
            total += int(fields[11]) + int(fields[12])
    return total / TICKS


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


# --- the servers ------------------------------------------------------------------


def start_server(command: list[str], env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(command, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT, cwd=ROOT, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            asyncio.run(_probe(port))
            return process
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit(f"server on port {port} did not start; see {log}")


async def _probe(port: int) -> None:
    _, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.close()


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def drained(url: str, since_id: int, timeout: float = 120.0) -> tuple[float | None, float | None]:
    """Wait until the worker did every outbox row after ``since_id``; p50/p99 of answer → done, seconds."""
    engine = make_engine(url)
    deadline = time.monotonic() + timeout
    with make_session_factory(engine)() as session:
        while session.scalar(select(func.count()).select_from(AnswerOutbox).where(AnswerOutbox.id > since_id, AnswerOutbox.done_at.is_(None))):
            session.rollback()
            if time.monotonic() > deadline:
                break
            time.sleep(0.1)
        waits = [(done - created).total_seconds() for created, done in session.execute(
            select(AnswerOutbox.created_at, AnswerOutbox.done_at).where(AnswerOutbox.id > since_id, AnswerOutbox.done_at.is_not(None))) if done is not None]
    engine.dispose()
    return (percentile(waits, 0.5), percentile(waits, 0.99)) if waits else (None, None)


def last_outbox_id(url: str) -> int:
    engine = make_engine(url)
    with make_session_factory(engine)() as session:
        value = session.scalar(select(func.max(AnswerOutbox.id))) or 0
    engine.dispose()
    return value


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rates", default="50,100,150,200,300,400")
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--worker", choices=("inprocess", "celery"), default="inprocess")
    args = parser.parse_args()
    rates = [int(r) for r in args.rates.split(",")]
    per_variant = int(sum(rates) * args.seconds * args.rounds) + WARMUP + 10
    outbox = Path(tempfile.mkdtemp(prefix="pulse-bench-answers-"))
    with fresh_schema() as url:
        pulse_port, bare_port = free_port(), free_port()
        env = {**os.environ, "PULSE_DATABASE_URL": url, "PULSE_SECRET_KEY": SECRET, "PULSE_PORT": str(pulse_port),
               "PULSE_PUBLIC_URL": f"http://127.0.0.1:{pulse_port}", "PULSE_OUTBOX_DIR": str(outbox),
               "PULSE_TWILIO_AUTH_TOKEN": TWILIO_TOKEN, "PULSE_ANSWER_RATE_PER_IP": "100000000", "PULSE_ANSWER_RATE_PER_TOKEN": "100000000",
               "PYTHONPATH": str(ROOT), "PULSE_WORKER": args.worker, "PULSE_BROKER_URL": BROKER}
        settings = Settings(database_url=url, secret_key=SECRET, public_url=f"http://127.0.0.1:{pulse_port}")  # type: ignore[arg-type]
        print(f"seeding {per_variant:,} episodes per variant…", flush=True)
        targets = {variant: seed(url, per_variant, "sms" if variant == "sms" else "email", settings, variant) for variant in ("link", "sms", "bare")}
        settle(url, SEEDED)
        payloads = {
            "link": link_requests(settings, pulse_port, targets["link"]), "sms": sms_requests(pulse_port, targets["sms"]),
            "bare": bare_requests(bare_port, targets["bare"]),
        }
        pulse = start_server([str(Path(sys.executable).parent / "pulse"), "run"], env, pulse_port, outbox / "pulse.log")
        bare = start_server([sys.executable, str(ROOT / "bench" / "bare_answer_app.py"), url, str(bare_port)], env, bare_port, outbox / "bare.log")
        worker = start_workers(env, 1, outbox / "worker.log") if args.worker == "celery" else None
        print(f"Pulse: one `pulse run` ({'follow-through on one `pulse worker`' if worker else 'in-process worker'}); the bare endpoint: one uvicorn process", flush=True)
        steps: list[Step] = []
        used = dict.fromkeys(payloads, WARMUP)
        try:
            for variant, port in (("bare", bare_port), ("link", pulse_port), ("sms", pulse_port)):
                asyncio.run(open_loop(port, payloads[variant][:WARMUP], 20, 200 if variant == "sms" else 303))
            drained(url, 0)
            gc.collect()
            gc.freeze()  # the seeded rows and payloads: never walked by this process's collections again
            for round_number in range(1, args.rounds + 1):
                stopped: set[str] = set()
                for rate in rates:
                    for variant in ("bare", "link", "sms"):
                        if variant in stopped:
                            continue
                        count = int(rate * args.seconds)
                        batch = payloads[variant][used[variant]:used[variant] + count]
                        used[variant] += count
                        server, port = (bare, bare_port) if variant == "bare" else (pulse, pulse_port)
                        groups = [server.pid] + ([worker.pid] if worker and variant != "bare" else [])
                        since = last_outbox_id(url)
                        cpu_before = [cpu_seconds(g) for g in groups]
                        latencies, oks, seconds = measured(open_loop(port, batch, rate, 200 if variant == "sms" else 303))
                        api_cpu = cpu_seconds(server.pid) - cpu_before[0]
                        follow = drained(url, since) if variant != "bare" else (None, None)
                        cpu = sum(cpu_seconds(g) - before for g, before in zip(groups, cpu_before))
                        step = Step(round_number, variant, rate, len(batch), oks, seconds, percentile(latencies, 0.5), percentile(latencies, 0.99),
                                    cpu, api_cpu, *follow)
                        steps.append(step)
                        print(f"round {round_number} {variant:4} {rate:4}/s: {step.throughput:6.1f} req/s done, p50 {step.p50 * 1000:6.1f} ms, "
                              f"p99 {step.p99 * 1000:7.1f} ms (from scheduled start), CPU {step.cpu / max(step.ok, 1) * 1000:5.2f} ms/request"
                              f" (API process {step.api_cpu / max(step.ok, 1) * 1000:5.2f})"
                              + (f", follow-through p50 {step.follow_p50:.2f} s p99 {step.follow_p99:.2f} s" if step.follow_p50 is not None else "")
                              + ("" if step.kept_up else "  ← fell behind"), flush=True)
                        if not step.kept_up:
                            stopped.add(variant)
        finally:
            for server in (pulse, bare):
                server.terminate()
                server.wait(30)
            if worker is not None:
                stop_workers(worker)
        summarize(steps, rates)


def measured(load: Coroutine[Any, Any, tuple[list[float], int, float]]) -> tuple[list[float], int, float]:
    """Run one step's load with this process's garbage collector off, and collect after it:
    a full collection in the load generator (60–180 ms of CPU with this heap) delays the
    requests scheduled meanwhile, and their latency counts from the scheduled start."""
    gc.disable()
    try:
        return asyncio.run(load)
    finally:
        gc.enable()
        gc.collect()


def summarize(steps: list[Step], rates: list[int]) -> None:
    def rounds(variant: str) -> list[tuple[int, Step | None]]:
        """Per round: the highest rate kept up with (every lower rate of the round too), and the
        first step that fell behind (None if none did)."""
        found = []
        for number in sorted({s.round for s in steps}):
            best, behind = 0, None
            for rate in rates:
                at = [s for s in steps if s.variant == variant and s.round == number and s.rate == rate]
                if not at:
                    break
                if not at[0].kept_up:
                    behind = at[0]
                    break
                best = rate
            found.append((best, behind))
        return found

    def capacity(variant: str) -> int:
        """The highest rate kept up with in every round (the same rule for every variant)."""
        return min((best for best, _ in rounds(variant)), default=0)

    def best_round(variant: str) -> int:
        return max((best for best, _ in rounds(variant)), default=0)

    bare, bare_best = capacity("bare"), best_round("bare")
    print("\nsummary (server CPU per request over every step; latency from the scheduled start):")
    for variant in ("bare", "link", "sms"):
        runs = [s for s in steps if s.variant == variant]
        cap = capacity(variant)
        at100 = [s.p99 for s in runs if s.rate == 100]
        cpu = sum(s.cpu for s in runs) / max(sum(s.ok for s in runs), 1)
        api_cpu = sum(s.api_cpu for s in runs) / max(sum(s.ok for s in runs), 1)
        ratio = (f", {cap / bare:.2f}× the bare endpoint's capacity (best rounds: {best_round(variant) / bare_best:.2f}×)"
                 if bare and bare_best and variant != "bare" else "")
        per_round = "; ".join(f"{best}/s" + (f", then {behind.throughput:.1f} req/s done at {behind.rate}/s (p99 {behind.p99 * 1000:.0f} ms)" if behind else ", never behind")
                              for best, behind in rounds(variant))
        follow = [s.follow_p99 for s in runs if s.follow_p99 is not None]
        print(f"  {variant:4}: capacity {cap}/s (kept up with in every round; of {', '.join(map(str, rates))}){ratio}; rounds: {per_round}; p99 at 100/s "
              f"{', '.join(f'{p * 1000:.1f}' for p in at100) or '-'} ms; CPU {cpu * 1000:.2f} ms/request (API process {api_cpu * 1000:.2f})"
              + (f"; follow-through p99 {max(follow):.2f} s" if follow else ""))
    print(f"  goal: link and SMS ≥ 0.7× the bare capacity, p99 ≤ 25 ms at 100/s; bare p50s {statistics.median([s.p50 for s in steps if s.variant == 'bare']) * 1000:.1f} ms")


if __name__ == "__main__":
    main()
