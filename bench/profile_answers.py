"""Issue 12: where one answer request's CPU goes, in process, under cProfile.

    .venv/bin/python bench/profile_answers.py [--requests 400] [--kind link|sms|bare] [--top 40] [--statements] [--follow-through]

The bench's own requests (``bench_answers.py``: a confirmed link answer, a signed
Twilio reply; or the bare endpoint's one insert) go through the ASGI app as
uvicorn would call it — the whole middleware stack, FastAPI's parameters and
dependencies, the route, the commit — but on one thread: the thread pool that
runs sync routes is replaced by a direct call, so one cProfile sees everything.
Kicks go to a broker that is never read (``PULSE_BENCH_BROKER_URL``), as with
``--worker celery``: the follow-through is not in the figures. Prints CPU per
request (process time over the loop, profiler off), then the profile; with
``--follow-through``, then the worker's follow-through of every answer stored, as
``follow_through_answers`` does it (batches of ``--batch``, default ``BATCH``; the
thank-yous and alerts handed to the outbox channel in the same thread): the first
half (whole batches) timed with the profiler off, the rest under it; statements and
CPU per answer of each, and the follow-through's profile instead of the requests'.
``PROFILE_DUMP=<file>`` also writes the printed profile there (``pstats``: callers, callees).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio.to_thread
import fastapi.dependencies.utils
import fastapi.routing
import fastapi.telemetry._runtime
import starlette.background
import starlette.concurrency
from bench_answers import (
    SECRET,
    SEEDED,
    TWILIO_TOKEN,
    bare_requests,
    link_requests,
    seed,
    sms_requests,
)
from common import fresh_schema, settle
from pydantic import SecretStr
from sqlalchemy import event, func, select

from campaigns.programs.models import AnswerOutbox
from dispatcher.answers.follow_through import BATCH, claim, follow_through
from dispatcher.runtime.core import Runtime, build_runtime
from dispatcher.runtime.queues import attach_queue
from dispatcher.runtime.settings import Settings

PORT = 8000
# Kicks land here and are never read; flushed by the tests' own fixtures.
BROKER = os.environ.get("PULSE_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


async def _inline(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    return func(*args, **kwargs)


async def _inline_sync(func: Callable[..., Any], *args: Any, **_options: Any) -> Any:
    return func(*args)


def run_inline() -> None:
    """Sync routes, dependencies and background tasks on the calling thread (the profiler sees one thread)."""
    for module in (fastapi.routing, fastapi.dependencies.utils, starlette.background, starlette.concurrency):
        if hasattr(module, "run_in_threadpool"):
            module.run_in_threadpool = _inline  # type: ignore[attr-defined]
    # Patched with a looser signature: any sync call, run inline.
    anyio.to_thread.run_sync = _inline_sync  # type: ignore[assignment]
    fastapi.telemetry._runtime.run_sync = _inline_sync  # type: ignore[assignment]


def scope_and_body(raw: bytes) -> tuple[dict[str, Any], bytes]:
    """An ASGI scope from the raw HTTP request the bench sends."""
    head, body = raw.split(b"\r\n\r\n", 1)
    lines = head.split(b"\r\n")
    method, path, _ = lines[0].split(b" ")
    headers = [(name.strip().lower(), value.strip()) for name, value in (line.split(b":", 1) for line in lines[1:])]
    return {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method.decode(), "scheme": "http",
        "path": path.decode(), "raw_path": path, "query_string": b"", "root_path": "", "headers": headers,
        "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", PORT),
    }, body


async def call(app: Any, raw: bytes) -> int:
    scope, body = scope_and_body(raw)
    status = 0
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return status


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--kind", choices=("link", "sms", "bare"), default="link")
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--sort", default="cumulative")
    parser.add_argument("--statements", action="store_true", help="print the statements of one request")
    parser.add_argument("--follow-through", action="store_true",
                        help="then follow the answers through (sends to the outbox included): half of them timed, the rest under the profiler")
    parser.add_argument("--batch", type=int, default=BATCH, help="answers per follow-through batch (under load at 100/s a kick finds about 25)")
    args = parser.parse_args()
    run_inline()
    warm = 50
    with fresh_schema() as url:
        settings = Settings(
            database_url=url, secret_key=SecretStr(SECRET), public_url=f"http://127.0.0.1:{PORT}", twilio_auth_token=SecretStr(TWILIO_TOKEN),
            answer_rate_per_ip=100_000_000, answer_rate_per_token=100_000_000, worker="celery", broker_url=BROKER,
        )
        targets = seed(url, args.requests + warm, "sms" if args.kind == "sms" else "email", settings, args.kind)
        settle(url, SEEDED)
        if args.kind == "bare":
            sys.path.insert(0, str(__import__("pathlib").Path(__file__).parent))
            from bare_answer_app import make_app

            app: Any = make_app(url)
            payloads, expect = bare_requests(PORT, targets), 303
        else:
            from api.app import create_app

            app = create_app(settings, start_worker=False)
            payloads = link_requests(settings, PORT, targets) if args.kind == "link" else sms_requests(PORT, targets)
            expect = 303 if args.kind == "link" else 200

        async def loop(batch: list[bytes]) -> None:
            for raw in batch:
                status = await call(app, raw)
                if status != expect:
                    raise SystemExit(f"{args.kind}: got {status}, expected {expect}")

        async def session() -> None:
            async with app.router.lifespan_context(app) if hasattr(app.router, "lifespan_context") else _nothing():
                await loop(payloads[:warm - 1])
                if args.statements:
                    statements: list[str] = []
                    engine = app.state.runtime.engine if hasattr(app.state, "runtime") else None
                    if engine is not None:
                        def note(*a: Any) -> None:
                            statements.append(a[2].split("\n")[0][:150])

                        event.listen(engine, "before_cursor_execute", note)
                        await loop(payloads[warm - 1:warm])
                        event.remove(engine, "before_cursor_execute", note)
                        print(f"statements of one {args.kind} request: {len(statements)}")
                        for text in statements:
                            print("   ", text)
                else:
                    await loop(payloads[warm - 1:warm])
                half = args.requests // 2
                started = time.process_time()
                await loop(payloads[warm:warm + half])
                cpu = (time.process_time() - started) / half
                profile = cProfile.Profile(time.process_time)  # CPU, not waits on PostgreSQL
                profile.enable()
                await loop(payloads[warm + half:warm + args.requests])
                profile.disable()
                print(f"{args.kind}: CPU {cpu * 1000:.2f} ms/request over {half} requests (in process, profiler off; no uvicorn)")
                if not args.follow_through:
                    if os.environ.get("PROFILE_DUMP"):
                        profile.dump_stats(os.environ["PROFILE_DUMP"])
                    pstats.Stats(profile).strip_dirs().sort_stats(args.sort).print_stats(args.top)
                    return
                worker = build_runtime(settings.model_copy(update={"worker": "inprocess", "outbox_dir": Path(tempfile.mkdtemp(prefix="pulse-profile-"))}))
                attach_queue(worker)
                followed: list[str] = []
                event.listen(worker.engine, "before_cursor_execute", lambda *a: followed.append(a[2]))
                pending = pending_rows(worker)
                timed = pending // 2 // args.batch * args.batch  # whole batches, profiler off
                started = time.process_time()
                done = follow_batches(worker, args.batch, timed)
                cpu = (time.process_time() - started) / max(done, 1)
                print(f"follow-through of {done} answers in batches of {args.batch}: {len(followed)} statements "
                      f"({len(followed) / max(done, 1):.2f} per answer), CPU {cpu * 1000:.2f} ms/answer (profiler off)")
                if args.statements:
                    followed.clear()
                    one = follow_batches(worker, args.batch, args.batch)
                    print(f"statements of one batch of {one} answers: {len(followed)}")
                    for text in followed:
                        print("   ", " ".join(text.split())[:200])
                followed.clear()
                started = time.process_time()
                profile = cProfile.Profile(time.process_time)
                profile.enable()
                rest = follow_batches(worker, args.batch, pending)
                profile.disable()
                cpu = (time.process_time() - started) / max(rest, 1)
                print(f"follow-through of the other {rest} answers: {len(followed)} statements, CPU {cpu * 1000:.2f} ms/answer (profiler on)")
                if os.environ.get("PROFILE_DUMP"):
                    profile.dump_stats(os.environ["PROFILE_DUMP"])
                pstats.Stats(profile).strip_dirs().sort_stats(args.sort).print_stats(args.top)
                worker.close()

        asyncio.run(session())


def follow_batches(runtime: Runtime, size: int, limit: int) -> int:
    """What ``follow_through_answers`` does, batches of ``size`` claimed rows, until ``limit`` rows are done; rows done."""
    done = 0
    while done < limit and (claimed := claim(runtime, min(size, limit - done))):
        done += follow_through(runtime, claimed)
    return done


def pending_rows(runtime: Runtime) -> int:
    with runtime.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(AnswerOutbox).where(AnswerOutbox.done_at.is_(None))) or 0)


class _nothing:
    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, *_: object) -> None:
        return None


if __name__ == "__main__":
    main()
