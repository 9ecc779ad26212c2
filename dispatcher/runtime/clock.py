"""All of Pulse's time comes from one clock.

``SystemClock`` is wall time. ``DatabaseClock`` keeps virtual time in the
database, so every process (API, Celery workers, beat) sees the same moment:
tests move it forward without sleeping, and ``pulse run --demo`` runs it fast.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol

from sqlalchemy.orm import Session, sessionmaker

from campaigns.timekeeping import ClockState


def utcnow() -> datetime:
    return datetime.now(UTC)


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return utcnow()


class DatabaseClock:
    """Virtual time shared through the ``clock_state`` row (created on first use)."""

    def __init__(self, sessions: sessionmaker[Session], reads: sessionmaker[Session] | None = None) -> None:
        self._sessions = sessions
        # Reading the time happens inside other transactions: a read-only session
        # never waits for (or blocks) a writer.
        self._reads = reads or sessions

    def now(self) -> datetime:
        with self._reads() as session:
            state = session.get(ClockState, 1)
            if state is None:
                return utcnow()
            return state.virtual_at + (utcnow() - state.real_at) * state.speed

    def speed(self) -> float:
        """Virtual seconds per real second (0 when the clock stands still)."""
        with self._reads() as session:
            state = session.get(ClockState, 1)
            return state.speed if state else 1.0

    def set(self, moment: datetime, *, speed: float = 0.0) -> None:
        """Jump to ``moment``; with ``speed`` > 0, virtual time then runs that many times faster."""
        with self._sessions() as session, session.begin():
            state = session.get(ClockState, 1, with_for_update=True)
            if state is None:
                state = ClockState(id=1, virtual_at=moment, real_at=utcnow(), speed=speed)
                session.add(state)
            state.virtual_at = moment
            state.real_at = utcnow()
            state.speed = speed

    def advance(self, delta: timedelta) -> datetime:
        with self._reads() as session:
            state = session.get(ClockState, 1)
            speed = state.speed if state else 0.0
        moment = self.now() + delta
        self.set(moment, speed=speed)
        return moment
