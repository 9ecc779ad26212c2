"""One bad row is that row's error: the rest of the bulk call or the file is kept."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient

from campaigns.access.models import Role

Auth = Callable[[Role], dict[str, str]]


def test_a_blank_name_for_an_existing_account_is_that_rows_error(client: TestClient, auth: Auth) -> None:
    headers = auth(Role.OPS)
    client.post("/v1/accounts/bulk", json={"items": [{"external_id": "a1", "name": "Acme"}]}, headers=headers)
    response = client.post("/v1/accounts/bulk", json={"items": [{"external_id": "a1", "name": " "}, {"external_id": "a2", "name": "Beta"}]}, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["inserted"] == 1
    assert [(e["row"], e["field"]) for e in response.json()["errors"]] == [(1, "name")]
    upload = client.post("/v1/accounts/import", files={"file": ("a.csv", b"external_id,name\na1,\na3,Gamma\n", "text/csv")}, headers=headers)
    assert upload.status_code == 200, upload.text
    assert upload.json()["inserted"] == 1 and [e["field"] for e in upload.json()["errors"]] == ["name"]


def test_dates_at_the_edge_of_the_range_with_an_offset_are_that_rows_error(client: TestClient, auth: Auth) -> None:
    headers = auth(Role.OPS)
    csv = (b"external_id,last_seen_at\n"
           b"c1,9999-12-31T23:59:59-05:00\n"
           b"c2,0001-01-01T00:00:00+05:00\n"
           b"c3,2026-01-05T10:00:00+01:00\n")
    response = client.post("/v1/contacts/import", files={"file": ("c.csv", csv, "text/csv")}, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["inserted"] == 1
    assert [(e["row"], e["field"]) for e in response.json()["errors"]] == [(2, "last_seen_at"), (3, "last_seen_at")]
    bulk = client.post("/v1/contacts/bulk", json={"items": [{"external_id": "c4", "last_seen_at": "9999-12-31T23:59:59-05:00"}]}, headers=headers)
    assert bulk.status_code in (200, 422), bulk.text


def test_attributes_and_header_columns_are_capped_with_a_clear_error(client: TestClient, auth: Auth) -> None:
    headers = auth(Role.OPS)
    many = {f"k{i}": i for i in range(101)}
    response = client.post("/v1/contacts/bulk", json={"items": [{"external_id": "c1", "attributes": many}, {"external_id": "c2"}]}, headers=headers)
    assert response.status_code == 200 and response.json()["inserted"] == 1
    assert response.json()["errors"][0]["field"] == "attributes"
    header = "external_id," + ",".join(f"col{i}" for i in range(100_000))
    upload = client.post("/v1/contacts/import", files={"file": ("c.csv", header.encode() + b"\n", "text/csv")}, headers=headers)
    assert upload.status_code == 422
    assert len(upload.content) < 2000 and "at most" in upload.json()["error"]["message"]


def test_search_treats_percent_and_underscore_as_text(client: TestClient, auth: Auth) -> None:
    headers = auth(Role.OPS)
    client.post("/v1/contacts/bulk", json={"items": [{"external_id": "c1", "name": "Ana"}, {"external_id": "c2", "name": "100% Bo_b"}]}, headers=headers)
    names = lambda q: [c["name"] for c in client.get("/v1/contacts", params={"q": q}, headers=headers).json()["items"]]
    assert names("%") == ["100% Bo_b"]
    assert names("_") == ["100% Bo_b"]
    assert names("a") == ["Ana"]
