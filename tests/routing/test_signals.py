"""Every signal is credited once to the message it belongs to, and so to that message's medium."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select

from campaigns.events.models import EngagementCounter
from campaigns.programs.models import Message
from dispatcher.runtime.core import Runtime
from tests.answers.fixtures_events import (
    email_survey,
    invites,
    message_sid,
    post_events,
    post_status,
    reply,
    sendgrid_event,
    sms_survey,
    webhook_settings,  # noqa: F401  (overrides `settings` in this module)
)

SIGNALS = ("sent", "delivered", "opened", "clicked", "answered", "dismissed", "bounced")


def evidence(runtime: Runtime, contact_id: int | None, medium: str) -> dict[str, float]:
    with runtime.sessions() as session:
        row = session.get(EngagementCounter, (contact_id, medium))
        assert row is not None
        return {**{s: getattr(row, s) for s in SIGNALS}, **{f"weight_{s}": getattr(row, f"weight_{s}") for s in ("sent", "opened", "clicked", "answered", "bounced")}}


def test_the_same_sendgrid_event_twice_counts_once(runtime: Runtime, client: TestClient) -> None:
    [message] = invites(runtime, email_survey(runtime, 1))
    before = evidence(runtime, message.contact_id, "email")
    events = [sendgrid_event(message, "open", "ev-open-1"), sendgrid_event(message, "click", "ev-click-1", url="https://pulse.test/r/x")]

    for _ in range(2):
        assert post_events(client, events).status_code == 200
        assert post_events(client, [events[1]]).status_code == 200

    after = evidence(runtime, message.contact_id, "email")
    assert (before["sent"], before["opened"], before["weight_opened"]) == (1, 0, 0)
    assert (after["sent"], after["delivered"], after["opened"], after["clicked"], after["answered"]) == (1, 1, 1, 1, 0)
    assert after["weight_opened"] == after["weight_clicked"] == before["weight_sent"]  # one event's weight each, at the same time


def test_a_bounce_is_a_failure_on_its_medium(runtime: Runtime, client: TestClient) -> None:
    [message] = invites(runtime, email_survey(runtime, 1))
    event = sendgrid_event(message, "bounce", "ev-bounce-1", type="bounce", status="5.1.1", reason="no such user")
    post_events(client, [event])
    post_events(client, [event])
    assert evidence(runtime, message.contact_id, "email")["bounced"] == 1


def test_an_sms_answer_is_credited_to_the_sms_it_replies_to(runtime: Runtime, client: TestClient) -> None:
    [message] = invites(runtime, sms_survey(runtime, ["+14155550177"]))
    reply(client, "+14155550177", "9")
    reply(client, "+14155550177", "because")
    with runtime.sessions() as session:
        stored = session.scalar(select(Message).where(Message.id == message.id))
        assert stored is not None and stored.state == "answered"
    counted = evidence(runtime, message.contact_id, "sms")
    assert (counted["sent"], counted["answered"]) == (1, 1)


def test_an_apple_privacy_open_proves_delivery_not_interest(runtime: Runtime, client: TestClient) -> None:
    """Apple Mail Privacy Protection fetches every email on delivery: SendGrid flags the open
    (``sg_machine_open``) and channel choice does not take it for a person reading."""
    [message] = invites(runtime, email_survey(runtime, 1))
    assert post_events(client, [sendgrid_event(message, "open", "ev-mpp-1", sg_machine_open=True)]).status_code == 200
    machine = evidence(runtime, message.contact_id, "email")
    assert (machine["delivered"], machine["opened"], machine["weight_opened"]) == (1, 0, 0)

    assert post_events(client, [sendgrid_event(message, "open", "ev-open-2")]).status_code == 200
    assert evidence(runtime, message.contact_id, "email")["opened"] == 1


def test_an_undelivered_sms_is_a_failure_on_sms_counted_once(runtime: Runtime, client: TestClient) -> None:
    [message] = invites(runtime, sms_survey(runtime, ["+14155550178"]))
    assert message.id is not None
    sid = message.provider_message_id or message_sid()  # the MessageSid the send got back
    for _ in range(2):  # Twilio retries a callback it thinks failed
        assert post_status(client, message.id, sid, "undelivered", to="+14155550178", error_code="30003").status_code == 204
    counted = evidence(runtime, message.contact_id, "sms")
    assert (counted["sent"], counted["delivered"], counted["bounced"]) == (1, 0, 1)
    assert counted["weight_bounced"] == counted["weight_sent"]
