"""Survey links, unsubscribe links and in-app prompts: builders and fixtures.

``tests/answers/conftest.py`` star-imports this module; only the fixtures are
exported that way (``__all__``), tests import the helpers by name.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import redis
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.ratelimit import KEY_PREFIX
from campaigns.programs import service
from campaigns.programs.models import Episode, InAppPrompt, Message, Response
from campaigns.programs.reach import address
from campaigns.programs.service import new_public_id
from channels.outbox import expand_outbox
from dispatcher.answers.in_app_answers import identity_signature
from dispatcher.answers.links import form_ticket, human_proof
from dispatcher.runtime.clock import utcnow
from dispatcher.runtime.core import Runtime
from dispatcher.runtime.settings import Settings
from dispatcher.sending.contents import ContentCache, answer_url, recipient_values, unsubscribe_url
from dispatcher.sending.handoff import send_messages
from tests import factories

__all__ = ["link_client"]

IN_APP_KEY = "pk_test_pulse"
IN_APP_SECRET = "in-app-secret-for-tests-0123456789"
IN_APP_SETTINGS = {"in_app_publishable_key": IN_APP_KEY, "in_app_secret": IN_APP_SECRET}


@dataclass(frozen=True)
class Survey:
    """One contact's survey: its episode, invite message and links."""

    episode_id: int
    public_id: str
    contact_id: int
    external_id: str
    message_id: int | None
    answer_url: str
    unsubscribe_url: str

    @property
    def answer_path(self) -> str:
        return urlsplit(self.answer_url).path

    @property
    def unsubscribe_path(self) -> str:
        return urlsplit(self.unsubscribe_url).path


def survey(runtime: Runtime, *, kind: str = "nps", channel: str = "email", question: str | None = None, **contact: Any) -> Survey:
    """A contact invited to an active campaign: the episode and its invite, queued (not sent), committed."""
    now = runtime.clock.now()
    with runtime.sessions() as session:
        if channel == "in_app":
            contact.setdefault("last_seen_at", now - timedelta(days=1))
        person = factories.contact(session, **contact)
        campaign = service.create_campaign(session, spec={
            "name": f"Links {kind}", "survey": {"kind": kind, **({"question": question} if question else {})}, "audience": {"contact_ids": [person.id]}, "channels": [channel],
        }, now=now)
        campaign.status, campaign.launched_at, campaign.send_at, campaign.selection_state = "active", now, now, "done"
        episode = Episode(public_id=new_public_id(), campaign_id=campaign.id, contact_id=person.id, state="selected", created_at=now)
        session.add(episode)
        session.flush()
        content_id = ContentCache(runtime).survey_content(session, campaign, medium=channel, template_step="invite", locale=person.locale)
        message = Message(
            idempotency_key=f"links:{episode.id}:invite", campaign_id=campaign.id, episode_id=episode.id, contact_id=person.id,
            step="invite", medium=channel, channel=runtime.channels.names[channel], recipient=address(person, channel),
            locale=person.locale, content_id=content_id, substitutions=recipient_values(runtime.settings, episode, person, now),
            state="queued", not_before=now, attempts=0, created_at=now, updated_at=now,
        )
        session.add(message)
        session.commit()
        return Survey(
            episode.id, episode.public_id, person.id, person.external_id, message.id,
            answer_url(runtime.settings, episode, now), unsubscribe_url(runtime.settings, episode, now),
        )


def send(runtime: Runtime, item: Survey) -> None:
    """Hand the survey's message to its channel (the outbox, or the in-app prompt store)."""
    assert item.message_id is not None
    send_messages(runtime, [item.message_id])


def sent_email(runtime: Runtime, item: Survey) -> EmailMessage:
    """The survey's email as the outbox wrote it."""
    expand_outbox(runtime.settings.outbox_dir)  # the files of the spools the senders have not expanded yet
    files = sorted(Path(runtime.settings.outbox_dir).glob(f"*-{item.message_id}-*.eml"))
    assert files, f"no email in the outbox for message {item.message_id}"
    message = BytesParser(policy=policy.default).parsebytes(files[-1].read_bytes())
    assert isinstance(message, EmailMessage)
    return message


def person_form(runtime: Runtime, item: Survey, *, score: int | str | None, comment: str = "", read_for: timedelta = timedelta(seconds=10)) -> dict[str, str]:
    """The form a person sends after reading the page for ``read_for`` (the page's script adds ``human``)."""
    ticket = form_ticket(runtime, item.public_id, issued_at=utcnow() - read_for)
    form = {"comment": comment, "ticket": ticket, "human": human_proof(runtime, ticket)}
    if score is not None:
        form["score"] = str(score)
    return form


def responses(session: Session, item: Survey) -> list[Response]:
    session.rollback()  # a fresh look: SQLite keeps a transaction's snapshot
    return list(session.scalars(select(Response).where(Response.episode_id == item.episode_id).order_by(Response.id)))


def response_count(session: Session) -> int:
    session.rollback()  # a fresh look: SQLite keeps a transaction's snapshot
    return session.scalar(select(func.count()).select_from(Response)) or 0


def prompts(session: Session, item: Survey) -> list[InAppPrompt]:
    session.rollback()  # a fresh look: SQLite keeps a transaction's snapshot
    return list(session.scalars(
        select(InAppPrompt).join(Message, Message.id == InAppPrompt.message_id).where(Message.episode_id == item.episode_id)
    ))


def identity(external_id: str, *, secret: str = IN_APP_SECRET, key: str = IN_APP_KEY) -> dict[str, str]:
    """The headers the widget sends for a contact its product's server signed."""
    return {"X-Pulse-Key": key, "X-Pulse-Contact": external_id, "X-Pulse-Signature": identity_signature(secret, external_id)}


def weekday_morning_near_today() -> datetime:
    """A clock for in-app tests: the in-app channel refuses prompts whose step ended by
    *wall* time (it is given no clock), so run on a weekday morning near today."""
    moment = datetime.combine(utcnow().date(), time(10), tzinfo=UTC)
    while moment.weekday() >= 5:
        moment += timedelta(days=1)
    return moment


def clear_rate_limits(settings: Settings) -> None:
    """Redis counters outlive a test; the in-memory ones live in the test's runtime."""
    if settings.redis_url:
        client = redis.Redis.from_url(settings.redis_url)
        keys = list(client.scan_iter(f"{KEY_PREFIX}*", count=1000))
        if keys:
            client.delete(*keys)
        client.close()


@pytest.fixture
def link_client(client: TestClient, runtime: Runtime) -> Iterator[TestClient]:
    """The API client with no request counted against the answer pages' rate limits yet."""
    clear_rate_limits(runtime.settings)
    yield client
