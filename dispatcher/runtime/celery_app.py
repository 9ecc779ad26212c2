"""The Celery application, built from settings where a worker or beat starts.

Each worker process builds its own runtime after it starts (after the fork),
so no database connection is ever shared between processes.
"""

from __future__ import annotations

import os
from typing import Any

from celery import Celery
from celery.signals import worker_process_init, worker_process_shutdown

from dispatcher.runtime.core import Runtime, build_runtime, freeze_start_up_objects
from dispatcher.runtime.logs import task_context
from dispatcher.runtime.metrics import process_exited
from dispatcher.runtime.settings import Settings
from dispatcher.runtime.tasks import TASKS
from dispatcher.runtime.work import CeleryQueue
from dispatcher.sending.heartbeat import start_heartbeat

_process: dict[str, Runtime] = {}


def make_celery(settings: Settings) -> Celery:
    celery = Celery("pulse", broker=settings.broker_url, set_as_current=True)
    celery.conf.update(
        task_acks_late=True,  # a task whose worker dies is redelivered; every task is safe to run twice
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_serializer="json",
        accept_content=["json"],
        broker_connection_retry_on_startup=True,
        task_ignore_result=True,
        broker_transport_options={"visibility_timeout": settings.broker_visibility_timeout},
        beat_schedule={"tick": {"task": "pulse.tick", "schedule": settings.tick_seconds}},
    )

    def runtime() -> Runtime:
        if "runtime" not in _process:
            built = build_runtime(settings)
            built.queue = CeleryQueue(celery)
            _process["runtime"] = built
            # This process's claims are recovered soon after it stops beating (killed, hung).
            built.extras["heartbeat"] = start_heartbeat(built)
        return _process["runtime"]

    for name, function in TASKS.items():
        def run(*args: Any, _function: Any = function, _name: str = name) -> None:
            with task_context(_name, args):
                _function(runtime(), *args)

        celery.task(name=f"pulse.{name}", acks_late=True)(run)

    @worker_process_init.connect(weak=False)
    def _fresh_runtime(**_: Any) -> None:
        _process.clear()  # built again on first use, in this process
        freeze_start_up_objects()  # what the pool's parent imported and built

    @worker_process_shutdown.connect(weak=False)
    def _close(**_: Any) -> None:
        if "runtime" in _process:
            stopping = _process.pop("runtime")
            stopping.extras["heartbeat"].set()
            stopping.close()
        process_exited(os.getpid())

    return celery
