"""Channel choice end to end: people who only answer SMS are invited by SMS after two campaigns.

Real engine: the API, the scheduler tick, the outbox channels, answers through the
survey link and Twilio's inbound webhook. Exploration is off here so the run is
exact; the model's unit tests cover exploring.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from campaigns.access.models import Role
from campaigns.events.models import EngagementCounter
from campaigns.programs.models import Message
from dispatcher.answers.links import form_ticket, human_proof
from dispatcher.runtime.clock import DatabaseClock, utcnow
from dispatcher.runtime.core import Runtime
from dispatcher.runtime.settings import Settings
from dispatcher.sending.contents import message_values
from dispatcher.sending.scheduler import tick
from tests import factories
from tests.answers.fixtures_events import PUBLIC_URL, TWILIO_TOKEN, reply
from tests.backends import Backend
from tests.conftest import make_settings

PLAN = [{"step": "invite", "offset_days": 0}, {"step": "reminder", "offset_days": 2}, {"step": "close", "offset_days": 4}]


@pytest.fixture
def settings(backend: Backend, tmp_path: Path) -> Settings:
    return make_settings(backend, tmp_path, twilio_auth_token=TWILIO_TOKEN, public_url=PUBLIC_URL, channel_explore=False)


def answer_by_link(runtime: Runtime, client: TestClient, message: Message, public_id: str) -> None:
    with runtime.sessions() as session:
        url = message_values(runtime.settings, session, message)["-pulse_answer_url-"]
    ticket = form_ticket(runtime, public_id, issued_at=utcnow() - timedelta(seconds=10))
    posted = client.post(urlsplit(url).path, data={"score": "4", "comment": "", "ticket": ticket, "human": human_proof(runtime, ticket)}, follow_redirects=False)
    assert posted.status_code == 303, posted.text


def run_campaign(runtime: Runtime, client: TestClient, headers: dict[str, str], contact_ids: list[int], answers: Callable[[Message], bool]) -> int:
    """Create, launch and walk one campaign through its plan; contacts answer what ``answers`` says."""
    from campaigns.programs.models import Episode

    created = client.post("/v1/campaigns", headers=headers, json={
        "name": "Support CSAT", "survey": {"kind": "csat"}, "audience": {"contact_ids": contact_ids}, "plan": PLAN,
        "channels": ["email", "sms"], "channel_choice": "learned", "exclusions": {"min_account_age_days": 0},
    })
    assert created.status_code == 201, created.text
    campaign_id = created.json()["id"]
    assert created.json()["channel_choice"] == "learned"
    assert client.post(f"/v1/campaigns/{campaign_id}/launch", headers=headers).status_code == 200
    handled: set[int] = set()
    for _ in range(5 * 4):
        tick(runtime)
        with runtime.sessions() as session:
            sent = session.execute(
                select(Message, Episode.public_id).join(Episode, Episode.id == Message.episode_id)
                .where(Message.campaign_id == campaign_id, Message.state == "sent", Message.step.in_(("invite", "reminder")))
            ).all()
        for message, public_id in sent:
            if message.id in handled:
                continue
            handled.add(message.id)
            if answers(message):
                if message.medium == "email":
                    answer_by_link(runtime, client, message, public_id)
                else:
                    reply(client, message.recipient or "", "4")
        runtime.clock.advance(timedelta(hours=6))  # type: ignore[attr-defined]
    return int(campaign_id)


def test_contacts_who_only_answer_sms_are_invited_by_sms_and_the_message_says_why(
    runtime: Runtime, client: TestClient, session: Session, clock: DatabaseClock, auth: Callable[[Role], dict[str, str]],
) -> None:
    with runtime.sessions() as arrange:
        people = [factories.contact(arrange, phone=f"+1415555{n:04d}") for n in range(4)]
        arrange.commit()
        ids = [p.id for p in people]
    texters = set(ids[:3])  # answer SMS only; the other answers email only
    headers = auth(Role.ADMIN)

    def answers(message: Message) -> bool:
        return (message.medium == "sms") == (message.contact_id in texters)

    for _ in range(2):
        run_campaign(runtime, client, headers, ids, answers)
        clock.advance(timedelta(days=30))
    third = run_campaign(runtime, client, headers, ids, lambda _: False)

    session.rollback()
    invites = {m.contact_id: m for m in session.scalars(select(Message).where(Message.campaign_id == third, Message.step == "invite"))}
    for contact_id in texters:
        assert invites[contact_id].medium == "sms"
        assert invites[contact_id].channel_reason == "sms: answered 2 of 2 SMS; email: answered 0 of 1 email"
        estimates = invites[contact_id].channel_estimates
        assert estimates is not None and estimates["sms"] > estimates["email"]
    for contact_id in set(ids) - texters:
        assert invites[contact_id].medium == "email"
        assert (invites[contact_id].channel_reason or "").startswith("email: answered 2 of 2 emails")
    # Answers by link count like SMS answers do, each on its own medium.
    counters = {(c.contact_id, c.medium): c for c in session.scalars(select(EngagementCounter))}
    assert all(counters[(i, "email")].answered == 2 for i in set(ids) - texters)
    assert all(counters[(i, "sms")].answered == 2 for i in texters)


def test_an_answer_by_the_invites_link_is_credited_to_the_invite_after_the_reminder_switched_medium(
    runtime: Runtime, client: TestClient, session: Session, auth: Callable[[Role], dict[str, str]],
) -> None:
    from campaigns.programs.models import Episode

    with runtime.sessions() as arrange:
        person = factories.contact(arrange, phone="+14155559001")
        arrange.commit()
        contact_id = person.id
    headers = auth(Role.ADMIN)
    created = client.post("/v1/campaigns", headers=headers, json={
        "name": "Support CSAT", "survey": {"kind": "csat"}, "audience": {"contact_ids": [contact_id]}, "plan": PLAN,
        "channels": ["email", "sms"], "channel_choice": "learned", "exclusions": {"min_account_age_days": 0},
    }).json()
    assert client.post(f"/v1/campaigns/{created['id']}/launch", headers=headers).status_code == 200
    for _ in range(3 * 4):  # to day 3: the invite (day 0) and the reminder (day 2) go out, nobody answers
        tick(runtime)
        runtime.clock.advance(timedelta(hours=6))  # type: ignore[attr-defined]

    def sent() -> dict[str, Message]:
        session.rollback()
        return {m.step: m for m in session.scalars(select(Message).where(Message.campaign_id == created["id"]))}

    before = sent()
    assert (before["invite"].medium, before["reminder"].medium) == ("email", "sms")  # the unanswered email moved the reminder
    public_id = session.scalar(select(Episode.public_id).where(Episode.id == before["invite"].episode_id))
    assert public_id is not None
    answer_by_link(runtime, client, before["invite"], public_id)  # the person finds the email after all

    after = sent()
    assert (after["invite"].state, after["reminder"].state) == ("answered", "sent")
    counters = {c.medium: c for c in session.scalars(select(EngagementCounter).where(EngagementCounter.contact_id == contact_id))}
    assert (counters["email"].sent, counters["email"].answered) == (1, 1)
    assert (counters["sms"].sent, counters["sms"].answered) == (1, 0)
