"""1,000 people answer by link at the same moment, against a real server on PostgreSQL.

A uvicorn process serves Pulse; 1,000 client threads released together each
POST one answer. Every POST is acknowledged (303) only after its commit, and
the database then holds exactly one response per episode: none lost, none
doubled. Double clicks (two POSTs for one episode at once) keep both in the
history with exactly one current.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from http.client import HTTPConnection
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from campaigns.people.models import Contact
from campaigns.programs import service
from campaigns.programs.models import Episode, Response
from campaigns.programs.service import new_public_id
from dispatcher.answers.links import form_ticket, human_proof
from dispatcher.runtime.clock import utcnow
from dispatcher.runtime.core import Runtime
from dispatcher.sending.contents import answer_url
from tests import factories
from tests.answers.fixtures_links import clear_rate_limits
from tests.answers.live_server import free_port, live_server, wait_until_server_quiet
from tests.backends import Backend
from tests.conftest import make_settings

PEOPLE = 1000


@pytest.fixture(autouse=True)
def server_quiet_after(runtime: Runtime) -> Iterator[None]:
    """Each test ends when the server's work is done, not only its replies."""
    yield
    wait_until_server_quiet(runtime.engine)


@pytest.fixture(scope="module")
def server(backend: Backend, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if not backend.is_postgres:
        pytest.skip("concurrent writers need PostgreSQL; SQLite takes one writer at a time")
    directory, port = tmp_path_factory.mktemp("server"), free_port()
    # Every client comes from 127.0.0.1 here; the per-IP limit is for the open internet.
    settings = make_settings(backend, directory, public_url=f"http://127.0.0.1:{port}", answer_rate_per_ip=1_000_000)
    with live_server(settings, port, directory / "uvicorn.log") as url:
        yield url


def invited(runtime: Runtime, count: int) -> list[Episode]:
    """``count`` contacts invited to one active NPS campaign."""
    now = runtime.clock.now()
    with runtime.sessions() as session:
        account = factories.account(session)
        people = [Contact(
            external_id=f"p-{n}", name=f"Person {n}", email=f"person{n}@example.com", role="admin", locale="en",
            timezone="UTC", attributes={}, account_id=account.id, created_at=now, updated_at=now,
        ) for n in range(count)]
        session.add_all(people)
        campaign = service.create_campaign(session, spec={"name": "Rush", "survey": {"kind": "nps"}, "audience": {"filter": {"segment": ["smb"]}}}, now=now)
        campaign.status, campaign.launched_at, campaign.send_at, campaign.selection_state = "active", now, now, "done"
        session.flush()
        episodes = [Episode(
            public_id=new_public_id(), campaign_id=campaign.id, contact_id=person.id, state="invited", channel="email",
            invited_at=now, created_at=now,
        ) for person in people]
        session.add_all(episodes)
        session.commit()
        return episodes


def post_all(runtime: Runtime, server: str, posts: list[tuple[Episode, int]]) -> list[int]:
    """POST every (episode, score) from its own thread, all released at once; the status codes."""
    now = runtime.clock.now()
    host, port = urlsplit(server).hostname or "", urlsplit(server).port
    ready = threading.Barrier(len(posts))
    statuses: list[int] = [0] * len(posts)

    def answer(index: int, episode: Episode, score: int) -> None:
        path = urlsplit(answer_url(runtime.settings, episode, now)).path
        ticket = form_ticket(runtime, episode.public_id, issued_at=utcnow() - timedelta(seconds=10))
        body = urlencode({"score": score, "comment": f"answer {index}", "ticket": ticket, "human": human_proof(runtime, ticket)})
        connection = HTTPConnection(host, port, timeout=120)
        ready.wait()
        try:
            connection.request("POST", path, body=body, headers={"Content-Type": "application/x-www-form-urlencoded"})
            statuses[index] = connection.getresponse().status
        finally:
            connection.close()

    threads = [threading.Thread(target=answer, args=(i, e, s)) for i, (e, s) in enumerate(posts)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(180)
    return statuses


def stored(session: Session) -> list[tuple[int, int, bool]]:
    session.rollback()
    return [(r.episode_id, r.score, r.current) for r in session.scalars(select(Response))]


def test_a_thousand_concurrent_link_answers_are_all_stored_once(runtime: Runtime, session: Session, server: str, tmp_path: Path) -> None:
    clear_rate_limits(runtime.settings)
    episodes = invited(runtime, PEOPLE)

    statuses = post_all(runtime, server, [(episode, n % 11) for n, episode in enumerate(episodes)])

    assert Counter(statuses) == {303: PEOPLE}
    rows = stored(session)
    assert len(rows) == PEOPLE
    assert Counter(episode_id for episode_id, _, _ in rows) == {e.id: 1 for e in episodes}
    assert {(e.id, n % 11, True) for n, e in enumerate(episodes)} == set(rows)
    unanswered = session.scalar(select(func.count()).select_from(Episode).where(Episode.answered_at.is_(None)))
    assert unanswered == 0


def test_double_clicks_keep_both_answers_with_one_current(runtime: Runtime, session: Session, server: str) -> None:
    clear_rate_limits(runtime.settings)
    episodes = invited(runtime, 50)

    statuses = post_all(runtime, server, [(episode, score) for episode in episodes for score in (3, 9)])

    assert Counter(statuses) == {303: 100}
    rows = stored(session)
    assert Counter(episode_id for episode_id, _, _ in rows) == {e.id: 2 for e in episodes}
    assert Counter(episode_id for episode_id, _, current in rows if current) == {e.id: 1 for e in episodes}
