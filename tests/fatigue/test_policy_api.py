"""GET and PUT /v1/fatigue-policy: defaults, replacement with history, bad input, admin only."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from campaigns.access.models import Role
from dispatcher.runtime.clock import DatabaseClock

Auth = Callable[[Role], dict[str, str]]
TIGHT = {
    "rules": [
        {"kinds": ["nps"], "limit": 1, "window_days": 90},
        {"kinds": ["csat", "ces"], "limit": 3, "window_days": 7, "scope": "account"},
        {"name": "two_messages_a_day", "counts": "messages", "limit": 2, "window_days": 1},
    ],
    "min_gap_days": 2,
    "kinds": {"csat": {"when_full": "drop"}},
}


def test_the_defaults_are_the_design_rules(client: TestClient, auth: Auth) -> None:
    policy = client.get("/v1/fatigue-policy", headers=auth(Role.ADMIN)).json()

    assert policy["version"] == 0 and policy["created_by"] is None
    assert [(r["name"], r["kinds"], r["counts"], r["limit"], r["window_days"], r["scope"]) for r in policy["rules"]] == [
        ("nps_once_per_180d", ["nps"], "invitations", 1, 180, "contact"),
        ("ces_once_per_30d", ["ces"], "invitations", 1, 30, "contact"),
        ("csat_once_per_7d", ["csat"], "invitations", 1, 7, "contact"),
        ("invitations_2_per_30d", "all", "invitations", 2, 30, "contact"),
        ("messages_4_per_7d", "all", "messages", 4, 7, "contact"),
    ]
    assert (policy["min_gap_days"], policy["min_gap_rule"]) == (3, "min_gap_3d")
    priorities = {kind: settings["priority"] for kind, settings in policy["kinds"].items()}
    assert priorities["nps"] > priorities["ces"] > priorities["csat"]
    assert {settings["when_full"] for settings in policy["kinds"].values()} <= {"defer", "drop"}


def test_put_replaces_the_policy_and_keeps_every_version_with_who_and_when(client: TestClient, auth: Auth, clock: DatabaseClock) -> None:
    admin = auth(Role.ADMIN)
    saved = client.put("/v1/fatigue-policy", json=TIGHT, headers=admin)
    clock.advance(timedelta(days=1))
    second = client.put("/v1/fatigue-policy", json={**TIGHT, "min_gap_days": 0}, headers=admin)

    assert saved.status_code == 200, saved.text
    body = saved.json()
    assert body["version"] == 1 and body["created_by"].startswith("test admin (key ")
    assert body["created_at"].startswith("2026-03-02T09:30")
    assert [r["name"] for r in body["rules"]] == ["nps_once_per_90d", "account_ces_csat_3_per_7d", "two_messages_a_day"]
    assert body["kinds"]["csat"]["when_full"] == "drop" and body["kinds"]["ces"]["when_full"] == "defer"  # others keep their defaults
    current = client.get("/v1/fatigue-policy", headers=admin).json()
    assert current == second.json() and current["version"] == 2 and current["min_gap_days"] == 0
    history = client.get("/v1/fatigue-policy/history", headers=admin).json()["items"]
    assert [(h["version"], h["min_gap_days"]) for h in history] == [(2, 0), (1, 2), (0, 3)]
    assert history[0]["created_at"].startswith("2026-03-03T09:30") and history[1]["created_at"].startswith("2026-03-02T09:30")


def _rule(**changes: Any) -> dict[str, Any]:
    return {"kinds": ["nps"], "limit": 1, "window_days": 30, **changes}


BAD = [
    ({"rules": [_rule(window_days=0)], "min_gap_days": 1}, "rules[0].window_days"),
    ({"rules": [_rule(), _rule(kinds=["csat"], window_days=-7)], "min_gap_days": 1}, "rules[1].window_days"),
    ({"rules": [_rule(kinds=["nps", "xps"])], "min_gap_days": 1}, "rules[0].kinds[1]"),
    ({"rules": [_rule(kinds=[])], "min_gap_days": 1}, "rules[0].kinds"),
    ({"rules": [_rule(scope="team")], "min_gap_days": 1}, "rules[0].scope"),
    ({"rules": [_rule(counts="surveys")], "min_gap_days": 1}, "rules[0].counts"),
    ({"rules": [_rule(limit=0)], "min_gap_days": 1}, "rules[0].limit"),
    ({"rules": [_rule(kinds="all", limit=2, window_days=30)], "min_gap_days": 45}, "min_gap_days"),
    ({"rules": [_rule(kinds="all", limit=2, window_days=30)], "min_gap_days": -1}, "min_gap_days"),
    ({"rules": [_rule(name="same"), _rule(name="same", kinds=["ces"])], "min_gap_days": 1}, "rules[1].name"),
    ({"rules": [_rule()], "min_gap_days": 1, "kinds": {"xps": {"priority": 1}}}, "kinds.xps"),
    ({"rules": [_rule()], "min_gap_days": 1, "kinds": {"csat": {"when_full": "later"}}}, "kinds.csat.when_full"),
    ({"rules": [_rule(window_days="ten")], "min_gap_days": 1}, "rules[0].window_days"),
    ({"rules": [_rule()]}, "min_gap_days"),
]


@pytest.mark.parametrize(("document", "field"), BAD, ids=[f for _, f in BAD])
def test_bad_input_is_422_naming_the_field_and_the_old_policy_stays(client: TestClient, auth: Auth, document: dict[str, Any], field: str) -> None:
    admin = auth(Role.ADMIN)
    before = client.put("/v1/fatigue-policy", json=TIGHT, headers=admin).json()

    response = client.put("/v1/fatigue-policy", json=document, headers=admin)

    assert response.status_code == 422, response.text
    assert response.json()["error"]["fields"][0]["field"] == field
    assert field in response.json()["error"]["message"]
    assert client.get("/v1/fatigue-policy", headers=admin).json() == before
    assert len(client.get("/v1/fatigue-policy/history", headers=admin).json()["items"]) == 2


@pytest.mark.parametrize("role", [Role.OPS, Role.MARKETER, Role.VIEWER])
def test_only_admins_read_or_change_the_policy(client: TestClient, auth: Auth, role: Role) -> None:
    headers = auth(role)
    assert client.get("/v1/fatigue-policy", headers=headers).status_code == 403
    assert client.put("/v1/fatigue-policy", json=TIGHT, headers=headers).status_code == 403
    assert client.get("/v1/fatigue-policy/history", headers=headers).status_code == 403
    assert client.get("/v1/fatigue-policy", headers=auth(Role.ADMIN)).json()["version"] == 0
    assert client.get("/v1/fatigue-policy").status_code == 401
