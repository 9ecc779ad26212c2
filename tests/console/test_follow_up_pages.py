"""The follow-ups page: filtered by owner, category and state; a task moved on with a note."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from campaigns.followups.models import FollowUp
from campaigns.programs.models import Response
from dispatcher.runtime.core import Runtime
from tests import factories
from tests.console.helpers import member, sign_in
from tests.results.seed import follow_up, seed


def _tasks(session: Session) -> tuple[FollowUp, FollowUp, str]:
    seeded = seed(session)
    owner = factories.team_member(session, name="Olga Owner")
    responses = {r.score: r for r in session.scalars(select(Response).where(Response.campaign_id == seeded.campaign.id))}
    mine = follow_up(session, responses[3], owner_id=owner.id)  # "Billing is confusing"
    other = follow_up(session, responses[10])
    session.commit()
    return mine, other, owner.email


def test_tasks_filter_by_owner_category_and_state(browser_client: TestClient, runtime: Runtime, session: Session) -> None:
    mine, other, owner = _tasks(session)
    sign_in(browser_client, runtime, member(session, "viewer").email)
    everyone = browser_client.get("/console/follow-ups").text
    assert f'id="task-{mine.id}"' in everyone and f'id="task-{other.id}"' in everyone
    assert "Billing is confusing" in everyone and "renews 2026-04-01" in everyone
    by_owner = browser_client.get(f"/console/follow-ups?owner={owner}").text
    assert f'id="task-{mine.id}"' in by_owner and f'id="task-{other.id}"' not in by_owner
    promoters = browser_client.get("/console/follow-ups?category=promoter").text
    assert f'id="task-{other.id}"' in promoters and f'id="task-{mine.id}"' not in promoters
    assert 'name="state" value="contacted"' not in everyone  # a viewer has no buttons


def test_ops_moves_a_task_to_contacted_with_a_note_then_resolves_it(browser_client: TestClient, runtime: Runtime, session: Session) -> None:
    mine, _, _ = _tasks(session)
    ops = member(session, "ops")
    token = sign_in(browser_client, runtime, ops.email)
    moved = browser_client.post(f"/console/follow-ups/{mine.id}", data={"csrf_token": token, "state": "contacted", "note": "Called; billing fix promised"})
    assert moved.status_code == 200 and f"Follow-up {mine.id} is now contacted." in moved.text
    assert browser_client.post(f"/console/follow-ups/{mine.id}", data={"csrf_token": token, "state": "resolved"}).status_code == 200
    session.expire_all()
    task = session.get(FollowUp, mine.id)
    assert task is not None and task.state == "resolved"
    assert task.notes[-1]["text"] == "Called; billing fix promised" and task.notes[-1]["author"] == ops.email

    backwards = browser_client.post(f"/console/follow-ups/{mine.id}", data={"csrf_token": token, "state": "contacted"})
    assert "cannot become contacted" in backwards.text
