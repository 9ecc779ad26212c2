"""Closing the loop: a local HTTP receiver (Slack webhook, a customer's endpoint) and survey builders.

``tests/answers/conftest.py`` star-imports this module; only the fixtures are
exported that way (``__all__``), tests import the helpers by name.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from email import policy
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from campaigns.people.models import TeamMember
from campaigns.programs import service
from campaigns.programs.models import AnswerOutbox, Campaign, Episode, Message
from channels.outbox import expand_outbox
from dispatcher.answers.answering import accept_answer, kick
from dispatcher.answers.follow_through import follow_through_answers, follow_through_episode
from dispatcher.runtime.core import Runtime
from tests import factories

__all__ = ["counted", "receiver", "slack"]

REVIEW_LINK = "https://reviews.example/acme"
RENEWAL = date(2026, 6, 30)


@dataclass
class Received:
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes
    signed: bool | None  # the signature checked out (None: no secret to check with)

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """A real HTTP server on 127.0.0.1 that records each POST and answers with the next queued status.

    With ``secret`` set it verifies ``Pulse-Signature`` as a customer would and
    answers 400 to a bad signature.
    """

    secret: str | None = None
    received: list[Received] = field(default_factory=list)
    statuses: deque[int] = field(default_factory=deque)
    default_status: int = 200
    retry_after: str | None = None  # a Retry-After header on every answer
    _server: ThreadingHTTPServer | None = None

    def answer_with(self, *statuses: int) -> None:
        self.statuses.extend(statuses)

    def start(self) -> None:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {k.lower(): v for k, v in self.headers.items()}
                signed = verify(owner.secret, headers.get("pulse-signature", ""), body) if owner.secret else None
                owner.received.append(Received(self.path, headers, body, signed))
                status = owner.statuses.popleft() if owner.statuses else owner.default_status
                if signed is False:
                    status = 400
                self.send_response(status)
                if owner.retry_after is not None:
                    self.send_header("Retry-After", owner.retry_after)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *_: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True).start()

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/hook"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


def verify(secret: str, header: str, body: bytes) -> bool:
    """What a receiver does: recompute HMAC-SHA256(secret, "<t>.<body>") and compare in constant time."""
    parts = dict(item.split("=", 1) for item in header.split(",") if "=" in item)
    if "t" not in parts or "v1" not in parts:
        return False
    expected = hmac.new(secret.encode(), f"{parts['t']}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, parts["v1"])


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A customer's webhook endpoint; set ``receiver.secret`` to have it check signatures."""
    server = Receiver()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def slack() -> Iterator[Receiver]:
    """Stands in for a Slack incoming webhook (answers 200 "ok")."""
    server = Receiver()
    server.start()
    yield server
    server.stop()


def team_member(runtime: Runtime, **values: Any) -> int:
    with runtime.sessions() as session:
        member = factories.team_member(session, **values)
        session.commit()
        return member.id


def survey(
    runtime: Runtime, *, kind: str = "nps", owner_id: int | None = None, slack_url: str | None = None,
    plan: list[dict[str, Any]] | None = None, tier: str | None = "gold", **contact_values: Any,
) -> int:
    """An active campaign with one invited contact (its account owned by ``owner_id``); the episode id."""
    with runtime.sessions() as session:
        now = runtime.clock.now()
        account = factories.account(session, owner_id=owner_id, tier=tier, renewal_on=RENEWAL, name="Initech")
        contact = factories.contact(session, account=account, **{"name": "Peter Gibbons", "email": "peter@initech.example", **contact_values})
        spec: dict[str, Any] = {"name": "Spring NPS", "survey": {"kind": kind}, "audience": {"contact_ids": [contact.id]}, "review_link": REVIEW_LINK}
        if plan is not None:
            spec["plan"] = plan
        campaign = service.create_campaign(session, spec=spec, now=now)
        campaign.status, campaign.selection_state, campaign.send_at, campaign.launched_at = "active", "done", now - timedelta(days=1), now
        campaign.internal_recipients = {"emails": [], "slack_webhook_url": slack_url}
        episode = Episode(public_id=service.new_public_id(), campaign_id=campaign.id, contact_id=contact.id, state="invited", created_at=now, invited_at=now - timedelta(days=1), channel="email")
        session.add(episode)
        session.commit()
        return episode.id


def answer(runtime: Runtime, episode_id: int, score: int, *, comment: str | None = None, medium: str = "email", send_now: bool = False) -> int:
    """The customer answers (committed, as an inbound endpoint does); the response id.

    Then the worker's part, explicitly: with ``send_now`` the kick an endpoint makes
    (the follow-through, and what is due handed out at once); else the episode's
    follow-through only, leaving what it queued to the next tick."""
    with runtime.sessions() as session:
        episode = session.get(Episode, episode_id)
        assert episode is not None
        response = accept_answer(runtime, session, episode=episode, score=score, comment=comment, medium=medium, now=runtime.clock.now())
        session.commit()
        response_id = response.id
    if send_now:
        kick(runtime)
    else:
        follow_through_episode(runtime, episode_id)
    return response_id


def drain(runtime: Runtime, timeout: float = 60.0) -> None:
    """Wait until the answers' follow-through is done: run the worker's task here, and wait for
    a pass another thread of this process runs (an endpoint's kick) to finish its rows."""
    deadline = time.monotonic() + timeout
    while True:
        follow_through_answers(runtime)
        with runtime.sessions() as session:
            left = session.scalar(select(func.count()).select_from(AnswerOutbox).where(AnswerOutbox.done_at.is_(None)))
        if not left:
            return
        assert time.monotonic() < deadline, f"{left} answers not followed through after {timeout} s"
        time.sleep(0.05)


@dataclass(frozen=True)
class Email:
    to: str
    subject: str
    text: str
    reply_to: str | None = None


def outbox_emails(runtime: Runtime) -> list[Email]:
    """Every email the outbox channel wrote, oldest first."""
    directory = Path(runtime.settings.outbox_dir)
    expand_outbox(directory)  # the files of the spools the senders have not expanded yet
    emails = []
    for path in sorted(directory.glob("*.eml")) if directory.exists() else []:
        message = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
        body = message.get_body(preferencelist=("plain",))
        reply_to = str(message["Reply-To"]) if message["Reply-To"] else None
        emails.append(Email(str(message["To"]), str(message["Subject"]), body.get_content() if body else "", reply_to))
    return emails


def fresh(session: Session) -> Session:
    """The test's session, its transaction ended so it sees what the code under test committed."""
    session.commit()
    session.expire_all()  # sessions keep loaded rows across commits (expire_on_commit=False)
    return session


def messages(session: Session, **where: Any) -> list[Message]:
    fresh(session)
    query = select(Message).order_by(Message.id)
    for column, value in where.items():
        query = query.where(getattr(Message, column) == value)
    return list(session.scalars(query))


def set_campaign(runtime: Runtime, episode_id: int, **values: Any) -> None:
    with runtime.sessions() as session:
        episode = session.get(Episode, episode_id)
        assert episode is not None
        campaign = session.get(Campaign, episode.campaign_id)
        for name, value in values.items():
            setattr(campaign, name, value)
        session.commit()


def member(session: Session, member_id: int) -> TeamMember:
    found = session.get(TeamMember, member_id)
    assert found is not None
    return found


def saturday_evening(now: datetime) -> datetime:
    """The Saturday after ``now`` at 20:00 UTC: outside default sending hours."""
    days = (5 - now.weekday()) % 7
    return (now + timedelta(days=days)).replace(hour=20, minute=0, second=0, microsecond=0)


@pytest.fixture
def counted(runtime: Runtime) -> Iterator[list[str]]:
    """Every SQL statement the engine runs, and ``COMMIT`` for each commit. Left out: the database
    clock's reads (production reads the system clock) and the published template edits' reload,
    which runs at most once a second in a process and which a slow box can place inside the
    request being counted (it is not that request's own work)."""
    seen: list[str] = []

    def statement(_conn: Any, _cursor: Any, sql: str, *_: Any) -> None:
        if "clock_state" not in sql and "template_versions" not in sql:
            seen.append(sql)

    def commit(_conn: Any) -> None:
        seen.append("COMMIT")

    event.listen(runtime.engine, "before_cursor_execute", statement)
    event.listen(runtime.engine, "commit", commit)
    yield seen
    event.remove(runtime.engine, "before_cursor_execute", statement)
    event.remove(runtime.engine, "commit", commit)
