"""What a running Pulse process holds: settings, database, clock, channels, budget, queue.

Built once where a process starts (API, worker, beat, CLI command) from the
settings; passed down explicitly, never found through globals.
"""

from __future__ import annotations

import gc
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Protocol

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from campaigns.db import make_engine, make_session_factory
from dispatcher.runtime.channel_setup import ChannelSet, channel_names
from dispatcher.runtime.clock import Clock, DatabaseClock, SystemClock
from dispatcher.runtime.in_flight import RequestsInFlight
from dispatcher.runtime.settings import Settings
from dispatcher.sending.budget import Budget
from dispatcher.sending.fatigue import FatigueBudget
from dispatcher.sending.prompts import DatabasePromptStore
from dispatcher.studio.template_edits import PublishedTemplates, SafeRenderer
from templates import TemplateRenderer

log = logging.getLogger("pulse.runtime")


class WorkQueue(Protocol):
    """Whoever runs background tasks: inline in this process, or Celery (``dispatcher.runtime.work``)."""

    def submit(self, task: str, *args: Any) -> None: ...


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    clock: Clock
    budget: Budget = field(default_factory=FatigueBudget)
    queue: WorkQueue | None = None  # set by the process: inline, or Celery
    extras: dict[str, Any] = field(default_factory=dict)

    @cached_property
    def channels(self) -> ChannelSet:
        return ChannelSet(self.settings, prompt_store=DatabasePromptStore(self.sessions, self.clock), clock=self.clock)

    @cached_property
    def read_sessions(self) -> sessionmaker[Session]:
        """Read-only sessions: on SQLite they never wait for the write lock another session holds."""
        return make_session_factory(self.engine, read_only=True)

    @cached_property
    def published_templates(self) -> PublishedTemplates:
        return PublishedTemplates(self.read_sessions)

    @cached_property
    def renderer(self) -> TemplateRenderer:
        """Published edits over the default files (campaign steps use ``dispatcher.studio.published``,
        which adds a campaign's own edits, records the versions and falls back further)."""
        return SafeRenderer(overrides=self.published_templates.lookup)

    @cached_property
    def step_senders(self) -> ThreadPoolExecutor:
        """Threads that post a step's earlier requests while a batch plans its own (``run_step_batch``).
        Kept for the process's life: each thread has its own channel adapters, built once."""
        return ThreadPoolExecutor(max_workers=2, thread_name_prefix="pulse-step-send")

    @cached_property
    def requests_in_flight(self) -> RequestsInFlight:
        """The API requests this process is serving (none outside the API process)."""
        return RequestsInFlight()

    @property
    def available_media(self) -> set[str]:
        return set(channel_names(self.settings))

    def submit(self, task: str, *args: Any) -> None:
        if self.queue is None:
            raise RuntimeError("this process has no work queue; build it with dispatcher.runtime.queues.attach_queue")
        self.queue.submit(task, *args)

    def submit_committed(self, task: str, *args: Any) -> bool:
        """Hand over work whose rows are already committed; False (logged) if the broker refused it.

        For callers that must not fail after a commit: the scheduler tick finds
        the committed work and hands it over again, so nothing is lost.
        """
        try:
            self.submit(task, *args)
            return True
        except Exception:  # the broker's errors vary by transport (kombu, redis, amqp); all mean "not now"
            log.warning("could not hand %s to the broker; the scheduler tick will pick it up", task, exc_info=True)
            return False

    def close(self) -> None:
        if "step_senders" in self.__dict__:
            self.step_senders.shutdown(wait=True)
            del self.__dict__["step_senders"]
        if "channels" in self.__dict__:
            self.channels.close()
        self.engine.dispose()


def build_runtime(settings: Settings) -> Runtime:
    engine = make_engine(settings.database_url)
    sessions = make_session_factory(engine)
    clock: Clock = DatabaseClock(sessions, make_session_factory(engine, read_only=True)) if settings.clock == "database" else SystemClock()
    return Runtime(settings=settings, engine=engine, sessions=sessions, clock=clock)


def freeze_start_up_objects() -> None:
    """Put what start-up made (modules, mappers, the app) out of the garbage collector's
    reach, once a serving process is ready (`pulse run`, a `pulse worker` pool process).

    A full collection walks every tracked object: over the start-up heap that was 30–180 ms
    of CPU in a `pulse run` or `pulse worker` process, every few seconds under load, and each
    one stalls the requests in flight (the answers' p99). Frozen objects are never walked again;
    only for processes that live long and build their app once (not tests: garbage that was
    frozen is never collected).
    """
    gc.collect()
    gc.freeze()
