"""Two answers to one episode at the same instant (a double click): taken one after the other."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from campaigns.followups.models import FollowUp
from campaigns.programs.models import Episode, Message
from campaigns.webhooks.models import WebhookDelivery, WebhookSubscription
from dispatcher.answers.answering import accept_answer
from dispatcher.runtime.core import Runtime
from tests.answers.fixtures_loop import drain, fresh, survey, team_member
from tests.backends import Backend

PAIRS = 10


def _answer_together(runtime: Runtime, episode_ids: list[int], scores: tuple[int, int]) -> None:
    start = threading.Barrier(2 * len(episode_ids))
    errors: list[Exception] = []

    def one(episode_id: int, score: int) -> None:
        try:
            with runtime.sessions() as session:
                episode = session.get(Episode, episode_id)
                assert episode is not None
                start.wait(30)
                accept_answer(runtime, session, episode=episode, score=score, comment=None, medium="email", now=runtime.clock.now())
                session.commit()
        except Exception as exc:  # noqa: BLE001 - reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(e, s)) for e in episode_ids for s in scores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []


def test_a_double_click_opens_one_task_one_thank_you_one_alert_and_created_then_updated(runtime: Runtime, backend: Backend, session: Session) -> None:
    if not backend.is_postgres:
        pytest.skip("concurrent writers need PostgreSQL; SQLite takes one writer at a time")
    owner = team_member(runtime)
    episodes = [survey(runtime, owner_id=owner, slack_url="https://hooks.slack.test/x", email=f"p{n}@initech.example") for n in range(PAIRS)]
    with runtime.sessions() as setup:
        setup.add(WebhookSubscription(url="https://crm.example/hook", secret="whsec_x", events=["response.created", "response.updated"], active=True, created_at=runtime.clock.now()))
        setup.commit()

    _answer_together(runtime, episodes, (2, 3))
    drain(runtime)  # the worker follows both answers of each episode through, in order

    fresh(session)
    assert Counter(f.episode_id for f in session.scalars(select(FollowUp))) == dict.fromkeys(episodes, 1)
    planned = Counter((m.step, m.medium) for m in session.scalars(select(Message)))
    assert planned == {("thank_you", "email"): PAIRS, ("detractor_alert", "email"): PAIRS, ("detractor_alert", "slack"): PAIRS}
    events = Counter(d.event_type for d in session.scalars(select(WebhookDelivery)))
    assert events == {"response.created": PAIRS, "response.updated": PAIRS}
