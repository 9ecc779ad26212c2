"""Sending hours: when, in the contact's own timezone, a message may go out."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from campaigns.people.fields import FieldError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DEFAULT_WINDOW: dict[str, Any] = {"start": "09:00", "end": "18:00", "days": list(DAYS[:5])}
# An end of "24:00" keeps the window open to midnight; "23:59" would shut it for the day's last minute,
# and a first campaign launched then would wait with "outside sending hours (00:00–23:59)".
END_OF_DAY = time.max


class WindowError(FieldError):
    """A bad sending window setting; names the field."""


@dataclass(frozen=True)
class SendingWindow:
    start: time
    end: time
    days: frozenset[int]  # 0 = Monday

    @classmethod
    def parse(cls, value: dict[str, Any], field: str = "sending_window") -> SendingWindow:
        start = _hour(value.get("start", "09:00"), f"{field}.start")
        end = _hour(value.get("end", "18:00"), f"{field}.end", may_be_midnight=True)
        if end <= start:
            raise WindowError(f"{field}.end", f"must be after start ({value.get('start')}); windows do not span midnight")
        days = value.get("days", DEFAULT_WINDOW["days"])
        if not isinstance(days, list) or not days:
            raise WindowError(f"{field}.days", "must list at least one day, e.g. [\"mon\", \"tue\"]")
        numbers = set()
        for day in days:
            if not isinstance(day, str) or day.lower()[:3] not in DAYS:
                raise WindowError(f"{field}.days", f"{day!r} is not a day; use mon, tue, wed, thu, fri, sat, sun")
            numbers.add(DAYS.index(day.lower()[:3]))
        return cls(start, end, frozenset(numbers))

    @property
    def hours(self) -> str:
        """The sending hours as people write them: "09:00–18:00", "00:00–24:00"."""
        end = "24:00" if self.end == END_OF_DAY else f"{self.end:%H:%M}"
        return f"{self.start:%H:%M}–{end}"

    def contains(self, moment: datetime, timezone: str) -> bool:
        local = moment.astimezone(ZoneInfo(timezone))
        return local.weekday() in self.days and self._open_at(local.time())

    def _open_at(self, moment: time) -> bool:
        return self.start <= moment and (moment < self.end or self.end == END_OF_DAY)

    def next_open(self, moment: datetime, timezone: str) -> datetime:
        """``moment`` if the window is open then, else the next opening, in UTC-aware form."""
        zone = ZoneInfo(timezone)
        local = moment.astimezone(zone)
        if local.weekday() in self.days and self._open_at(local.time()):
            return moment
        day = local.date()
        if local.time() >= self.start:
            day += timedelta(days=1)
        for _ in range(8):
            if day.weekday() in self.days:
                # fold=0 and zoneinfo pick a real instant even on DST change days.
                opening = datetime.combine(day, self.start, tzinfo=zone)
                if opening > moment:
                    return opening.astimezone(moment.tzinfo)
            day += timedelta(days=1)
        raise AssertionError("a window with at least one day always opens within a week")


def _hour(value: Any, field: str, *, may_be_midnight: bool = False) -> time:
    if not isinstance(value, str):
        raise WindowError(field, "must be a time such as \"09:00\"")
    if may_be_midnight and value.strip() == "24:00":
        return END_OF_DAY
    try:
        hours, minutes = value.split(":")
        return time(int(hours), int(minutes))
    except ValueError:
        raise WindowError(field, f"{value!r} is not a time of day such as \"09:00\"") from None
