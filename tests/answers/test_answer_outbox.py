"""An answer request stores the answer and an outbox row; workers do what follows, each row once."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from campaigns.followups.models import FollowUp
from campaigns.programs.models import AnswerOutbox, Episode, Message, Response
from campaigns.webhooks.models import WebhookDelivery, WebhookSubscription
from dispatcher.answers.answering import KICK_GAP, accept_answer, kick_from_loop
from dispatcher.answers.follow_through import follow_through_answers
from dispatcher.loop.follow_ups import alert_key
from dispatcher.runtime.core import Runtime
from dispatcher.runtime.settings import Settings
from dispatcher.sending.scheduler import tick
from tests.answers.fixtures_links import person_form, send
from tests.answers.fixtures_links import survey as link_survey
from tests.answers.fixtures_loop import (
    REVIEW_LINK,
    Receiver,
    fresh,
    messages,
    outbox_emails,
    survey,
    team_member,
)
from tests.backends import Backend
from tests.conftest import make_settings

OWNER = "bill.lumbergh@example.com"
HEARTBEAT = 0.2  # seconds: a killed worker is dead after three missed beats


@pytest.fixture
def settings(backend: Backend, tmp_path: Path) -> Settings:
    return make_settings(backend, tmp_path, heartbeat_seconds=HEARTBEAT)


def _stored(runtime: Runtime, episode_id: int, score: int) -> int:
    """What an endpoint does: the answer and its outbox row, committed; no kick (it was lost)."""
    with runtime.sessions() as session:
        episode = session.get(Episode, episode_id)
        assert episode is not None
        response = accept_answer(runtime, session, episode=episode, score=score, comment="slow support", medium="email", now=runtime.clock.now())
        session.commit()
        return response.id


def _subscribe(runtime: Runtime) -> None:
    with runtime.sessions() as session:
        session.add(WebhookSubscription(url="https://crm.example/hook", secret="whsec_x", events=["response.created", "response.updated"],
                                        active=True, created_at=runtime.clock.now()))
        session.commit()


def test_the_answer_is_stored_with_its_follow_through_pending_then_the_worker_does_it(runtime: Runtime, session: Session, slack: Receiver) -> None:
    episode = survey(runtime, owner_id=team_member(runtime, email=OWNER), slack_url=slack.url)
    _subscribe(runtime)

    response_id = _stored(runtime, episode, 2)

    fresh(session)
    (row,) = session.scalars(select(AnswerOutbox))
    assert (row.kind, row.response_id, row.done_at) == ("answer", response_id, None)
    assert session.scalars(select(FollowUp)).all() == []
    assert session.scalars(select(Message)).all() == []
    assert session.scalars(select(WebhookDelivery)).all() == []

    assert follow_through_answers(runtime) == 1

    fresh(session)
    assert session.scalar(select(AnswerOutbox.done_at)) is not None
    assert [f.response_id for f in session.scalars(select(FollowUp))] == [response_id]
    sent = Counter((m.step, m.medium, m.state) for m in session.scalars(select(Message)))
    assert sent == {("thank_you", "email", "sent"): 1, ("detractor_alert", "email", "sent"): 1, ("detractor_alert", "slack", "sent"): 1}
    assert [d.event_type for d in session.scalars(select(WebhookDelivery))] == ["response.created"]
    assert len(slack.received) == 1
    assert follow_through_answers(runtime) == 0  # nothing is done twice


def test_the_detractor_alert_leaves_within_a_minute_on_the_tick_when_the_kick_is_lost(runtime: Runtime, session: Session, slack: Receiver) -> None:
    episode = survey(runtime, owner_id=team_member(runtime, email=OWNER), slack_url=slack.url)
    response_id = _stored(runtime, episode, 0)

    tick(runtime)  # every tick_seconds; nothing else ran

    assert runtime.settings.tick_seconds < 60
    answered_at = fresh(session).get(Response, response_id).created_at  # type: ignore[union-attr]
    alerts = list(session.scalars(select(Message).where(Message.step == "detractor_alert")))
    assert {(m.medium, m.state) for m in alerts} == {("email", "sent"), ("slack", "sent")}
    assert all(m.sent_at is not None and m.sent_at - answered_at < timedelta(minutes=1) for m in alerts)
    assert len(slack.received) == 1


def test_a_later_answer_queued_behind_the_first_replaces_it_as_if_both_were_done_at_once(runtime: Runtime, session: Session, slack: Receiver) -> None:
    episode = survey(runtime, owner_id=team_member(runtime, email=OWNER), slack_url=slack.url)
    _subscribe(runtime)
    first, second = _stored(runtime, episode, 8), _stored(runtime, episode, 3)  # passive, then detractor

    assert follow_through_answers(runtime) == 2

    fresh(session)
    (task,) = session.scalars(select(FollowUp))
    assert (task.response_id, task.category) == (second, "detractor")
    assert [d.event_type for d in session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id))] == ["response.created", "response.updated"]
    assert Counter(m.step for m in session.scalars(select(Message))) == {"thank_you": 1, "detractor_alert": 2}
    assert first != second


def test_a_batch_spreads_new_tasks_round_robin_and_thanks_each_episode_once_as_one_by_one(runtime: Runtime, session: Session) -> None:
    team = [team_member(runtime, email=f"rr{n}@example.com") for n in range(3)]
    episodes = [survey(runtime, email=f"p{n}@initech.example") for n in range(4)]  # accounts without an owner
    for episode in episodes:
        _stored(runtime, episode, 9)

    assert follow_through_answers(runtime) == 4  # one batch

    fresh(session)
    tasks = {t.episode_id: t for t in session.scalars(select(FollowUp))}
    assert [tasks[e].owner_id for e in episodes] == [*team, team[0]]
    assert {tasks[e].assigned_by for e in episodes} == {"round_robin"}
    thanks = list(session.scalars(select(Message).where(Message.step == "thank_you")))
    assert Counter(m.episode_id for m in thanks) == Counter(episodes)
    assert {m.state for m in thanks} == {"sent"}
    assert all(e.thanked_at is not None for e in session.scalars(select(Episode).where(Episode.id.in_(episodes))))


_KILLED_MID_BATCH = """
import os, signal
from dispatcher.answers.follow_through import claim, follow_through_episode
from dispatcher.runtime.core import build_runtime
from dispatcher.runtime.settings import Settings
from dispatcher.runtime.tasks import attach_inline_queue
from dispatcher.sending.heartbeat import beat

runtime = attach_inline_queue(build_runtime(Settings()))
beat(runtime)
claimed = claim(runtime, 100)
follow_through_episode(runtime, min(episode for _, episode in claimed))  # one episode done, then the worker dies
print(len(claimed), flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def _worker_env(settings: Settings) -> dict[str, str]:
    values: dict[str, Any] = {
        "ENVIRONMENT": settings.environment, "SECRET_KEY": settings.secret_key.get_secret_value(), "DATABASE_URL": settings.database_url,
        "OUTBOX_DIR": str(settings.outbox_dir), "CLOCK": settings.clock, "PUBLIC_URL": settings.public_url,
        "OUTBOUND_ALLOW": "127.0.0.1", "HEARTBEAT_SECONDS": str(settings.heartbeat_seconds),
    }
    return {**os.environ, **{f"PULSE_{name}": value for name, value in values.items()}}


def test_a_worker_killed_mid_batch_leaves_its_rows_to_be_claimed_again_and_each_is_done_once(runtime: Runtime, session: Session, slack: Receiver) -> None:
    owner = team_member(runtime, email=OWNER)
    episodes = [survey(runtime, owner_id=owner, slack_url=slack.url, email=f"p{n}@initech.example") for n in range(4)]
    _subscribe(runtime)
    for episode in episodes:
        _stored(runtime, episode, 1)

    killed = subprocess.run([sys.executable, "-c", _KILLED_MID_BATCH], check=False, env=_worker_env(runtime.settings), capture_output=True, text=True, timeout=120)

    assert killed.returncode == -9, killed.stderr
    assert killed.stdout.strip() == "4"
    fresh(session)
    rows = list(session.scalars(select(AnswerOutbox).order_by(AnswerOutbox.id)))
    assert [row.done_at is not None for row in rows] == [True, False, False, False]
    assert all(row.claimed_by is not None for row in rows)  # still held by the dead worker

    deadline = 60.0
    while follow_through_answers(runtime) == 0 and deadline > 0:  # taken again once the worker missed three beats
        deadline -= HEARTBEAT
        time.sleep(HEARTBEAT)

    fresh(session)
    assert all(row.done_at is not None for row in session.scalars(select(AnswerOutbox)))
    assert Counter(f.episode_id for f in session.scalars(select(FollowUp))) == dict.fromkeys(episodes, 1)
    alerts = [m.idempotency_key for m in session.scalars(select(Message).where(Message.step == "detractor_alert"))]
    assert sorted(alerts) == sorted(alert_key(e, medium) for e in episodes for medium in ("email", "slack"))
    assert Counter(d.response_id for d in session.scalars(select(WebhookDelivery))) == dict.fromkeys(
        [r.id for r in session.scalars(select(Response))], 1)
    tick(runtime)  # the dead worker's episode queued its alerts but never handed them out: the tick does
    assert len(slack.received) == 4
    assert follow_through_answers(runtime) == 0


# --- what one answer request costs -------------------------------------------------------


def test_a_link_answer_is_at_most_five_statements_and_one_commit(runtime: Runtime, backend: Backend, link_client: TestClient, counted: list[str], session: Session) -> None:
    item = link_survey(runtime)
    send(runtime, item)
    form = person_form(runtime, item, score=9, comment="quick")
    queue, runtime.queue = runtime.queue, None  # the kick is lost: only the request's own work is counted
    counted.clear()
    try:
        answered = link_client.post(item.answer_path, data=form, follow_redirects=False)
    finally:
        runtime.queue = queue

    assert answered.status_code == 303, answered.text
    statements = [sql for sql in counted if sql != "COMMIT" and not sql.startswith("BEGIN")]
    assert len(statements) <= 5, "\n".join(statements)
    assert counted.count("COMMIT") == 1
    fresh(session)
    assert session.scalar(select(AnswerOutbox.done_at)) is None  # left to the tick
    tick(runtime)
    assert fresh(session).scalar(select(AnswerOutbox.done_at)) is not None
    message = session.get(Message, item.message_id)
    assert message is not None and message.state == "answered"  # channel choice learns from it on the worker


def test_a_kick_from_the_event_loop_coalesces_a_burst_as_a_kick_does(runtime: Runtime, session: Session) -> None:
    """``kick_from_loop`` (the answer routes' background task): the first kick of a burst follows
    through at once (on a worker thread); the kicks within ``KICK_GAP`` of it are covered by one
    trailing pass that does every row committed before it."""
    first, second, third = (survey(runtime, owner_id=team_member(runtime, email=f"owner{n}@example.com")) for n in range(3))
    runtime.extras["inprocess_worker"] = object()  # as in `pulse run`: kicks coalesce, each pass runs where it is submitted

    def pending() -> int:
        return len(fresh(session).scalars(select(AnswerOutbox).where(AnswerOutbox.done_at.is_(None))).all())

    async def burst() -> None:
        _stored(runtime, first, 9)
        await kick_from_loop(runtime)
        assert pending() == 0
        _stored(runtime, second, 3)
        await kick_from_loop(runtime)
        _stored(runtime, third, 8)
        await kick_from_loop(runtime)
        assert pending() == 2  # covered by the trailing pass, not yet due
        await asyncio.sleep(KICK_GAP * 4)

    asyncio.run(burst())

    assert pending() == 0


def test_a_pass_leaves_an_answer_committed_while_it_works_to_that_answer_s_own_kick(runtime: Runtime, session: Session) -> None:
    """A pass does what its claim found and stops when that was less than a batch: an answer
    committed meanwhile has its own kick (sent after its commit), whose pass does it; chasing
    it cut a steady stream into batches of a few rows."""
    first, second = (survey(runtime, owner_id=team_member(runtime, email=f"owner{n}@example.com")) for n in range(2))
    _stored(runtime, first, 9)
    claimed: list[bool] = []
    meanwhile: list[int] = []

    def note_claim(_conn: Any, _cursor: Any, sql: str, *_: Any) -> None:
        claimed.append(sql.startswith("UPDATE answer_outbox SET claimed_by"))

    def answer_meanwhile(*_: Any) -> None:  # a connection back in the pool: the claim committed, no lock is held
        if any(claimed) and not meanwhile:
            meanwhile.append(0)  # once (storing it checks connections in too)
            meanwhile[0] = _stored(runtime, second, 3)  # a request answering while the worker works

    event.listen(runtime.engine, "after_cursor_execute", note_claim)
    event.listen(runtime.engine.pool, "checkin", answer_meanwhile)
    try:
        assert follow_through_answers(runtime) == 1
    finally:
        event.remove(runtime.engine, "after_cursor_execute", note_claim)
        event.remove(runtime.engine.pool, "checkin", answer_meanwhile)

    assert meanwhile
    assert fresh(session).scalar(select(AnswerOutbox.done_at).where(AnswerOutbox.response_id == meanwhile[0])) is None
    assert follow_through_answers(runtime) == 1  # the kick of the answer committed meanwhile
    assert fresh(session).scalars(select(AnswerOutbox).where(AnswerOutbox.done_at.is_(None))).all() == []


def test_a_batchs_thank_yous_in_three_texts_each_say_their_own_and_are_rendered_and_stored_together(
    runtime: Runtime, session: Session, counted: list[str],
) -> None:
    owner = team_member(runtime, name="Joanna Bolton", email=OWNER)
    episodes = [survey(runtime, owner_id=owner, email=f"p{n}@initech.example") for n in range(3)]
    for episode, score in zip(episodes, (10, 7, 2)):  # promoter, passive, detractor
        _stored(runtime, episode, score)
    counted.clear()

    assert follow_through_answers(runtime) == 3

    thanks = {e.to: e for e in outbox_emails(runtime) if e.to != OWNER}
    assert thanks["p0@initech.example"].subject == "Thank you, that made our day" and REVIEW_LINK in thanks["p0@initech.example"].text
    assert "We want to be a clear 10 for you" in thanks["p1@initech.example"].text
    assert "We are sorry" in thanks["p2@initech.example"].text and "Joanna Bolton will contact you personally" in thanks["p2@initech.example"].text
    assert len({m.content_id for m in messages(session, step="thank_you")}) == 3
    # Three texts: the studio's names read once, their versions recorded by one insert.
    assert len([sql for sql in counted if "FROM locale_profiles" in sql]) == 1
    assert len([sql for sql in counted if sql.startswith("INSERT INTO template_uses")]) == 1


def test_alerts_to_the_team_leave_the_contacts_fatigue_budget_alone(runtime: Runtime, session: Session, counted: list[str]) -> None:
    """Internal messages count against no contact's budget: recording their results reads no touch."""
    owner = team_member(runtime, email=OWNER)
    plan = [{"step": "invite", "offset_days": 0}, {"step": "close", "offset_days": 14}]  # no thank-you: only the alerts go out
    for n in range(2):
        _stored(runtime, survey(runtime, owner_id=owner, plan=plan, email=f"p{n}@initech.example"), n)
    counted.clear()

    assert follow_through_answers(runtime) == 2

    alerts = messages(session, step="detractor_alert")
    assert len(alerts) == 2 and {m.state for m in alerts} == {"sent"}
    assert [sql for sql in counted if "fatigue_touches" in sql] == []
