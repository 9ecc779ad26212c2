"""Handing work to whoever runs it: inline in this process, or Celery workers.

Every task takes ids only, loads its rows, and is safe to run twice; so a task
redelivered after a worker died does no harm (STYLE: ids across task boundaries).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dispatcher.runtime.core import Runtime
from dispatcher.runtime.logs import task_context


class InlineQueue:
    """Runs each task at once in the calling thread: the embedded worker and unit tests."""

    def __init__(self, runtime: Runtime, tasks: dict[str, Callable[..., Any]]) -> None:
        self._runtime = runtime
        self._tasks = tasks

    def submit(self, task: str, *args: Any) -> None:
        with task_context(task, args):
            self._tasks[task](self._runtime, *args)


class CeleryQueue:
    """Sends each task to the broker by name; a Celery worker runs it."""

    def __init__(self, celery: Any) -> None:
        self._celery = celery

    def submit(self, task: str, *args: Any) -> None:
        self._celery.send_task(f"pulse.{task}", args=list(args))
