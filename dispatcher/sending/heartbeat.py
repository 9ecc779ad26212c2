"""Worker heartbeats: which processes are alive, so what a dead one held is recovered at once.

Every Celery worker process beats every ``heartbeat_seconds`` (a daemon thread).
A claim (a message in flight, a step, a selection) names the process that made
it; ``dead_claim`` says it is abandoned when that process stopped beating for
three periods, or, for a process that never beats (the embedded worker), when
the claim is older than a grace period.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, exists, or_, select

from campaigns.db import dialect_insert
from campaigns.programs.models import WorkerHeartbeat
from dispatcher.runtime.clock import utcnow
from dispatcher.runtime.core import Runtime

log = logging.getLogger(__name__)
MISSED_BEATS = 3


def worker_name() -> str:
    """This process, as claims and heartbeats name it."""
    return f"{socket.gethostname()}:{os.getpid()}"


def beat(runtime: Runtime) -> None:
    """Say this process is alive (one upsert)."""
    wall = utcnow()
    with runtime.sessions() as session:
        session.execute(
            dialect_insert(session, WorkerHeartbeat).values(worker=worker_name(), beat_at=wall)
            .on_conflict_do_update(index_elements=["worker"], set_={"beat_at": wall})
        )
        session.commit()


def dead_claim(runtime: Runtime, claimed_by: Any, claimed_at: Any, *, grace: timedelta, wall: datetime | None = None) -> ColumnElement[bool]:
    """SQL: the claim's process stopped beating, or the claim is older than ``grace``."""
    wall = wall or utcnow()
    silent_since = wall - timedelta(seconds=MISSED_BEATS * runtime.settings.heartbeat_seconds)
    stopped = exists(select(WorkerHeartbeat.worker).where(WorkerHeartbeat.worker == claimed_by, WorkerHeartbeat.beat_at < silent_since))
    return or_(stopped, claimed_at < wall - grace)


def start_heartbeat(runtime: Runtime) -> threading.Event:
    """Beat now and then every ``heartbeat_seconds`` until the returned event is set."""
    stop = threading.Event()
    beat(runtime)

    def run() -> None:
        while not stop.wait(runtime.settings.heartbeat_seconds):
            try:
                beat(runtime)
            except Exception:  # a database hiccup must not end the thread: the next beat may work
                log.exception("heartbeat failed")

    threading.Thread(target=run, name="pulse-heartbeat", daemon=True).start()
    return stop
