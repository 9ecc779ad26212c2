"""SendGrid event batches applied as a set: duplicates, strangers, any order, late sends, concurrent batches."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from campaigns.events.models import EngagementCounter, ProviderEvent
from campaigns.programs.models import Message, Suppression
from channels.base import SendResult
from dispatcher.answers.provider_events import apply_pending_events, receive_sendgrid_events
from dispatcher.runtime.core import Runtime
from dispatcher.sending.outcomes import record_results
from tests.answers.fixtures_events import (
    copy_message,
    email_survey,
    invites,
    post_events,
    sendgrid_event,
    webhook_settings,  # noqa: F401  (overrides `settings` in this module)
)
from tests.backends import Backend


def message(runtime: Runtime, message_id: int) -> Message:
    with runtime.sessions() as session:
        found = session.get(Message, message_id)
        assert found is not None
        return found


def counted(runtime: Runtime, contact_id: int | None) -> tuple[int, int, int, int]:
    """(delivered, opened, clicked, bounced) of the contact's email counters."""
    with runtime.sessions() as session:
        row = session.get(EngagementCounter, (contact_id, "email"))
        return (row.delivered, row.opened, row.clicked, row.bounced) if row else (0, 0, 0, 0)


def kept(runtime: Runtime) -> list[tuple[str, int | None, bool]]:
    with runtime.sessions() as session:
        return sorted((e.event_id, e.message_id, e.pending) for e in session.scalars(select(ProviderEvent).where(ProviderEvent.provider == "sendgrid")))


def test_an_event_twice_in_one_batch_is_kept_once_and_counts_once(runtime: Runtime, client: TestClient) -> None:
    [invite] = invites(runtime, email_survey(runtime, 1))
    batch = [sendgrid_event(invite, "open", "o1"), sendgrid_event(invite, "open", "o1"), sendgrid_event(invite, "open", "o2"),
             sendgrid_event(invite, "click", "c1"), sendgrid_event(invite, "click", "c1")]

    assert post_events(client, batch).json() == {"received": 5, "new": 3, "ignored": 0}

    assert message(runtime, invite.id).state == "clicked"
    assert counted(runtime, invite.contact_id) == (1, 1, 1, 0)  # a thousand opens of one email count once
    assert [event_id for event_id, _, _ in kept(runtime)] == ["c1", "o1", "o2"]


def test_events_for_messages_that_are_not_ours_are_kept_and_move_nothing(runtime: Runtime, client: TestClient) -> None:
    [invite] = invites(runtime, email_survey(runtime, 1))
    stranger = {**sendgrid_event(invite, "delivered", "u1"), "pulse_message_id": str(invite.id + 1000), "sg_message_id": "nobody.filter0"}
    ghost = {**sendgrid_event(invite, "bounce", "u2", type="bounce", reason="no such user"), "email": "ghost@example.com"}
    del ghost["pulse_message_id"]

    assert post_events(client, [stranger, ghost]).json() == {"received": 2, "new": 2, "ignored": 0}

    assert message(runtime, invite.id).state == "sent"
    assert kept(runtime) == [("u1", None, False), ("u2", None, False)]
    with runtime.sessions() as session:  # the address itself bounced: it is suppressed all the same
        assert session.scalars(select(Suppression.address)).all() == ["ghost@example.com"]


@pytest.mark.parametrize("ids", [("a", "b"), ("b", "a")], ids=["bounce-first", "bounce-last"])
def test_a_message_settles_the_same_whatever_the_order_of_its_events(runtime: Runtime, client: TestClient, ids: tuple[str, str]) -> None:
    delivered_then_bounced, clicked_then_bounced, opened = invites(runtime, email_survey(runtime, 3))
    bounce, other = ids
    bounced = {"type": "bounce", "status": "5.1.1", "reason": "mailbox gone"}
    post_events(client, [
        sendgrid_event(delivered_then_bounced, "bounce", f"1{bounce}", **bounced), sendgrid_event(delivered_then_bounced, "delivered", f"1{other}"),
        sendgrid_event(clicked_then_bounced, "bounce", f"2{bounce}", **bounced), sendgrid_event(clicked_then_bounced, "click", f"2{other}"),
        sendgrid_event(opened, "open", f"3{bounce}"), sendgrid_event(opened, "processed", f"3{other}"),
    ])

    failed = message(runtime, delivered_then_bounced.id)
    assert (failed.state, failed.error_code, failed.error_text) == ("failed", "5.1.1", "mailbox gone")
    assert counted(runtime, delivered_then_bounced.contact_id) == (1, 0, 0, 1)
    clicked = message(runtime, clicked_then_bounced.id)
    assert (clicked.state, clicked.error_code) == ("clicked", "5.1.1")  # a click proves receipt; the bounce stays visible
    assert counted(runtime, clicked_then_bounced.contact_id) == (1, 1, 1, 0)
    assert message(runtime, opened.id).state == "opened"


def test_events_for_an_email_still_being_sent_wait_for_its_send(runtime: Runtime, client: TestClient) -> None:
    [invite] = invites(runtime, email_survey(runtime, 1))
    sending = copy_message(runtime, invite, state="sending", provider_message_id=None)

    assert post_events(client, [sendgrid_event(sending, "delivered", "p1"), sendgrid_event(sending, "open", "p2")]).json()["new"] == 2
    assert message(runtime, sending.id).state == "sending"  # the send's own result is not recorded yet
    assert kept(runtime) == [("p1", sending.id, True), ("p2", sending.id, True)]

    record_results(runtime, [SendResult(message_id=str(sending.id), provider_message_id="sg-late")])
    assert apply_pending_events(runtime) == 2
    assert message(runtime, sending.id).state == "opened"
    assert kept(runtime) == [("p1", sending.id, False), ("p2", sending.id, False)]
    assert apply_pending_events(runtime) == 0
    assert counted(runtime, sending.contact_id)[:2] == (1, 1)


ROUNDS = 12


def test_overlapping_batches_applied_at_once_neither_deadlock_nor_count_twice(runtime: Runtime, backend: Backend) -> None:
    if not backend.is_postgres:
        pytest.skip("concurrent writers need PostgreSQL; SQLite takes one writer at a time")
    messages = invites(runtime, email_survey(runtime, 40))
    extra = copy_message(runtime, messages[-1], state="queued", step="reminder")  # skipped by the unsubscribe below

    def batch(round_number: int, part: list[Message], reverse: bool) -> list[dict[str, Any]]:
        found = [sendgrid_event(m, name, f"{round_number}-{m.id}-{name}") for m in part for name in ("delivered", "open", "click", "processed", "deferred")]
        found.append(sendgrid_event(messages[-1], "unsubscribe", f"{round_number}-unsub"))
        return found[::-1] if reverse else found

    errors: list[Exception] = []
    start = threading.Barrier(4)

    def apply(events: list[dict[str, Any]]) -> None:
        try:
            with runtime.sessions() as session:
                start.wait(30)
                receive_sendgrid_events(runtime, session, events, now=runtime.clock.now())
                session.commit()
        except Exception as exc:  # noqa: BLE001 - reported below, in the test's thread
            errors.append(exc)

    for round_number in range(ROUNDS):  # each round: four batches sharing events, two of them in reverse order
        parts = [(messages[:30], False), (messages[10:], True), (messages[5:35], True), (messages, False)]
        threads = [threading.Thread(target=apply, args=(batch(round_number, part, reverse),)) for part, reverse in parts]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    assert errors == []

    assert {message(runtime, m.id).state for m in messages} == {"clicked"}
    assert {counted(runtime, m.contact_id) for m in messages} == {(1, 1, 1, 0)}
    with runtime.sessions() as session:
        assert session.scalar(select(func.count()).select_from(ProviderEvent)) == ROUNDS * (5 * len(messages) + 1)
    reminder = message(runtime, extra.id)
    assert (reminder.state, reminder.skip_rule) == ("skipped", "suppressed")


def test_each_event_keeps_when_the_provider_says_it_happened(runtime: Runtime, client: TestClient) -> None:
    [invite] = invites(runtime, email_survey(runtime, 1))
    post_events(client, [sendgrid_event(invite, "delivered", "d1", timestamp=1772443800), sendgrid_event(invite, "open", "o1", timestamp=1772443861)])
    with runtime.sessions() as session:
        times = dict(session.execute(select(ProviderEvent.event_id, ProviderEvent.occurred_at).where(ProviderEvent.provider == "sendgrid")).all())
    assert {key: value.timestamp() if value is not None else None for key, value in times.items()} == {"d1": 1772443800, "o1": 1772443861}
