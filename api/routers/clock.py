"""/v1/clock: read and move the database clock, so a staging team can rehearse a whole plan in minutes.

Only with ``PULSE_CLOCK=database`` and never in production: there, time is the
wall clock and this is a 403 (reading) or 409 (the clock is the system's).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, model_validator

from api.deps import Admin, RuntimeDep, SessionDep
from api.errors import ApiError
from dispatcher.runtime.clock import DatabaseClock
from dispatcher.runtime.core import Runtime

router = APIRouter(prefix="/v1/clock", tags=["operations"])
MAX_SPEED = 1_000_000.0


class ClockOut(BaseModel):
    now: datetime
    kind: str = Field(description="database (movable) or system (wall time)")
    speed: float = Field(description="virtual seconds per real second; 0 stands still, 1 is real time")
    movable: bool


class ClockIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    now: datetime | None = Field(default=None, description="jump to this moment (with a timezone)")
    advance_hours: float | None = Field(default=None, gt=0, le=24 * 366, description="or move forward this many hours")
    speed: float | None = Field(default=None, ge=0, le=MAX_SPEED, description="then let time run this fast (default: keep the speed)")

    @model_validator(mode="after")
    def _one_move(self) -> ClockIn:
        if self.now is not None and self.advance_hours is not None:
            raise ValueError("give either now or advance_hours, not both")
        if self.now is not None and self.now.tzinfo is None:
            raise ValueError("now needs a timezone, e.g. 2026-12-01T09:00:00Z")
        return self


def _refuse_in_production(runtime: Runtime) -> None:
    if runtime.settings.environment == "production":
        raise ApiError(403, "clock_not_available", "the clock cannot be read or moved through the API in production")


def _state(runtime: Runtime) -> ClockOut:
    clock = runtime.clock
    if isinstance(clock, DatabaseClock):
        return ClockOut(now=clock.now(), kind="database", speed=clock.speed(), movable=True)
    return ClockOut(now=clock.now(), kind="system", speed=1.0, movable=False)


@router.get("", response_model=ClockOut, summary="The time Pulse works by (admins; not in production)")
def read_clock(runtime: RuntimeDep, _: Admin) -> ClockOut:
    _refuse_in_production(runtime)
    return _state(runtime)


@router.put("", response_model=ClockOut, summary="Move the database clock (admins; staging and tests, never production)")
def move_clock(body: ClockIn, runtime: RuntimeDep, session: SessionDep, _: Admin) -> ClockOut:
    _refuse_in_production(runtime)
    session.commit()  # end the key check's transaction: on SQLite it holds the write lock the clock needs
    clock = runtime.clock
    if not isinstance(clock, DatabaseClock):
        raise ApiError(409, "clock_not_movable", "Pulse runs on the system clock; start it with PULSE_CLOCK=database to move time")
    speed = clock.speed() if body.speed is None else body.speed
    if body.now is not None:
        clock.set(body.now, speed=speed)
    elif body.advance_hours is not None:
        clock.set(clock.now() + timedelta(hours=body.advance_hours), speed=speed)
    else:
        clock.set(clock.now(), speed=speed)
    return _state(runtime)
