"""Every background task by name; the same functions run inline or on Celery workers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dispatcher.handoff import send_messages
from dispatcher.internal import run_internal_step
from dispatcher.runtime import Runtime
from dispatcher.scheduler import tick
from dispatcher.selection import select_audience
from dispatcher.step_batch import run_step_batch
from dispatcher.webhooks_out import deliver_webhooks
from dispatcher.work import CeleryQueue, InlineQueue

TASKS: dict[str, Callable[..., Any]] = {
    "tick": tick,
    "select_audience": select_audience,
    "run_step_batch": run_step_batch,
    "run_internal_step": run_internal_step,
    "send_messages": send_messages,
    "deliver_webhooks": deliver_webhooks,
}


def attach_inline_queue(runtime: Runtime) -> Runtime:
    """Run every task in the calling thread (the embedded worker, unit tests)."""
    runtime.queue = InlineQueue(runtime, TASKS)
    return runtime


def attach_queue(runtime: Runtime) -> Runtime:
    """Inline for the embedded worker; Celery (through the broker) otherwise."""
    if runtime.settings.worker == "inprocess":
        return attach_inline_queue(runtime)
    from dispatcher.celery_app import make_celery

    runtime.queue = CeleryQueue(make_celery(runtime.settings))
    return runtime
