"""Sending hours that run to midnight: an end of "24:00" leaves no minute of the day shut."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from campaigns.programs.window import SendingWindow, WindowError

ALL_WEEK = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
LAST_MINUTE = datetime(2026, 11, 28, 22, 59, 30, tzinfo=UTC)  # 23:59:30 in Berlin


def test_a_window_to_24_00_is_open_in_the_last_minute_of_the_day() -> None:
    window = SendingWindow.parse({"start": "00:00", "end": "24:00", "days": ALL_WEEK})
    assert window.contains(LAST_MINUTE, "Europe/Berlin")
    assert window.next_open(LAST_MINUTE, "Europe/Berlin") == LAST_MINUTE
    assert window.hours == "00:00–24:00"


def test_a_window_to_23_59_is_shut_in_that_minute_and_opens_at_midnight() -> None:
    window = SendingWindow.parse({"start": "00:00", "end": "23:59", "days": ALL_WEEK})
    assert not window.contains(LAST_MINUTE, "Europe/Berlin")
    assert window.next_open(LAST_MINUTE, "Europe/Berlin") == datetime(2026, 11, 28, 23, 0, tzinfo=UTC)
    assert window.hours == "00:00–23:59"


def test_24_00_ends_a_window_on_its_own_days_only() -> None:
    window = SendingWindow.parse({"start": "20:00", "end": "24:00", "days": ["sat"]})
    assert window.contains(LAST_MINUTE, "Europe/Berlin")  # Saturday 23:59 in Berlin
    assert not window.contains(datetime(2026, 11, 29, 23, 30, tzinfo=UTC), "Europe/Berlin")  # Monday 00:30


def test_24_00_does_not_start_a_window() -> None:
    with pytest.raises(WindowError) as refused:
        SendingWindow.parse({"start": "24:00", "end": "24:00"})
    assert refused.value.field == "sending_window.start"
