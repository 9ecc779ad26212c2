"""Every background task by name; the same functions run inline or on Celery workers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dispatcher.answers.follow_through import follow_through_answers
from dispatcher.loop.webhooks_out import deliver_webhooks
from dispatcher.runtime.core import Runtime
from dispatcher.runtime.work import InlineQueue
from dispatcher.sending.handoff import send_messages
from dispatcher.sending.internal import run_internal_step
from dispatcher.sending.scheduler import tick
from dispatcher.sending.selection import select_audience
from dispatcher.sending.step_batch import run_step_batch

TASKS: dict[str, Callable[..., Any]] = {
    "tick": tick,
    "select_audience": select_audience,
    "run_step_batch": run_step_batch,
    "run_internal_step": run_internal_step,
    "send_messages": send_messages,
    "deliver_webhooks": deliver_webhooks,
    "follow_through_answers": follow_through_answers,
}


def attach_inline_queue(runtime: Runtime) -> Runtime:
    """Run every task in the calling thread (the embedded worker, unit tests)."""
    runtime.queue = InlineQueue(runtime, TASKS)
    return runtime
