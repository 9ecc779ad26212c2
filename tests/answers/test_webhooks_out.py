"""Outgoing webhooks: response.created / response.updated, signed, retried with backoff, given up on."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from campaigns.access.models import Role
from campaigns.webhooks.models import WebhookDelivery, WebhookSubscription
from dispatcher.loop.webhooks_out import MAX_ATTEMPTS
from dispatcher.runtime.clock import DatabaseClock
from dispatcher.runtime.core import Runtime
from dispatcher.sending.scheduler import tick
from tests.answers.fixtures_loop import Receiver, answer, fresh, survey

Auth = Callable[[Role], dict[str, str]]


def _subscribe(client: TestClient, auth: Auth, receiver: Receiver, **body: object) -> dict:
    response = client.post("/v1/webhooks", json={"url": receiver.url, **body}, headers=auth(Role.ADMIN))
    assert response.status_code == 201, response.text
    receiver.secret = response.json()["secret"]
    return response.json()


def _delivery(session: Session) -> WebhookDelivery:
    (delivery,) = fresh(session).query(WebhookDelivery).all()
    return delivery


def test_an_answer_is_posted_as_response_created_signed_with_the_secret(runtime: Runtime, client: TestClient, auth: Auth, receiver: Receiver) -> None:
    _subscribe(client, auth, receiver)
    episode = survey(runtime)

    response_id = answer(runtime, episode, 6, comment="slow exports", send_now=True)

    (post,) = receiver.received
    assert post.signed is True
    assert post.headers["pulse-event"] == "response.created"
    event = post.json()
    assert event["type"] == "response.created" and event["id"] == post.headers["pulse-event-id"]
    data = event["data"]
    assert data["previous"] is None
    assert data["response"]["id"] == response_id
    assert (data["response"]["score"], data["response"]["category"], data["response"]["comment"]) == (6, "detractor", "slow exports")
    assert data["response"]["contact"]["email"] == "peter@initech.example"
    assert data["response"]["account"]["name"] == "Initech"


def test_a_second_answer_is_response_updated_with_the_previous_one(runtime: Runtime, client: TestClient, auth: Auth, receiver: Receiver) -> None:
    _subscribe(client, auth, receiver)
    episode = survey(runtime)

    first = answer(runtime, episode, 7)
    second = answer(runtime, episode, 9, comment="on reflection")
    tick(runtime)

    assert [p.headers["pulse-event"] for p in receiver.received] == ["response.created", "response.updated"]
    updated = receiver.received[1].json()["data"]
    assert updated["response"]["id"] == second and updated["previous"]["id"] == first
    assert (updated["previous"]["category"], updated["response"]["category"]) == ("passive", "promoter")
    assert all(p.signed for p in receiver.received)


def test_a_subscription_gets_only_the_events_it_asked_for(runtime: Runtime, client: TestClient, auth: Auth, receiver: Receiver) -> None:
    _subscribe(client, auth, receiver, events=["response.updated"])
    episode = survey(runtime)

    answer(runtime, episode, 7)
    answer(runtime, episode, 8)
    tick(runtime)

    assert [p.headers["pulse-event"] for p in receiver.received] == ["response.updated"]


def test_a_wrong_secret_fails_the_receivers_check(runtime: Runtime, client: TestClient, auth: Auth, receiver: Receiver, session: Session) -> None:
    _subscribe(client, auth, receiver)
    receiver.secret = "whsec_not_the_one"

    answer(runtime, survey(runtime), 5, send_now=True)

    assert receiver.received[0].signed is False
    assert _delivery(session).status == "failed"  # the receiver's 400 is final


def test_a_500_is_retried_with_growing_backoff_then_delivered(runtime: Runtime, client: TestClient, auth: Auth, receiver: Receiver, clock: DatabaseClock, session: Session) -> None:
    _subscribe(client, auth, receiver)
    receiver.answer_with(500, 503)

    answer(runtime, survey(runtime), 8, send_now=True)
    first = _delivery(session)
    assert (first.status, first.attempts, first.last_status_code) == ("retrying", 1, 500)
    assert first.next_attempt_at is not None
    first_wait = first.next_attempt_at - clock.now()
    clock.advance(first_wait - timedelta(seconds=1))
    tick(runtime)
    assert len(receiver.received) == 1  # not due yet

    clock.advance(timedelta(seconds=1))
    tick(runtime)
    second = _delivery(session)
    assert (second.status, second.attempts, second.last_status_code) == ("retrying", 2, 503)
    assert second.next_attempt_at is not None
    second_wait = second.next_attempt_at - clock.now()
    assert second_wait > first_wait * 1.5
    clock.advance(second_wait)
    tick(runtime)

    delivered = _delivery(session)
    assert (delivered.status, delivered.attempts, delivered.last_status_code) == ("delivered", 3, 200)
    assert len({p.headers["pulse-event-id"] for p in receiver.received}) == 1  # one event, three attempts
    assert all(p.signed for p in receiver.received)


@pytest.mark.parametrize(("retry_after", "wait_at_least"), [("7200", timedelta(hours=2)), ("99999999999999", timedelta(days=1)), ("²", timedelta(0))])
def test_a_receivers_retry_after_is_honoured_up_to_a_day(
    runtime: Runtime, client: TestClient, auth: Auth, receiver: Receiver, clock: DatabaseClock, session: Session, retry_after: str, wait_at_least: timedelta,
) -> None:
    """A trillion seconds overflowed the date and "²" (a digit to str.isdigit) float(): the delivery was never recorded."""
    _subscribe(client, auth, receiver)
    receiver.answer_with(503)
    receiver.retry_after = retry_after

    answer(runtime, survey(runtime), 8, send_now=True)

    delivery = _delivery(session)
    assert (delivery.status, delivery.last_status_code) == ("retrying", 503)
    assert delivery.next_attempt_at is not None
    assert wait_at_least <= delivery.next_attempt_at - clock.now() <= max(wait_at_least, timedelta(hours=1))


def test_delivery_gives_up_after_the_last_attempt(runtime: Runtime, client: TestClient, auth: Auth, receiver: Receiver, clock: DatabaseClock, session: Session) -> None:
    _subscribe(client, auth, receiver)
    receiver.default_status = 502

    answer(runtime, survey(runtime), 8)
    for _ in range(MAX_ATTEMPTS + 3):
        tick(runtime)
        clock.advance(timedelta(hours=2))

    delivery = _delivery(session)
    assert len(receiver.received) == MAX_ATTEMPTS
    assert (delivery.status, delivery.attempts) == ("failed", MAX_ATTEMPTS)
    assert delivery.last_error is not None and delivery.last_error.startswith(f"gave up after {MAX_ATTEMPTS} attempts")


def test_an_unreachable_endpoint_is_retried(runtime: Runtime, client: TestClient, auth: Auth, receiver: Receiver, session: Session) -> None:
    _subscribe(client, auth, receiver)
    receiver.stop()  # nothing listens on the port any more

    answer(runtime, survey(runtime), 8, send_now=True)

    delivery = _delivery(session)
    assert (delivery.status, delivery.last_status_code) == ("retrying", None)
    assert delivery.last_error is not None and delivery.last_error.startswith("connection")


@pytest.mark.parametrize("status", [400, 401, 404])
def test_a_client_error_fails_at_once(runtime: Runtime, client: TestClient, auth: Auth, receiver: Receiver, session: Session, status: int) -> None:
    _subscribe(client, auth, receiver)
    receiver.answer_with(status)

    answer(runtime, survey(runtime), 8, send_now=True)

    delivery = _delivery(session)
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("failed", 1, status)
    assert fresh(session).query(WebhookSubscription).one().active is True


@pytest.mark.parametrize("status", [408, 429])
def test_request_timeout_and_too_many_requests_are_retried(runtime: Runtime, client: TestClient, auth: Auth, receiver: Receiver, session: Session, status: int) -> None:
    _subscribe(client, auth, receiver)
    receiver.answer_with(status)

    answer(runtime, survey(runtime), 8, send_now=True)

    assert _delivery(session).status == "retrying"


def test_410_gone_fails_at_once_and_turns_the_webhook_off(runtime: Runtime, client: TestClient, auth: Auth, receiver: Receiver, session: Session) -> None:
    hook = _subscribe(client, auth, receiver)
    receiver.answer_with(410)
    episode = survey(runtime)

    answer(runtime, episode, 8, send_now=True)
    answer(runtime, episode, 9, send_now=True)

    assert len(receiver.received) == 1
    assert _delivery(session).status == "failed"
    listed = client.get(f"/v1/webhooks/{hook['id']}", headers=auth(Role.ADMIN)).json()
    assert listed["active"] is False and "410" in listed["disabled_reason"]


def test_the_secret_is_shown_once_and_webhooks_are_admin_only(client: TestClient, auth: Auth, receiver: Receiver) -> None:
    admin = auth(Role.ADMIN)
    created = _subscribe(client, auth, receiver, description="CRM sync")

    assert created["secret"].startswith("whsec_") and created["events"] == ["response.created", "response.updated"]
    listed = client.get("/v1/webhooks", headers=admin).json()
    assert [h["id"] for h in listed] == [created["id"]] and "secret" not in listed[0]
    assert "secret" not in client.get(f"/v1/webhooks/{created['id']}", headers=admin).json()
    for role in (Role.OPS, Role.VIEWER, Role.MARKETER):
        assert client.get("/v1/webhooks", headers=auth(role)).status_code == 403
        assert client.post("/v1/webhooks", json={"url": receiver.url}, headers=auth(role)).status_code == 403
    assert client.delete(f"/v1/webhooks/{created['id']}", headers=admin).status_code == 204
    assert client.get("/v1/webhooks", headers=admin).json() == []
    assert client.delete(f"/v1/webhooks/{created['id']}", headers=admin).status_code == 404


@pytest.mark.parametrize(("body", "field"), [
    ({"url": "ftp://example.com/hook"}, "url"),
    ({"url": "https://user:pw@example.com/hook"}, "url"),
    ({"url": "https://example.com/hook", "events": ["response.deleted"]}, "events[0]"),
    ({"url": "https://example.com/hook", "events": []}, "events"),
])
def test_a_bad_subscription_is_422_naming_the_field(client: TestClient, auth: Auth, body: dict, field: str) -> None:
    response = client.post("/v1/webhooks", json=body, headers=auth(Role.ADMIN))

    assert response.status_code == 422
    assert response.json()["error"]["fields"][0]["field"] == field


def test_deliveries_show_each_attempts_outcome(runtime: Runtime, client: TestClient, auth: Auth, receiver: Receiver) -> None:
    hook = _subscribe(client, auth, receiver)
    receiver.answer_with(500)

    answer(runtime, survey(runtime), 8, send_now=True)

    (delivery,) = client.get(f"/v1/webhooks/{hook['id']}/deliveries", headers=auth(Role.ADMIN)).json()["items"]
    assert (delivery["event_type"], delivery["status"], delivery["attempts"], delivery["last_status_code"]) == ("response.created", "retrying", 1, 500)
