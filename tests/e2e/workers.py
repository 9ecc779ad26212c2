"""Real `pulse worker` processes on Redis, for the end-to-end tests.

The test process plays Celery beat: it runs the scheduler tick, which hands
tasks to the workers through the broker, and then waits until the broker has
nothing queued or in flight.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import redis

from dispatcher.runtime.core import Runtime

PULSE = str(Path(sys.executable).with_name("pulse"))


class Workers:
    def __init__(self, env: dict[str, str], log: Path, concurrency: int = 2) -> None:
        self.env = env
        self.log = log
        self.concurrency = concurrency
        self.process: subprocess.Popen[bytes] | None = None
        self.broker = redis.Redis.from_url(env["PULSE_BROKER_URL"])

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [PULSE, "worker", f"--concurrency={self.concurrency}", "--loglevel=warning"],
                env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )
        self._wait_ready()

    def _wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None and self.process.poll() is None, self.log.read_text()[-3000:]
            if b"ready" in self.log.read_bytes() or self.broker.exists("_kombu.binding.celery"):
                return
            time.sleep(0.2)
        raise AssertionError("worker did not start:\n" + self.log.read_text()[-3000:])

    def kill(self) -> None:
        """SIGKILL the whole worker: the main process and every pool child, mid-whatever."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(30)

    def idle(self) -> bool:
        return self.broker.llen("celery") == 0 and self.broker.hlen("unacked") == 0

    def settle(self, runtime: Runtime, tick: Callable[[Runtime], None], timeout: float = 120) -> None:
        """Tick until the workers have nothing left to do (queued or in flight)."""
        deadline = time.monotonic() + timeout
        quiet = 0
        while time.monotonic() < deadline:
            tick(runtime)
            time.sleep(0.05)
            quiet = quiet + 1 if self.idle() else 0
            if quiet >= 3:
                return
        raise AssertionError("workers did not settle:\n" + self.log.read_text()[-3000:])


def worker_env(runtime: Runtime, broker_url: str, **extra: str) -> dict[str, str]:
    settings = runtime.settings
    env = {k: v for k, v in os.environ.items() if not k.startswith("PULSE_")}
    env.update({
        "PULSE_ENVIRONMENT": "test",
        "PULSE_SECRET_KEY": settings.secret_key.get_secret_value(),
        "PULSE_DATABASE_URL": settings.database_url,
        "PULSE_WORKER": "celery",
        "PULSE_BROKER_URL": broker_url,
        "PULSE_CLOCK": "database",
        "PULSE_OUTBOX_DIR": str(settings.outbox_dir),
        "PULSE_PUBLIC_URL": settings.public_url,
        **extra,
    })
    return env
