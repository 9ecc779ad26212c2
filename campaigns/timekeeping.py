"""The shared, movable clock row used by tests and the demo (see dispatcher.runtime.clock)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float
from sqlalchemy.orm import Mapped, mapped_column

from campaigns.db import Base, UtcDateTime


class ClockState(Base):
    """Virtual time = ``virtual_at + (real now - real_at) * speed``; speed 0 stands still."""

    __tablename__ = "clock_state"

    id: Mapped[int] = mapped_column(primary_key=True)
    virtual_at: Mapped[datetime] = mapped_column(UtcDateTime)
    real_at: Mapped[datetime] = mapped_column(UtcDateTime)
    speed: Mapped[float] = mapped_column(Float, default=0.0)
