"""POST /v1/surveys/send: one survey for one contact, idempotent, through the same rules."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from campaigns.access.models import Role
from campaigns.programs.models import Episode, Message, Suppression
from channels.outbox import expand_outbox
from dispatcher.runtime.clock import DatabaseClock
from dispatcher.runtime.core import Runtime
from dispatcher.sending.scheduler import tick
from tests import factories
from tests.conftest import START

Auth = Callable[[Role], dict[str, str]]


def test_send_goes_out_now_and_the_same_key_gives_the_same_answer(client: TestClient, auth: Auth, session: Session, runtime: Runtime) -> None:
    contact = factories.contact(session, timezone="Europe/Berlin", external_id="u-7")
    session.commit()
    body = {"contact_external_id": "u-7", "kind": "csat", "trigger": "ticket_closed", "reference": "T-1001"}
    headers = {**auth(Role.OPS), "Idempotency-Key": "ticket-T-1001"}

    first = client.post("/v1/surveys/send", json=body, headers=headers)
    again = client.post("/v1/surveys/send", json=body, headers=headers)

    assert first.status_code == 202, first.text
    assert first.json()["status"] == "queued" and first.json()["channel"] == "email"
    assert again.status_code == 202 and again.json() == first.json()
    assert session.scalar(select(func.count()).select_from(Message)) == 1
    assert session.scalar(select(Message.state)) == "sent"
    expand_outbox(runtime.settings.outbox_dir)
    assert len(list(Path(runtime.settings.outbox_dir).iterdir())) == 1
    episode = session.get_one(Episode, first.json()["episode_id"])
    assert (episode.contact_id, episode.trigger, episode.reference) == (contact.id, "ticket_closed", "T-1001")


def test_same_key_with_another_body_is_422(client: TestClient, auth: Auth, session: Session) -> None:
    factories.contact(session, external_id="u-8")
    session.commit()
    headers = {**auth(Role.OPS), "Idempotency-Key": "k-1"}
    client.post("/v1/surveys/send", json={"contact_external_id": "u-8", "kind": "csat", "trigger": "t"}, headers=headers)
    other = client.post("/v1/surveys/send", json={"contact_external_id": "u-8", "kind": "ces", "trigger": "t"}, headers=headers)
    assert other.status_code == 422 and other.json()["error"]["code"] == "idempotency_key_reused"
    assert session.scalar(select(func.count()).select_from(Message)) == 1


def test_outside_sending_hours_waits_for_the_window_unless_told_not_to(client: TestClient, auth: Auth, session: Session, clock: DatabaseClock) -> None:
    factories.contact(session, external_id="tokyo", timezone="Asia/Tokyo")  # 18:30 in Tokyo at START
    factories.contact(session, external_id="tokyo-2", timezone="Asia/Tokyo")
    session.commit()
    waits = client.post("/v1/surveys/send", json={"contact_external_id": "tokyo", "kind": "ces", "trigger": "onboarded"}, headers=auth(Role.OPS)).json()
    assert waits["status"] == "scheduled" and waits["not_before"].startswith("2026-03-03T00:00")  # 09:00 in Tokyo
    now = client.post("/v1/surveys/send", json={"contact_external_id": "tokyo-2", "kind": "csat", "trigger": "urgent", "respect_sending_hours": False}, headers=auth(Role.OPS)).json()
    assert now["status"] == "queued"


def test_excluded_contact_gets_the_reason(client: TestClient, auth: Auth, session: Session) -> None:
    factories.contact(session, external_id="gone", email="gone@example.com")
    session.add(Suppression(medium="email", address="gone@example.com", reason="unsubscribed", created_at=START))
    session.commit()
    response = client.post("/v1/surveys/send", json={"contact_external_id": "gone", "kind": "csat", "trigger": "t"}, headers=auth(Role.OPS))
    assert response.status_code == 200
    assert response.json()["status"] == "excluded" and response.json()["rule"] == "unreachable"
    assert "opted out" in response.json()["reason"]


def test_bad_requests_name_the_field(client: TestClient, auth: Auth, session: Session) -> None:
    factories.contact(session, external_id="u-9")
    session.commit()
    headers = auth(Role.OPS)
    unknown = client.post("/v1/surveys/send", json={"contact_external_id": "nobody", "kind": "csat", "trigger": "t"}, headers=headers)
    assert unknown.status_code == 422 and unknown.json()["error"]["fields"][0]["field"] == "contact_external_id"
    kind = client.post("/v1/surveys/send", json={"contact_external_id": "u-9", "kind": "xps", "trigger": "t"}, headers=headers)
    assert kind.status_code == 422 and kind.json()["error"]["fields"][0]["field"] == "kind"
    channel = client.post("/v1/surveys/send", json={"contact_external_id": "u-9", "kind": "csat", "trigger": "t", "channels": ["fax"]}, headers=headers)
    assert channel.status_code == 422 and channel.json()["error"]["fields"][0]["field"] == "channels[0]"
    both = client.post("/v1/surveys/send", json={"contact_id": 1, "contact_external_id": "u-9", "kind": "csat", "trigger": "t"}, headers=headers)
    assert both.status_code == 422
    viewer = client.post("/v1/surveys/send", json={"contact_external_id": "u-9", "kind": "csat", "trigger": "t"}, headers=auth(Role.VIEWER))
    assert viewer.status_code == 403


def test_scheduled_send_goes_out_when_the_window_opens(client: TestClient, auth: Auth, session: Session, clock: DatabaseClock, runtime: Runtime) -> None:
    factories.contact(session, external_id="night", timezone="Asia/Tokyo")
    session.commit()
    client.post("/v1/surveys/send", json={"contact_external_id": "night", "kind": "ces", "trigger": "t"}, headers=auth(Role.OPS))
    tick(runtime)
    assert session.scalar(select(Message.state)) == "queued"
    clock.advance(timedelta(hours=15))
    tick(runtime)
    session.rollback()
    assert session.scalar(select(Message.state)) == "sent"


def test_without_sending_hours_it_goes_out_at_night_too(client: TestClient, auth: Auth, session: Session) -> None:
    factories.contact(session, external_id="owl", timezone="Asia/Tokyo")  # 18:30 in Tokyo: after hours
    session.commit()
    answer = client.post("/v1/surveys/send", json={"contact_external_id": "owl", "kind": "csat", "trigger": "urgent", "respect_sending_hours": False}, headers=auth(Role.OPS)).json()
    assert answer["status"] == "queued"
    session.rollback()
    assert session.scalar(select(Message.state).where(Message.id == answer["message_id"])) == "sent"


def test_broker_down_after_commit_answers_202_and_the_tick_sends_it(runtime: Runtime, auth: Auth, session: Session) -> None:
    """The request is stored before the hand-off; a dead broker must not turn it into a 500
    (a client retrying without an Idempotency-Key would get a second survey)."""
    from api.app import create_app
    from dispatcher.runtime.celery_app import make_celery
    from dispatcher.runtime.work import CeleryQueue

    factories.contact(session, external_id="u-9")
    session.commit()
    inline = runtime.queue
    runtime.queue = CeleryQueue(make_celery(runtime.settings.model_copy(update={"broker_url": "redis://127.0.0.1:1/0"})))
    try:
        with TestClient(create_app(runtime.settings, runtime=runtime, start_worker=False), raise_server_exceptions=False) as client:
            answer = client.post("/v1/surveys/send", json={"contact_external_id": "u-9", "kind": "csat", "trigger": "t", "respect_sending_hours": False}, headers=auth(Role.OPS))
    finally:
        runtime.queue = inline
    assert answer.status_code == 202, answer.text
    assert answer.json()["status"] == "queued"
    assert session.scalar(select(Message.state).where(Message.id == answer.json()["message_id"])) == "queued"
    tick(runtime)
    session.rollback()
    assert session.scalar(select(Message.state).where(Message.id == answer.json()["message_id"])) == "sent"
