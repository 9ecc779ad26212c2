"""Running real `pulse worker` processes for a benchmark, and playing beat meanwhile."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import redis

PULSE = str(Path(sys.executable).with_name("pulse"))
BROKER = os.environ.get("PULSE_BENCH_BROKER_URL", "redis://127.0.0.1:6379/13")


def start_workers(env: dict[str, str], concurrency: int, log: Path) -> subprocess.Popen[bytes]:
    redis.Redis.from_url(BROKER).flushdb()
    out = log.open("ab")
    worker = subprocess.Popen([PULSE, "worker", f"--concurrency={concurrency}", "--loglevel=warning"],
                              env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    broker = redis.Redis.from_url(BROKER)
    deadline = time.monotonic() + 60
    while not broker.exists("_kombu.binding.celery"):
        if time.monotonic() > deadline or worker.poll() is not None:
            raise SystemExit("the worker did not start:\n" + log.read_text()[-2000:])
        time.sleep(0.2)
    return worker


def tree_cpu(pid: int) -> float:
    """CPU seconds of a running process and its descendants so far (Linux ``/proc``: user + system,
    reaped children included); taken when the workers are ready and again before they stop, the
    difference leaves out their start-up (imports) and shutdown."""
    stats: dict[int, list[str]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stats[int(entry.name)] = (entry / "stat").read_text().rpartition(")")[2].split()
            except OSError:  # gone meanwhile
                continue
    tree, grew = {pid}, True
    while grew:
        found = {child for child, fields in stats.items() if int(fields[1]) in tree}
        grew = not found <= tree
        tree |= found
    ticks = sum(sum(int(value) for value in stats[member][11:15]) for member in tree if member in stats)  # utime stime cutime cstime
    return ticks / os.sysconf("SC_CLK_TCK")


def stop_workers(worker: subprocess.Popen[bytes]) -> None:
    os.killpg(worker.pid, signal.SIGTERM)
    try:
        worker.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(worker.pid, signal.SIGKILL)


def run_until(done: Callable[[], bool], tick: Callable[[], None], every: float = 0.5, timeout: float = 1800) -> float:
    """Play beat until ``done``; the seconds it took."""
    start = time.perf_counter()
    while not done():
        if time.perf_counter() - start > timeout:
            raise SystemExit("timed out")
        tick()
        time.sleep(every)
    return time.perf_counter() - start


def worker_env(url: str, outbox: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PULSE_")}
    env.update({
        "PULSE_ENVIRONMENT": "test", "PULSE_SECRET_KEY": "bench-secret-key-0123456789-abcdefghij",
        "PULSE_DATABASE_URL": url, "PULSE_WORKER": "celery", "PULSE_BROKER_URL": BROKER,
        "PULSE_OUTBOX_DIR": str(outbox), "PULSE_PUBLIC_URL": "https://pulse.example.com", **extra,
    })
    return env
