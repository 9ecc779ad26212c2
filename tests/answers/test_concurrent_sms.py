"""1,000 people answer by SMS at the same moment, against a real server on PostgreSQL.

A uvicorn process serves Pulse; 1,000 client threads released together each
POST one signed Twilio reply from their own number, and a hundred of them are
redelivered at the same time (Twilio retries with the same ``MessageSid``).
Every POST is answered (TwiML) only after its commit, and the database then
holds exactly one response per episode: none lost, none doubled.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from http.client import HTTPConnection
from urllib.parse import urlencode, urlsplit

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from campaigns.events.models import EngagementCounter, InboundSms
from campaigns.people.models import Contact
from campaigns.programs import service
from campaigns.programs.models import Episode, Message, Response
from campaigns.programs.service import new_public_id
from dispatcher.runtime.core import Runtime
from tests import factories
from tests.answers.fixtures_events import (
    TWILIO_TOKEN,
    message_sid,
    sms_params,
    twilio_signature,
    twiml_text,
)
from tests.answers.fixtures_loop import drain
from tests.answers.live_server import free_port, live_server, wait_until_server_quiet
from tests.backends import Backend
from tests.conftest import make_settings

PEOPLE = 1000
REDELIVERED = 100
FOLLOW_UP = "Thank you! What is the main reason for your score? Just reply with a few words."


@pytest.fixture(autouse=True)
def server_quiet_after(runtime: Runtime) -> Iterator[None]:
    """Each test ends when the server's work is done, not only its replies."""
    yield
    wait_until_server_quiet(runtime.engine)


@pytest.fixture(scope="module")
def server(backend: Backend, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if not backend.is_postgres:
        pytest.skip("concurrent writers need PostgreSQL; SQLite takes one writer at a time")
    directory, port = tmp_path_factory.mktemp("sms-server"), free_port()
    settings = make_settings(backend, directory, public_url=f"http://127.0.0.1:{port}", twilio_auth_token=TWILIO_TOKEN)
    with live_server(settings, port, directory / "uvicorn.log") as url:
        yield url


def phone(n: int) -> str:
    return f"+1202555{n:04d}"


def texted(runtime: Runtime, count: int) -> list[Episode]:
    """``count`` contacts, each with an open SMS episode: invited by an SMS that was sent."""
    now = runtime.clock.now()
    with runtime.sessions() as session:
        account = factories.account(session)
        people = [Contact(
            external_id=f"s-{n}", name=f"Texter {n}", phone=phone(n), role="admin", locale="en", timezone="UTC",
            attributes={}, account_id=account.id, created_at=now, updated_at=now,
        ) for n in range(count)]
        session.add_all(people)
        campaign = service.create_campaign(session, spec={"name": "SMS rush", "survey": {"kind": "nps"}, "channels": ["sms"], "audience": {"filter": {"segment": ["smb"]}}}, now=now)
        campaign.status, campaign.launched_at, campaign.send_at, campaign.selection_state = "active", now, now, "done"
        session.flush()
        episodes = [Episode(
            public_id=new_public_id(), campaign_id=campaign.id, contact_id=person.id, state="invited", channel="sms",
            invited_at=now, created_at=now,
        ) for person in people]
        session.add_all(episodes)
        session.flush()
        session.add_all([Message(
            idempotency_key=f"rush:{episode.id}", campaign_id=campaign.id, episode_id=episode.id, contact_id=person.id,
            step="invite", medium="sms", channel="outbox_sms", recipient=person.phone, state="sent", substitutions={},
            attempts=1, created_at=now, sent_at=now, updated_at=now,
        ) for episode, person in zip(episodes, people)])
        session.commit()
        return episodes


def post_all(server: str, forms: list[dict[str, str]]) -> list[tuple[int, str]]:
    """POST every signed form from its own thread, all released at once; (status, TwiML text) each."""
    parts = urlsplit(server)
    path = "/webhooks/twilio/sms"
    ready = threading.Barrier(len(forms))
    answers: list[tuple[int, str]] = [(0, "")] * len(forms)

    def reply(index: int, form: dict[str, str]) -> None:
        headers = {"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": twilio_signature(server + path, form)}
        connection = HTTPConnection(parts.hostname or "", parts.port, timeout=120)
        ready.wait()
        try:
            connection.request("POST", path, body=urlencode(form), headers=headers)
            response = connection.getresponse()
            body = response.read().decode()
            answers[index] = (response.status, twiml_text(body) if response.status == 200 else body)
        finally:
            connection.close()

    threads = [threading.Thread(target=reply, args=(i, form)) for i, form in enumerate(forms)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(180)
    return answers


def test_a_thousand_concurrent_sms_replies_are_all_stored_once(runtime: Runtime, session: Session, server: str) -> None:
    episodes = texted(runtime, PEOPLE)
    forms = [sms_params(phone(n), str(n % 11), sid=message_sid()) for n in range(PEOPLE)]
    redeliveries = forms[::PEOPLE // REDELIVERED]

    answers = post_all(server, forms + redeliveries)

    assert Counter(status for status, _ in answers) == {200: PEOPLE + REDELIVERED}
    assert {text for _, text in answers} == {FOLLOW_UP}  # a redelivery gets the first answer again
    session.rollback()
    rows = [(r.episode_id, r.score, r.medium) for r in session.scalars(select(Response))]
    assert len(rows) == PEOPLE
    assert Counter(episode_id for episode_id, _, _ in rows) == {e.id: 1 for e in episodes}
    assert set(rows) == {(e.id, n % 11, "sms") for n, e in enumerate(episodes)}
    assert session.scalar(select(func.count()).select_from(InboundSms)) == PEOPLE
    drain(runtime)  # channel choice learns from the answers on the worker
    session.rollback()
    assert session.scalar(select(func.count()).select_from(Message).where(Message.state == "answered")) == PEOPLE
    assert session.scalar(select(func.sum(EngagementCounter.answered)).where(EngagementCounter.medium == "sms")) == PEOPLE


def test_concurrent_replies_from_one_number_take_their_locks_in_one_order(runtime: Runtime, session: Session, server: str) -> None:
    """Score, comment and more words from the same number at the same moment: every reply
    is answered (no deadlock, no 500) and each number keeps exactly one scored answer."""
    numbers = 8
    episodes = texted(runtime, numbers)
    words = ["9", "great support", "also the app", "9 fast", "thanks", "more words"]
    forms = [sms_params(phone(n), text, sid=message_sid()) for n in range(numbers) for text in words]

    answers = post_all(server, forms)

    assert Counter(status for status, _ in answers) == {200: len(forms)}
    session.rollback()
    rows = list(session.scalars(select(Response).where(Response.current.is_(True))))
    assert Counter(r.episode_id for r in rows) == {e.id: 1 for e in episodes}
    assert {r.score for r in rows} == {9}
    assert session.scalar(select(func.count()).select_from(InboundSms)) == len(forms)
