"""Who may do what: no key → 401, a key of the wrong role → 403."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from campaigns.access.models import Role

Auth = Callable[[Role], dict[str, str]]

READ_CONTACTS = ("get", "/v1/contacts", None)
WRITE_CONTACTS = ("post", "/v1/contacts/bulk", {"items": [{"external_id": "c1"}]})
CREATE_KEY = ("post", "/v1/keys", {"role": "viewer"})
ADD_TEAM = ("post", "/v1/team", {"name": "Kim", "email": "kim@example.com"})

CALLS = [
    (READ_CONTACTS, {Role.ADMIN, Role.OPS, Role.VIEWER}),
    (WRITE_CONTACTS, {Role.ADMIN, Role.OPS}),
    (CREATE_KEY, {Role.ADMIN}),
    (ADD_TEAM, {Role.ADMIN, Role.OPS}),
]


@pytest.mark.parametrize(("call", "allowed"), CALLS, ids=lambda c: f"{c[0]} {c[1]}" if isinstance(c, tuple) else "")
@pytest.mark.parametrize("role", list(Role), ids=lambda r: r.value)
def test_role_allows_or_refuses(client: TestClient, auth: Auth, call: tuple, allowed: set[Role], role: Role) -> None:
    method, path, body = call
    response = client.request(method, path, json=body, headers=auth(role))
    if role in allowed:
        assert response.status_code in (200, 201), response.text
    else:
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "forbidden"
        assert role.value in response.json()["error"]["message"]


def test_no_key_is_401_and_a_bad_key_is_401(client: TestClient) -> None:
    none = client.get("/v1/contacts")
    assert none.status_code == 401 and none.headers["WWW-Authenticate"] == "Bearer"
    assert "missing API key" in none.json()["error"]["message"]
    wrong = client.get("/v1/contacts", headers={"Authorization": "Bearer pulse_abc_def"})
    assert wrong.status_code == 401


def test_revoked_key_stops_working_and_token_is_shown_once(client: TestClient, auth: Auth) -> None:
    admin = auth(Role.ADMIN)
    created = client.post("/v1/keys", json={"role": "ops", "name": "ci"}, headers=admin).json()
    ops = {"Authorization": f"Bearer {created['token']}"}
    assert client.get("/v1/contacts", headers=ops).status_code == 200
    listed = client.get("/v1/keys", headers=admin).json()
    assert all("token" not in k for k in listed)
    assert client.delete(f"/v1/keys/{created['id']}", headers=admin).status_code == 204
    assert client.get("/v1/contacts", headers=ops).status_code == 401


def test_unknown_role_is_422_naming_the_field(client: TestClient, auth: Auth) -> None:
    response = client.post("/v1/keys", json={"role": "superuser"}, headers=auth(Role.ADMIN))
    assert response.status_code == 422 and response.json()["error"]["fields"][0]["field"] == "role"


def test_last_used_at_is_written_at_most_once_a_minute(client: TestClient, auth: Callable[[Role], dict[str, str]], session: Session) -> None:
    from sqlalchemy import select

    from campaigns.access.models import ApiKey

    headers = auth(Role.VIEWER)
    client.get("/v1/contacts", headers=headers)
    session.rollback()
    first = session.scalar(select(ApiKey.last_used_at))
    assert first is not None
    client.get("/v1/contacts", headers=headers)
    session.rollback()
    assert session.scalar(select(ApiKey.last_used_at)) == first


def test_ops_may_add_team_members_and_viewers_may_not(client: TestClient, auth: Callable[[Role], dict[str, str]]) -> None:
    member = {"name": "Dana", "email": "dana@example.com"}
    assert client.post("/v1/team", json=member, headers=auth(Role.OPS)).status_code == 200
    assert client.post("/v1/team", json=member, headers=auth(Role.VIEWER)).status_code == 403
    assert client.post("/v1/team", json=member, headers=auth(Role.MARKETER)).status_code == 403
