"""Follow-up tasks: assigned to the owner or round robin, worked through /v1/follow-ups."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from campaigns.access.models import Role
from campaigns.people.models import TeamMember
from dispatcher.runtime.clock import DatabaseClock
from dispatcher.runtime.core import Runtime
from tests.answers.fixtures_loop import answer, fresh, survey, team_member

Auth = Callable[[Role], dict[str, str]]


def _answered(runtime: Runtime, score: int, *, owner_id: int | None = None, n: int = 0, **values: object) -> int:
    """A new contact answers; the episode id."""
    episode = survey(runtime, owner_id=owner_id, email=f"contact{n}-{score}@initech.example", **values)  # type: ignore[arg-type]
    answer(runtime, episode, score, comment=f"comment {n}")
    return episode


def _tasks(client: TestClient, headers: dict[str, str], **params: object) -> list[dict]:
    response = client.get("/v1/follow-ups", params=params, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()["items"]


def test_the_task_goes_to_the_account_owner_with_the_answer_and_the_account(runtime: Runtime, client: TestClient, auth: Auth) -> None:
    owner = team_member(runtime, name="Bill Lumbergh", email="bill@example.com")
    _answered(runtime, 3, owner_id=owner)

    (task,) = _tasks(client, auth(Role.VIEWER))
    assert task["state"] == "open" and task["category"] == "detractor"
    assert task["owner"] == {"id": owner, "name": "Bill Lumbergh", "email": "bill@example.com"}
    assert task["assigned_by"] == "account_owner"
    assert task["answer"]["score"] == 3 and task["answer"]["comment"] == "comment 0"
    assert task["account"]["name"] == "Initech" and task["account"]["renewal_on"] == "2026-06-30"
    assert task["contact"]["email"] == "contact0-3@initech.example"


def test_without_an_owner_tasks_go_round_robin_to_the_least_loaded_active_member(runtime: Runtime, client: TestClient, auth: Auth, clock: DatabaseClock) -> None:
    first, second, third = (team_member(runtime, email=f"rr{i}@example.com") for i in range(3))
    team_member(runtime, email="gone@example.com", active=False)
    for n in range(4):
        _answered(runtime, 5, n=n)
        clock.advance(timedelta(minutes=1))
    assigned = [t["owner"]["id"] for t in _tasks(client, auth(Role.VIEWER))]
    assert assigned == [first, second, third, first]
    assert {t["assigned_by"] for t in _tasks(client, auth(Role.VIEWER))} == {"round_robin"}

    ops = auth(Role.OPS)
    second_task = _tasks(client, ops)[1]["id"]
    assert client.patch(f"/v1/follow-ups/{second_task}", json={"state": "resolved"}, headers=ops).status_code == 200
    _answered(runtime, 5, n=9)

    assert _tasks(client, ops)[-1]["owner"]["id"] == second  # none open now: the fewest


def test_an_inactive_owner_hands_the_task_to_round_robin(runtime: Runtime, session: Session, client: TestClient, auth: Auth) -> None:
    owner = team_member(runtime, email="left@example.com", active=False)
    stand_in = team_member(runtime, email="stand-in@example.com")
    _answered(runtime, 9, owner_id=owner)

    (task,) = _tasks(client, auth(Role.VIEWER))
    assert task["owner"]["id"] == stand_in and task["assigned_by"] == "round_robin"


def test_a_task_moves_open_contacted_resolved_and_can_be_reopened(runtime: Runtime, client: TestClient, auth: Auth, clock: DatabaseClock) -> None:
    _answered(runtime, 2, owner_id=team_member(runtime))
    ops = auth(Role.OPS)
    task = _tasks(client, ops)[0]["id"]

    contacted = client.patch(f"/v1/follow-ups/{task}", json={"state": "contacted", "note": "called, will send a fix"}, headers=ops)
    clock.advance(timedelta(days=1))
    resolved = client.patch(f"/v1/follow-ups/{task}", json={"state": "resolved"}, headers=ops)
    again = client.patch(f"/v1/follow-ups/{task}", json={"state": "resolved"}, headers=ops)
    reopened = client.patch(f"/v1/follow-ups/{task}", json={"state": "open", "note": "still broken"}, headers=ops)

    assert contacted.status_code == 200 and contacted.json()["contacted_at"] is not None
    assert resolved.json()["state"] == "resolved" and resolved.json()["resolved_at"] is not None
    assert again.status_code == 200  # the same state again is a no-op, so a PATCH may be retried
    body = reopened.json()
    assert body["state"] == "open" and body["resolved_at"] is None
    assert [(n["author"], n["text"]) for n in body["notes"]] == [("test ops", "called, will send a fix"), ("test ops", "still broken")]


@pytest.mark.parametrize(("start", "target"), [("contacted", "open"), ("resolved", "contacted")])
def test_a_backward_transition_is_422_naming_state(runtime: Runtime, client: TestClient, auth: Auth, start: str, target: str) -> None:
    _answered(runtime, 6)
    ops = auth(Role.OPS)
    task = _tasks(client, ops)[0]["id"]
    client.patch(f"/v1/follow-ups/{task}", json={"state": start}, headers=ops)

    response = client.patch(f"/v1/follow-ups/{task}", json={"state": target}, headers=ops)

    assert response.status_code == 422
    error = response.json()["error"]
    assert error["fields"][0]["field"] == "state"
    assert f"cannot become {target}" in error["message"]


def test_bad_patch_bodies_are_422_naming_the_field(runtime: Runtime, client: TestClient, auth: Auth) -> None:
    _answered(runtime, 6)
    ops = auth(Role.OPS)
    task = _tasks(client, ops)[0]["id"]

    unknown = client.patch(f"/v1/follow-ups/{task}", json={"state": "closed"}, headers=ops)
    empty = client.patch(f"/v1/follow-ups/{task}", json={}, headers=ops)
    nobody = client.patch(f"/v1/follow-ups/{task}", json={"owner_id": 999}, headers=ops)
    missing = client.patch("/v1/follow-ups/999", json={"state": "contacted"}, headers=ops)

    assert unknown.status_code == 422 and unknown.json()["error"]["fields"][0]["field"] == "state"
    assert empty.status_code == 422 and "at least one of state, note, owner_id" in empty.json()["error"]["message"]
    assert nobody.status_code == 422 and nobody.json()["error"]["fields"][0]["field"] == "owner_id"
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


def test_a_task_can_be_reassigned(runtime: Runtime, client: TestClient, auth: Auth) -> None:
    _answered(runtime, 6, owner_id=team_member(runtime))
    other = team_member(runtime, email="other@example.com")
    ops = auth(Role.OPS)
    task = _tasks(client, ops)[0]["id"]

    body = client.patch(f"/v1/follow-ups/{task}", json={"owner_id": other}, headers=ops).json()

    assert body["owner"]["id"] == other and body["assigned_by"] == "api"


def test_filters_by_owner_id_or_email_category_and_state_with_cursor_paging(runtime: Runtime, client: TestClient, auth: Auth) -> None:
    kim = team_member(runtime, email="kim@example.com")
    lee = team_member(runtime, email="lee@example.com")
    for n, (score, owner) in enumerate([(10, kim), (3, kim), (1, lee), (8, kim), (0, kim)]):
        _answered(runtime, score, owner_id=owner, n=n)
    viewer = auth(Role.VIEWER)
    ops = auth(Role.OPS)
    client.patch(f"/v1/follow-ups/{_tasks(client, viewer)[1]['id']}", json={"state": "contacted"}, headers=ops)

    assert [t["answer"]["score"] for t in _tasks(client, viewer, owner="KIM@example.com")] == [10, 3, 8, 0]
    assert [t["answer"]["score"] for t in _tasks(client, viewer, owner=str(lee))] == [1]
    assert [t["answer"]["score"] for t in _tasks(client, viewer, owner="kim@example.com", category="detractor", state="open")] == [0]
    assert [t["answer"]["score"] for t in _tasks(client, viewer, category="promoter")] == [10]
    first = client.get("/v1/follow-ups", params={"limit": 2}, headers=viewer).json()
    second = client.get("/v1/follow-ups", params={"limit": 2, "cursor": first["next_cursor"]}, headers=viewer).json()
    assert [t["answer"]["score"] for t in first["items"] + second["items"]] == [10, 3, 1, 8]
    detail = client.get(f"/v1/follow-ups/{first['items'][0]['id']}", headers=viewer)
    assert detail.status_code == 200 and detail.json()["answer"]["score"] == 10


@pytest.mark.parametrize(("params", "field"), [
    ({"owner": "nobody@example.com"}, "owner"), ({"category": "angry"}, "category"), ({"state": "done"}, "state"), ({"cursor": "nope"}, "cursor"),
    ({"owner": "²"}, "owner"), ({"owner": "9" * 5000}, "owner"), ({"owner": str(2**40)}, "owner"),  # digits to str.isdigit(), no id: were 500s
])
def test_bad_filters_are_422_naming_the_field(client: TestClient, auth: Auth, params: dict[str, str], field: str) -> None:
    response = client.get("/v1/follow-ups", params=params, headers=auth(Role.VIEWER))

    assert response.status_code == 422
    assert response.json()["error"]["fields"][0]["field"] == field


@pytest.mark.parametrize(("role", "read", "write"), [(Role.ADMIN, 200, 200), (Role.OPS, 200, 200), (Role.VIEWER, 200, 403), (Role.MARKETER, 403, 403)])
def test_viewers_read_and_ops_or_admins_write(runtime: Runtime, client: TestClient, auth: Auth, role: Role, read: int, write: int) -> None:
    _answered(runtime, 6)
    task = _tasks(client, auth(Role.ADMIN))[0]["id"]
    headers = auth(role)

    assert client.get("/v1/follow-ups", headers=headers).status_code == read
    assert client.get(f"/v1/follow-ups/{task}", headers=headers).status_code == read
    assert client.patch(f"/v1/follow-ups/{task}", json={"note": "hi"}, headers=headers).status_code == write


def test_a_resolved_task_reopens_when_the_answer_turns_into_a_detractor(runtime: Runtime, session: Session, client: TestClient, auth: Auth) -> None:
    episode = _answered(runtime, 9, owner_id=team_member(runtime))
    ops = auth(Role.OPS)
    task = _tasks(client, ops)[0]["id"]
    client.patch(f"/v1/follow-ups/{task}", json={"state": "resolved"}, headers=ops)

    answer(runtime, episode, 7)
    assert client.get(f"/v1/follow-ups/{task}", headers=ops).json()["state"] == "resolved"  # passive: still resolved
    answer(runtime, episode, 2, comment="it broke again")

    body = client.get(f"/v1/follow-ups/{task}", headers=ops).json()
    assert body["state"] == "open" and body["category"] == "detractor"
    assert body["answer"]["comment"] == "it broke again"
    assert body["notes"][-1]["text"] == "reopened: the answer is now detractor"
    assert fresh(session).query(TeamMember).count() == 1  # nobody new was involved
