"""The execution plan: which steps a campaign takes, and when, relative to the invite (T).

A plan is a list of steps, each ``{"step": name, "offset_days": d}``; steps that
happen "at close" (thank_you, summary) take no offset. Checked as a whole: steps
in their natural order, reminders between invite and close, one of each step
except reminders.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from campaigns.people.fields import FieldError

MAX_OFFSET_DAYS = 366
ORDER = ("kickoff", "pre_notice", "invite", "reminder", "close")
AT_CLOSE = ("thank_you", "summary")
INTERNAL = ("kickoff", "summary")
KNOWN = ORDER + AT_CLOSE

DEFAULT_PLAN: list[dict[str, Any]] = [
    {"step": "kickoff", "offset_days": -5},
    {"step": "pre_notice", "offset_days": -3},
    {"step": "invite", "offset_days": 0},
    {"step": "reminder", "offset_days": 3},
    {"step": "reminder", "offset_days": 7},
    {"step": "thank_you"},
    {"step": "close", "offset_days": 14},
    {"step": "summary"},
]
CONTINUOUS_PLAN: list[dict[str, Any]] = [
    {"step": "invite", "offset_days": 0},
    {"step": "reminder", "offset_days": 3},
    {"step": "thank_you"},
    {"step": "close", "offset_days": 10},
]


class PlanError(FieldError):
    """A bad plan setting; names the field."""


@dataclass(frozen=True)
class ScheduledStep:
    key: str  # unique within the campaign wave: reminder_2
    step: str  # the type: reminder
    offset: timedelta
    number: int = 0
    final: bool = False

    def due(self, send_at: datetime) -> datetime:
        return send_at + self.offset


def check_plan(plan: Sequence[dict[str, Any]], field: str = "plan") -> list[ScheduledStep]:
    """The plan's steps in order with their offsets; raises ``PlanError`` naming the bad entry."""
    if not plan:
        raise PlanError(field, "a plan needs at least an invite and a close")
    seen: dict[str, int] = {}
    offsets: list[tuple[str, float, int]] = []
    close_offset: float | None = None
    for index, entry in enumerate(plan):
        where = f"{field}[{index}]"
        name = entry.get("step")
        if name not in KNOWN:
            raise PlanError(f"{where}.step", f"unknown step {name!r}; steps are {', '.join(KNOWN)}")
        if name != "reminder" and name in seen:
            raise PlanError(f"{where}.step", f"{name} appears twice; only reminders repeat")
        seen[name] = seen.get(name, 0) + 1
        offset = entry.get("offset_days")
        if name in AT_CLOSE:
            if offset is not None:
                raise PlanError(f"{where}.offset_days", f"{name} happens at close and takes no offset")
            continue
        if not isinstance(offset, (int, float)) or isinstance(offset, bool) or not math.isfinite(offset):
            raise PlanError(f"{where}.offset_days", f"{name} needs a number of days from the invite")
        if abs(offset) > MAX_OFFSET_DAYS:
            raise PlanError(f"{where}.offset_days", f"{offset:g} days is more than a year from the invite")
        if name == "invite" and offset != 0:
            raise PlanError(f"{where}.offset_days", "the invite is day 0 (T); other offsets count from it")
        if name == "close":
            close_offset = float(offset)
        offsets.append((name, float(offset), index))
    for required in ("invite", "close"):
        if required not in seen:
            raise PlanError(field, f"the plan has no {required} step")
    for name, offset, index in offsets:
        if name == "reminder" and close_offset is not None and offset >= close_offset:
            raise PlanError(f"{field}[{index}].offset_days", f"a reminder on day {offset:g} is not before close (day {close_offset:g})")
    previous_rank, previous_offset = -1, float("-inf")
    for name, offset, index in offsets:
        rank = ORDER.index(name)
        if rank < previous_rank or offset <= previous_offset:
            raise PlanError(f"{field}[{index}].offset_days", f"{name} on day {offset:g} is out of order; steps go {' < '.join(ORDER)}")
        previous_rank, previous_offset = rank, offset
    return _scheduled(offsets, close_offset or 0.0, seen)


def _scheduled(offsets: list[tuple[str, float, int]], close: float, seen: dict[str, int]) -> list[ScheduledStep]:
    steps: list[ScheduledStep] = []
    reminders = seen.get("reminder", 0)
    number = 0
    for name, offset, _ in offsets:
        if name == "reminder":
            number += 1
            steps.append(ScheduledStep(f"reminder_{number}", "reminder", timedelta(days=offset), number, number == reminders))
        else:
            steps.append(ScheduledStep(name, name, timedelta(days=offset)))
    for name in AT_CLOSE:
        if name in seen:
            # At close, just after the close step itself, in the order of the plan's table.
            steps.append(ScheduledStep(name, name, timedelta(days=close)))
    return steps
