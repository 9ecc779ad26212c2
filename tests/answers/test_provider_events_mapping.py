"""What provider events mean, and the one order message states move in (pure functions)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from campaigns.events.outcomes import Outcome, sendgrid_outcome, twilio_outcome
from campaigns.events.progress import (
    AFTER_SEND,
    PROGRESS,
    allowed_from,
    furthest,
    levels_reached,
    may_move,
    rank,
)

STATES = ("queued", "sending", "retrying", "skipped", "unknown", "failed", *PROGRESS)


@pytest.mark.parametrize(("event", "expected"), [
    ({"event": "processed"}, Outcome(target="sent")),
    ({"event": "deferred", "response": "400 try again later"}, Outcome(detail="400 try again later")),
    ({"event": "delivered", "response": "250 OK"}, Outcome(target="delivered", detail="250 OK")),
    ({"event": "open"}, Outcome(target="opened")),
    ({"event": "open", "sg_machine_open": True}, Outcome(target="delivered")),
    ({"event": "click", "url": "https://pulse.test/r/x"}, Outcome(target="clicked", detail="https://pulse.test/r/x")),
    ({"event": "bounce", "type": "bounce", "status": "5.1.1", "reason": "no such user"},
     Outcome(target="failed", suppress="bounced", bounced=True, error_code="5.1.1", detail="no such user")),
    ({"event": "bounce", "type": "blocked", "status": "5.7.1", "reason": "spam content"},
     Outcome(target="failed", suppress=None, bounced=True, error_code="5.7.1", detail="spam content")),
    ({"event": "dropped", "reason": "Bounced Address"}, Outcome(target="failed", suppress="bounced", bounced=True, error_code="dropped", detail="Bounced Address")),
    ({"event": "dropped", "reason": "Unsubscribed Address"}, Outcome(target="failed", suppress="unsubscribed", error_code="dropped", detail="Unsubscribed Address")),
    ({"event": "dropped", "reason": "Spam Reporting Address"}, Outcome(target="failed", suppress="spam_report", error_code="dropped", detail="Spam Reporting Address")),
    ({"event": "dropped", "reason": "Invalid SMTPAPI header"}, Outcome(target="failed", error_code="dropped", detail="Invalid SMTPAPI header")),
    ({"event": "spamreport"}, Outcome(suppress="spam_report")),
    ({"event": "unsubscribe"}, Outcome(suppress="unsubscribed")),
    ({"event": "group_unsubscribe", "asm_group_id": 7}, Outcome(suppress="unsubscribed")),
    ({"event": "group_resubscribe"}, Outcome()),
    ({"event": "something_new"}, Outcome()),
])
def test_sendgrid_events(event: dict[str, object], expected: Outcome) -> None:
    assert sendgrid_outcome(event) == expected


@pytest.mark.parametrize(("status", "code", "target", "suppress"), [
    ("queued", None, None, None), ("accepted", None, None, None), ("sending", None, None, None),
    ("sent", None, "sent", None), ("delivered", None, "delivered", None), ("read", None, "opened", None),
    ("undelivered", "30003", "failed", None),  # the handset was off: try another day
    ("undelivered", "30005", "failed", "bounced"),  # the number does not exist
    ("failed", "30006", "failed", "bounced"),  # a landline
    ("failed", "21610", "failed", "opted_out"),  # replied STOP to this sender
    ("failed", None, "failed", None),
])
def test_twilio_statuses(status: str, code: str | None, target: str | None, suppress: str | None) -> None:
    outcome = twilio_outcome(status, code)
    assert (outcome.target, outcome.suppress) == (target, suppress)
    if target == "failed":
        assert outcome.bounced and outcome.error_code == (code or status)


def test_messages_move_forward_only() -> None:
    assert may_move("sent", "delivered") and may_move("delivered", "clicked") and may_move("unknown", "delivered")
    assert not may_move("delivered", "sent") and not may_move("clicked", "opened") and not may_move("answered", "clicked")


def test_failed_is_terminal_and_may_follow_delivery_but_not_engagement() -> None:
    assert may_move("sent", "failed") and may_move("delivered", "failed")  # an asynchronous bounce
    assert not may_move("opened", "failed") and not may_move("answered", "failed")
    assert not any(may_move("failed", target) for target in (*PROGRESS, "failed"))


def test_nothing_moves_a_message_that_is_not_sent_yet() -> None:
    for state in ("queued", "sending", "retrying", "skipped"):
        assert not any(may_move(state, target) for target in (*PROGRESS, "failed"))


@given(st.lists(st.sampled_from([*PROGRESS, "failed"]), max_size=12), st.sampled_from(AFTER_SEND))
def test_any_sequence_of_events_only_ever_moves_forward(events: list[str], start: str) -> None:
    state = start
    for target in events:
        if may_move(state, target):
            assert state in allowed_from(target) and state != "failed"
            assert target == "failed" or rank(target) > rank(state)
            state = target
    assert state == start or state in events


def test_the_levels_a_move_reaches_depend_on_the_medium() -> None:
    assert levels_reached("sent", "clicked", "email") == ("delivered", "opened", "clicked")
    assert levels_reached("opened", "clicked", "email") == ("clicked",)
    assert levels_reached("sent", "answered", "sms") == ("delivered", "answered")
    assert levels_reached("delivered", "answered", "sms") == ("answered",)
    assert levels_reached("sent", "failed", "email") == ()
    assert all(state in STATES for state in AFTER_SEND)


@given(st.lists(st.sampled_from([*PROGRESS, "failed"]), max_size=8), st.sampled_from(STATES), st.randoms())
def test_a_batch_of_events_settles_the_same_in_any_order_and_only_forward(events: list[str], start: str, random: object) -> None:
    shuffled = list(events)
    random.shuffle(shuffled)  # type: ignore[attr-defined]
    settled = furthest(start, events)
    assert furthest(start, shuffled) == settled
    assert settled.state == start or may_move(start, settled.state) or (settled.state == "failed" and may_move(settled.reached, "failed"))
    assert settled.state in (start, settled.reached, "failed")


def test_a_batch_settles_progress_first_then_a_failure_if_one_may_still_follow() -> None:
    assert furthest("sent", ["failed", "delivered"]) == ("failed", "delivered", False)  # delivered, then bounced
    assert furthest("sent", ["failed", "clicked"]) == ("clicked", "clicked", True)  # a click proves receipt
    assert furthest("answered", ["delivered", "sent", "failed"]) == ("answered", "answered", True)
    assert furthest("failed", ["opened"]) == ("failed", "failed", False)
    assert furthest("sending", ["delivered"]) == ("sending", "sending", False)
