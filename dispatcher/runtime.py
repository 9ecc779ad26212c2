"""What a running Pulse process holds: settings, database, clock.

Built once where a process starts (API, worker, beat, CLI command) from the
settings; passed down explicitly, never found through globals.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from campaigns.db import make_engine, make_session_factory
from dispatcher.clock import Clock, DatabaseClock, SystemClock
from dispatcher.settings import Settings


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    clock: Clock
    extras: dict[str, Any] = field(default_factory=dict)

    def close(self) -> None:
        self.engine.dispose()


def build_runtime(settings: Settings) -> Runtime:
    engine = make_engine(settings.database_url)
    sessions = make_session_factory(engine)
    clock: Clock = DatabaseClock(sessions) if settings.clock == "database" else SystemClock()
    return Runtime(settings=settings, engine=engine, sessions=sessions, clock=clock)
