"""Hostile and edge-of-range input: a clear 4xx naming the field, never a 500, nothing half-written."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from fastapi.testclient import TestClient

from api.app import create_app
from campaigns.access.models import Role
from tests.backends import Backend
from tests.conftest import make_settings

Auth = Callable[[Role], dict[str, str]]


def _field(response: object) -> str:
    return response.json()["error"]["fields"][0]["field"]  # type: ignore[attr-defined]


def test_a_fatigue_gap_of_a_hundred_billion_days_is_refused(client: TestClient, auth: Auth) -> None:
    headers = auth(Role.ADMIN)
    policy = client.get("/v1/fatigue-policy", headers=headers).json()
    once = [rule for rule in policy["rules"] if rule["limit"] == 1]  # no rule a long gap would contradict
    body = {"rules": once, "min_gap_days": 100_000_000_000}
    response = client.put("/v1/fatigue-policy", json=body, headers=headers)
    assert response.status_code == 422, response.text
    assert _field(response) == "min_gap_days"
    assert client.get("/v1/fatigue-policy", headers=headers).json()["min_gap_days"] == policy["min_gap_days"]


def test_contact_ids_beyond_any_id_are_refused(client: TestClient, auth: Auth) -> None:
    headers = auth(Role.OPS)
    for ids in ("[1e20]", "[100000000000000000000]", "[2147483648]"):
        body = '{"name": "x", "survey": {"kind": "nps"}, "audience": {"contact_ids": ' + ids + "}}"
        response = client.post("/v1/campaigns", content=body, headers={**headers, "Content-Type": "application/json"})
        assert response.status_code == 422, (ids, response.text)


def test_nul_and_lone_surrogates_are_refused_naming_the_field(client: TestClient, auth: Auth) -> None:
    headers = {**auth(Role.OPS), "Content-Type": "application/json"}
    for name in (r'"Ana\u0000"', r'"Ana\ud800"'):
        body = '{"items": [{"external_id": "c1", "name": ' + name + "}]}"
        response = client.post("/v1/contacts/bulk", content=body, headers=headers)
        assert response.status_code == 422, response.text
        assert _field(response) == "items[0].name"
    assert client.get("/v1/contacts", headers=headers).json()["items"] == []


def test_a_body_under_any_json_media_type_is_checked_as_json_is(client: TestClient, auth: Auth) -> None:
    """FastAPI parses ``application/*+json`` as JSON too: such a body gets the same checks."""
    body = r'{"items": [{"external_id": "c1", "name": "Ana\u0000"}]}'
    for media_type in ("application/vnd.pulse+json", "application/merge-patch+json; charset=utf-8", "Application/JSON"):
        response = client.post("/v1/contacts/bulk", content=body, headers={**auth(Role.OPS), "Content-Type": media_type})
        assert response.status_code == 422, (media_type, response.text)
        assert _field(response) == "items[0].name"
    assert client.get("/v1/contacts", headers=auth(Role.OPS)).json()["items"] == []


def test_json_nested_deeper_than_any_body_is_refused(client: TestClient, auth: Auth) -> None:
    headers = {**auth(Role.OPS), "Content-Type": "application/json"}
    for depth, field in ((40, "items[0].attributes.plan" + "[0]" * 29), (100_000, "body")):
        body = '{"items": [{"external_id": "c1", "attributes": {"plan": ' + "[" * depth + "]" * depth + "}}]}"
        response = client.post("/v1/contacts/bulk", content=body, headers=headers)
        assert response.status_code == 422, (depth, response.text[:300])
        assert _field(response) == field
        assert "nested more than 32 levels" in response.json()["error"]["message"]
    assert client.get("/v1/contacts", headers=headers).json()["items"] == []


def test_an_integer_too_long_to_read_is_refused_naming_the_rule(client: TestClient, auth: Auth) -> None:
    body = '{"items": [{"external_id": "c1", "attributes": {"plan": ' + "9" * 5000 + "}}]}"
    response = client.post("/v1/contacts/bulk", content=body, headers={**auth(Role.OPS), "Content-Type": "application/json"})
    assert response.status_code == 422, response.text[:300]
    assert _field(response) == "body"
    assert "beyond the 64-bit integer range" in response.text
    assert client.get("/v1/contacts", headers=auth(Role.OPS)).json()["items"] == []


def test_nan_in_attributes_is_refused(client: TestClient, auth: Auth) -> None:
    body = '{"items": [{"external_id": "c1", "attributes": {"plan": NaN}}]}'
    response = client.post("/v1/contacts/bulk", content=body, headers={**auth(Role.OPS), "Content-Type": "application/json"})
    assert response.status_code == 422, response.text
    assert _field(response) == "items[0].attributes.plan"


def test_malformed_json_and_json_without_its_content_type_say_what_to_fix(client: TestClient, auth: Auth) -> None:
    headers = auth(Role.OPS)
    broken = client.post("/v1/campaigns", content='{"name": "x", "survey": {"kind": "nps"},}', headers={**headers, "Content-Type": "application/json"})
    assert broken.status_code == 422, broken.text
    assert broken.json()["error"]["fields"] == [{"field": "body", "reason": broken.json()["error"]["fields"][0]["reason"]}]
    assert broken.json()["error"]["fields"][0]["reason"].startswith("not valid JSON at character 40: ")
    untyped = client.post("/v1/campaigns", content='{"name": "x", "survey": {"kind": "nps"}}', headers={**headers, "Content-Type": "text/plain"})
    assert untyped.status_code == 422, untyped.text
    assert _field(untyped) == "body"
    assert "Content-Type: application/json" in untyped.json()["error"]["message"]
    assert client.get("/v1/campaigns", headers=headers).json()["items"] == []


def test_ids_beyond_the_database_range_in_paths_and_queries_are_422(client: TestClient, auth: Auth) -> None:
    headers = auth(Role.ADMIN)
    for path in ("/v1/contacts/4647151873", "/v1/accounts/9223372036854775808", "/v1/contacts/-1/fatigue",
                 "/v1/follow-ups?campaign_id=99999999999", "/v1/contacts?q=%00"):
        response = client.get(path, headers=headers)
        assert response.status_code == 422, (path, response.text)
        assert response.json()["error"]["code"] == "invalid_request"


def test_malformed_cursors_are_422(client: TestClient, auth: Auth) -> None:
    headers = auth(Role.ADMIN)
    for cursor in ("!!!", "eyJhZnRlciI6IDk5OTk5OTk5OTk5OTk5OTk5OTk5fQ", "bm90IGpzb24", "_w"):
        response = client.get("/v1/contacts", params={"cursor": cursor}, headers=headers)
        assert response.status_code == 422, (cursor, response.text)
        assert _field(response) == "cursor"


def test_every_answer_carries_a_request_id_echoed_when_given(client: TestClient) -> None:
    given = client.get("/v1/contacts", headers={"X-Request-ID": "trace-42"})
    assert given.status_code == 401
    assert given.headers["X-Request-ID"] == "trace-42"
    assert given.json()["error"]["request_id"] == "trace-42"
    made = client.get("/healthz", headers={"X-Request-ID": "bad id\twith tab"})
    assert made.headers["X-Request-ID"] not in ("", "bad id\twith tab")


def test_a_500_is_the_json_error_shape_with_a_request_id_and_no_trace(backend: Backend, tmp_path: Path) -> None:
    settings = make_settings(backend, tmp_path, database_url="postgresql+psycopg://nobody@127.0.0.1:1/none")
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        response = client.get("/v1/contacts", headers={"Authorization": "Bearer pulse_abcd_efgh"})
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert error["code"] == "internal_error"
    assert error["request_id"] == response.headers["X-Request-ID"]
    assert "Traceback" not in response.text and "psycopg" not in response.text


def test_campaign_dates_and_periods_outside_any_sane_range_are_refused(client: TestClient, auth: Auth) -> None:
    headers = auth(Role.OPS)
    base = {"name": "x", "survey": {"kind": "nps"}, "audience": {"contact_ids": [1]}}
    for changes, field in (
        ({"mode": "continuous", "period_days": 10**15}, "period_days"),
        ({"send_at": "9999-12-31T23:00:00+00:00"}, "send_at"),
        ({"send_at": "0001-01-01T00:00:00-05:00"}, "send_at"),
        ({"survey": {"kind": "nps", "deadline": "9999-12-31"}}, "survey.deadline"),
    ):
        response = client.post("/v1/campaigns", json={**base, **changes}, headers=headers)
        assert response.status_code == 422, (changes, response.text)
        assert _field(response) == field
    since = client.get("/v1/contacts", params={"updated_since": "9999-12-31T23:59:59-05:00"}, headers=headers)
    assert since.status_code == 422 and _field(since) == "updated_since"
