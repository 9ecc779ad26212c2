"""Choosing who runs background tasks for a process: this thread, or Celery workers.

Apart from ``tasks`` (what each task does) and ``celery_app`` (the Celery
application, which registers those tasks), so neither imports the other back.
"""

from __future__ import annotations

from dispatcher.runtime.celery_app import make_celery
from dispatcher.runtime.core import Runtime
from dispatcher.runtime.tasks import attach_inline_queue
from dispatcher.runtime.work import CeleryQueue


def attach_queue(runtime: Runtime) -> Runtime:
    """Inline for the embedded worker; Celery (through the broker) otherwise."""
    if runtime.settings.worker == "inprocess":
        return attach_inline_queue(runtime)
    runtime.queue = CeleryQueue(make_celery(runtime.settings))
    return runtime
