"""SendGrid events and Twilio status callbacks: forward-only state, deduplication, counters, suppressions."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from campaigns.events.models import EngagementCounter, ProviderEvent
from campaigns.events.progress import rank
from campaigns.programs.models import Message, Suppression
from channels.base import SendResult
from dispatcher.answers.provider_events import apply_pending_events
from dispatcher.runtime.core import Runtime
from dispatcher.sending.outcomes import record_results
from tests import factories
from tests.answers.fixtures_events import (
    copy_message,
    email_survey,
    invites,
    message_sid,
    post_events,
    post_status,
    sendgrid_event,
    sms_survey,
    webhook_settings,  # noqa: F401  (overrides `settings` in this module)
)

DB_EXAMPLES = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def state_of(runtime: Runtime, message_id: int) -> Message:
    with runtime.sessions() as session:
        message = session.get(Message, message_id)
        assert message is not None
        return message


def counters(runtime: Runtime, contact_id: int | None, medium: str) -> dict[str, int]:
    with runtime.sessions() as session:
        row = session.get(EngagementCounter, (contact_id, medium))
        return {k: getattr(row, k) if row else 0 for k in ("delivered", "opened", "clicked", "answered", "bounced")}


def suppressed(runtime: Runtime) -> set[tuple[str, str, str]]:
    with runtime.sessions() as session:
        return {(s.medium, s.address, s.reason) for s in session.scalars(select(Suppression))}


def fresh_contact_message(runtime: Runtime, original: Message, **values: Any) -> Message:
    with runtime.sessions() as session:
        contact = factories.contact(session, phone=None)
        session.commit()
        return copy_message(runtime, original, contact_id=contact.id, **values)


# -- Twilio ---------------------------------------------------------------------------

TERMINALS = [("delivered", None, "delivered"), ("undelivered", "30003", "failed"), ("failed", "30005", "failed")]


@DB_EXAMPLES
@given(data=st.data())
def test_twilio_callbacks_in_any_order_change_the_state_once_each_and_end_terminal(runtime: Runtime, client: TestClient, data: st.DataObject) -> None:
    if not runtime.extras.get("sms_invite"):
        runtime.extras["sms_invite"] = invites(runtime, sms_survey(runtime, ["+14155550110"]))[0]
    status, code, final = data.draw(st.sampled_from(TERMINALS))
    sid = message_sid()
    message = fresh_contact_message(runtime, runtime.extras["sms_invite"], provider_message_id=sid, recipient=f"+1415555{next_number()}")
    order = data.draw(st.permutations(["queued", "sent", status]))
    redelivered = data.draw(st.lists(st.sampled_from(order), max_size=3))

    seen: set[str] = set()
    for callback in order + redelivered:
        before = state_of(runtime, message.id).state
        response = post_status(client, message.id, sid, callback, error_code=code if callback == status else None, to=message.recipient or "")
        assert response.status_code == 204
        after = state_of(runtime, message.id).state
        if callback in seen or before == "failed":
            assert after == before  # a redelivery, or a late event after the end, changes nothing
        elif after != before:
            assert after == "failed" or rank(after) > rank(before)  # forward only
        seen.add(callback)

    ended = state_of(runtime, message.id)
    assert ended.state == final
    if final == "failed":
        assert ended.error_code == code
    with runtime.sessions() as session:
        assert session.scalar(select(func.count()).select_from(ProviderEvent).where(ProviderEvent.event_id.like(f"{sid}:%"))) == 3
    assert counters(runtime, message.contact_id, "sms") == {
        "delivered": int(final == "delivered"), "opened": 0, "clicked": 0, "answered": 0, "bounced": int(final == "failed"),
    }
    assert (("sms", message.recipient, "bounced") in suppressed(runtime)) == (code == "30005")


_numbers = iter(range(100000, 999999))


def next_number() -> int:
    return next(_numbers)


def test_a_stop_reported_by_twilio_suppresses_the_number(runtime: Runtime, client: TestClient) -> None:
    [invite] = invites(runtime, sms_survey(runtime, ["+14155550111"]))
    sid = message_sid()
    message = copy_message(runtime, invite, provider_message_id=sid)

    post_status(client, message.id, sid, "failed", error_code="21610", to="+14155550111")

    assert suppressed(runtime) == {("sms", "+14155550111", "opted_out")}


def test_a_callback_whose_message_id_is_no_id_is_matched_by_its_sid(runtime: Runtime, client: TestClient) -> None:
    """Digits to ``str.isdigit`` that no id column holds ("²", 5,000 nines, 2^40): were a 500."""
    [invite] = invites(runtime, sms_survey(runtime, ["+14155550113"]))
    sids = [message_sid() for _ in range(3)]
    messages = [copy_message(runtime, invite, provider_message_id=sid) for sid in sids]

    for message, sid, number in zip(messages, sids, ("%C2%B2", "9" * 5000, str(2**40)), strict=True):
        assert post_status(client, number, sid, "delivered", to=message.recipient or "").status_code == 204
        assert state_of(runtime, message.id).state == "delivered"


def test_a_callback_that_arrives_while_the_message_is_being_sent_waits_for_the_send(runtime: Runtime, client: TestClient) -> None:
    [invite] = invites(runtime, sms_survey(runtime, ["+14155550112"]))
    sid = message_sid()
    message = copy_message(runtime, invite, state="sending", provider_message_id=None)

    assert post_status(client, message.id, sid, "delivered").status_code == 204
    assert state_of(runtime, message.id).state == "sending"  # the send's own result is not recorded yet

    record_results(runtime, [SendResult(message_id=str(message.id), provider_message_id=sid, segments=1)])
    assert state_of(runtime, message.id).state == "sent"
    assert apply_pending_events(runtime) == 1
    assert state_of(runtime, message.id).state == "delivered"
    assert apply_pending_events(runtime) == 0


# -- SendGrid -------------------------------------------------------------------------


@DB_EXAMPLES
@given(data=st.data())
def test_sendgrid_events_in_any_order_end_at_the_furthest_and_count_once(runtime: Runtime, client: TestClient, data: st.DataObject) -> None:
    if not runtime.extras.get("email_invite"):
        runtime.extras["email_invite"] = invites(runtime, email_survey(runtime, 1))[0]
    message = fresh_contact_message(runtime, runtime.extras["email_invite"])
    names = data.draw(st.permutations(["processed", "delivered", "open", "open", "click", "deferred"]))
    events = [sendgrid_event(message, name, f"{message.id}-{i}") for i, name in enumerate(names)]
    batches = data.draw(st.integers(1, len(events)))

    for start in range(0, len(events), batches):
        assert post_events(client, events[start:start + batches]).status_code == 200
    assert post_events(client, events).json()["new"] == 0  # the whole lot again

    assert state_of(runtime, message.id).state == "clicked"
    assert counters(runtime, message.contact_id, "email") == {"delivered": 1, "opened": 1, "clicked": 1, "answered": 0, "bounced": 0}


def _snapshot(runtime: Runtime) -> tuple[Any, ...]:
    with runtime.sessions() as session:
        return (
            sorted((m.id, m.state, m.error_code) for m in session.scalars(select(Message))),
            sorted((s.medium, s.address, s.reason) for s in session.scalars(select(Suppression))),
            sorted((c.contact_id, c.medium, c.delivered, c.opened, c.clicked, c.bounced) for c in session.scalars(select(EngagementCounter))),
            session.scalar(select(func.count()).select_from(ProviderEvent)),
        )


def test_the_same_sendgrid_batch_delivered_twice_changes_nothing_the_second_time(runtime: Runtime, client: TestClient) -> None:
    a, b, c, d, e, f, g, h = invites(runtime, email_survey(runtime, 8))
    batch = [
        sendgrid_event(a, "processed", "a1"), sendgrid_event(a, "delivered", "a2"), sendgrid_event(a, "open", "a3"), sendgrid_event(a, "click", "a4"),
        sendgrid_event(b, "bounce", "b1", type="bounce", status="5.1.1", reason="550 5.1.1 no such user"),
        sendgrid_event(c, "delivered", "c1"), sendgrid_event(c, "spamreport", "c2"),
        sendgrid_event(d, "delivered", "d1"), sendgrid_event(d, "unsubscribe", "d2"),
        sendgrid_event(e, "delivered", "e1"), sendgrid_event(e, "group_unsubscribe", "e2", asm_group_id=7),
        sendgrid_event(f, "dropped", "f1", reason="Bounced Address"),
        sendgrid_event(g, "deferred", "g1", response="451 try later", attempt="1"),
        sendgrid_event(h, "bounce", "h1", type="blocked", status="5.7.1", reason="blocked for content"),
    ]

    first = post_events(client, batch)
    after_first = _snapshot(runtime)
    second = post_events(client, batch)

    assert first.json() == {"received": 14, "new": 14, "ignored": 0} and second.json() == {"received": 14, "new": 0, "ignored": 0}
    assert _snapshot(runtime) == after_first
    states = {m.id: m.state for m in (state_of(runtime, x.id) for x in (a, b, c, d, e, f, g, h))}
    assert [states[x.id] for x in (a, b, c, d, e, f, g, h)] == ["clicked", "failed", "delivered", "delivered", "delivered", "failed", "sent", "failed"]
    assert state_of(runtime, b.id).error_text == "550 5.1.1 no such user"
    assert suppressed(runtime) == {
        ("email", b.recipient, "bounced"), ("email", c.recipient, "spam_report"), ("email", d.recipient, "unsubscribed"),
        ("email", e.recipient, "unsubscribed"), ("email", f.recipient, "bounced"),
    }
    assert counters(runtime, a.contact_id, "email")["clicked"] == 1
    assert counters(runtime, b.contact_id, "email")["bounced"] == 1
    assert counters(runtime, h.contact_id, "email")["bounced"] == 1  # blocked: a failure, but the address stays


def test_a_bounce_skips_the_messages_still_planned_for_that_address(runtime: Runtime, client: TestClient) -> None:
    [invite] = invites(runtime, email_survey(runtime, 1))
    planned = copy_message(runtime, invite, state="queued", step="reminder")

    post_events(client, [sendgrid_event(invite, "bounce", "x1", type="bounce", reason="no such user")])

    reminder = state_of(runtime, planned.id)
    assert (reminder.state, reminder.skip_rule) == ("skipped", "suppressed")
    assert (reminder.skip_reason or "").startswith("email: bounced for good")


def test_an_event_for_another_address_moves_no_message(runtime: Runtime, client: TestClient) -> None:
    [invite] = invites(runtime, email_survey(runtime, 1))

    post_events(client, [{**sendgrid_event(invite, "delivered", "y1"), "email": "someone.else@example.com"}])

    assert state_of(runtime, invite.id).state == "sent"


def test_an_event_without_our_custom_arg_is_matched_by_x_message_id_and_address(runtime: Runtime, client: TestClient) -> None:
    [invite] = invites(runtime, email_survey(runtime, 1))
    message = copy_message(runtime, invite, provider_message_id="LRzXl_NHStOGhQ4kofSm_A")
    event = sendgrid_event(message, "delivered", "z1")
    del event["pulse_message_id"]

    post_events(client, [event])

    assert state_of(runtime, message.id).state == "delivered"


def test_a_late_processed_or_delivered_never_undoes_an_answer(runtime: Runtime, client: TestClient, session: Session) -> None:
    [invite] = invites(runtime, email_survey(runtime, 1))
    session.execute(update(Message).where(Message.id == invite.id).values(state="answered"))
    session.commit()

    post_events(client, [sendgrid_event(invite, "delivered", "l1"), sendgrid_event(invite, "processed", "l2"), sendgrid_event(invite, "bounce", "l3")])

    assert state_of(runtime, invite.id).state == "answered"


def test_a_suppression_names_the_address_as_we_sent_it(runtime: Runtime, client: TestClient) -> None:
    [invite] = invites(runtime, email_survey(runtime, 1))
    assert invite.recipient is not None

    post_events(client, [{**sendgrid_event(invite, "spamreport", "s1"), "email": invite.recipient.upper()}])

    assert suppressed(runtime) == {("email", invite.recipient, "spam_report")}


def test_a_bounce_after_a_click_stays_visible_on_the_message(runtime: Runtime, client: TestClient) -> None:
    [invite] = invites(runtime, email_survey(runtime, 1))

    post_events(client, [sendgrid_event(invite, "click", "k1", url="https://pulse.test/r/x")])
    post_events(client, [sendgrid_event(invite, "bounce", "k2", type="bounce", status="5.1.1", reason="mailbox gone")])

    message = state_of(runtime, invite.id)
    assert message.state == "clicked"  # the engagement happened; it is not undone
    assert (message.error_code, message.error_text) == ("5.1.1", "mailbox gone")


def test_an_x_message_id_no_column_holds_matches_no_message(runtime: Runtime, client: TestClient) -> None:
    """Without our custom arg the event is matched by X-Message-Id; a NUL or a lone surrogate in it was a 500."""
    [invite] = invites(runtime, email_survey(runtime, 1))
    before = state_of(runtime, invite.id).state
    events = [{**sendgrid_event(invite, "open", f"x{n}"), "pulse_message_id": None, "sg_message_id": f"{bad}.filter0001"} for n, bad in enumerate(("a\x00b", "\ud800"))]

    response = post_events(client, events)

    assert response.status_code == 200, response.text
    assert response.json() == {"received": 2, "new": 2, "ignored": 0}
    assert state_of(runtime, invite.id).state == before


def test_one_bad_sendgrid_event_is_that_events_problem_not_the_batchs(runtime: Runtime, client: TestClient) -> None:
    [invite] = invites(runtime, email_survey(runtime, 1))
    [other] = invites(runtime, email_survey(runtime, 1))
    events: list[Any] = [
        "not an event", {"no": "name"},
        sendgrid_event(other, "bounce", "b1", type="bounce", status="5" * 500, reason="nul\x00 and \ud800"),
        {**sendgrid_event(other, "spamreport", "b2"), "email": "x" * 400 + "@example.com"},
        sendgrid_event(invite, "delivered", "d1", pulse_message_id="99999999999999999999"),
        sendgrid_event(invite, "open", "o1", reason="nul\x00"),
    ]

    response = post_events(client, events)

    assert response.status_code == 200, response.text
    assert response.json() == {"received": 6, "new": 4, "ignored": 2}
    assert state_of(runtime, invite.id).state == "opened"
    bounced = state_of(runtime, other.id)
    assert (bounced.state, bounced.error_code, bounced.error_text) == ("failed", "5" * 60, "nul and ?")
