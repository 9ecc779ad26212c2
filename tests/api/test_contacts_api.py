"""/v1/contacts and /v1/accounts over HTTP: upsert, list, page, patch, erase, uploads."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from campaigns.access.models import Role
from campaigns.people.models import Contact
from tests import factories

Auth = Callable[[Role], dict[str, str]]


def test_json_bulk_upsert_inserts_then_updates(client: TestClient, auth: Auth) -> None:
    headers = auth(Role.OPS)
    body = {"items": [{"external_id": "c1", "email": "a@example.com", "timezone": "Europe/Berlin"}, {"external_id": "c2"}]}
    first = client.post("/v1/contacts/bulk", json=body, headers=headers)
    second = client.post("/v1/contacts/bulk", json={"items": [{"external_id": "c1", "name": "Ana"}]}, headers=headers)

    assert first.status_code == 200, first.text
    assert first.json() == {"inserted": 2, "updated": 0, "unchanged": 0, "errors": []}
    assert second.json()["updated"] == 1
    listed = client.get("/v1/contacts", headers=headers).json()["items"]
    assert [(c["external_id"], c["name"], c["timezone"]) for c in listed] == [("c1", "Ana", "Europe/Berlin"), ("c2", None, "UTC")]


def test_json_bulk_reports_bad_items_and_keeps_good_ones(client: TestClient, auth: Auth) -> None:
    body = {"items": [{"external_id": "ok"}, {"external_id": "bad", "phone": "12"}]}
    response = client.post("/v1/contacts/bulk", json=body, headers=auth(Role.OPS))
    assert response.status_code == 200
    assert response.json()["inserted"] == 1
    assert [(e["row"], e["field"]) for e in response.json()["errors"]] == [(2, "phone")]


def test_wrong_type_is_422_naming_the_field(client: TestClient, auth: Auth) -> None:
    body = {"items": [{"external_id": "c1"}, {"external_id": "c2", "attributes": "not-an-object"}]}
    response = client.post("/v1/contacts/bulk", json=body, headers=auth(Role.OPS))
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_request"
    assert error["fields"][0]["field"] == "items[1].attributes"
    assert client.get("/v1/contacts", headers=auth(Role.VIEWER)).json()["items"] == []


def test_unknown_field_and_oversized_batch_are_refused(client: TestClient, auth: Auth) -> None:
    headers = auth(Role.OPS)
    typo = client.post("/v1/contacts/bulk", json={"items": [{"external_id": "c1", "emial": "x"}]}, headers=headers)
    assert typo.status_code == 422 and typo.json()["error"]["fields"][0]["field"] == "items[0].emial"
    too_many = client.post("/v1/contacts/bulk", json={"items": [{"external_id": f"c{i}"} for i in range(10_001)]}, headers=headers)
    assert too_many.status_code == 422 and too_many.json()["error"]["fields"][0]["field"] == "items"


def test_list_filters_and_cursor_paging(client: TestClient, auth: Auth, session: Session) -> None:
    enterprise = factories.account(session, segment="enterprise", tier="platinum")
    smb = factories.account(session, segment="smb")
    for i in range(5):
        factories.contact(session, account=enterprise, role="admin" if i % 2 else "user", external_id=f"e{i}")
    factories.contact(session, account=smb, external_id="s0")
    session.commit()
    headers = auth(Role.VIEWER)

    seen, cursor = [], None
    while True:
        params = {"segment": "enterprise", "limit": 2} | ({"cursor": cursor} if cursor else {})
        page = client.get("/v1/contacts", params=params, headers=headers).json()
        seen += [c["external_id"] for c in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == ["e0", "e1", "e2", "e3", "e4"]
    admins = client.get("/v1/contacts", params={"segment": "enterprise", "role": "admin"}, headers=headers).json()
    assert [c["external_id"] for c in admins["items"]] == ["e1", "e3"]
    bad = client.get("/v1/contacts", params={"cursor": "nonsense"}, headers=headers)
    assert bad.status_code == 422 and bad.json()["error"]["fields"][0]["field"] == "cursor"


def test_patch_checks_fields_like_an_import(client: TestClient, auth: Auth, session: Session) -> None:
    contact = factories.contact(session)
    session.commit()
    headers = auth(Role.OPS)
    ok = client.patch(f"/v1/contacts/{contact.id}", json={"phone": "+44 20 7946 0958", "locale": "de"}, headers=headers)
    assert ok.status_code == 200 and ok.json()["phone"] == "+442079460958"
    bad = client.patch(f"/v1/contacts/{contact.id}", json={"timezone": "Atlantis/Sunk"}, headers=headers)
    assert bad.status_code == 422 and bad.json()["error"]["fields"] == [{"field": "timezone", "reason": bad.json()["error"]["fields"][0]["reason"]}]
    assert client.get(f"/v1/contacts/{contact.id}", headers=headers).json()["timezone"] == "UTC"
    missing = client.patch("/v1/contacts/999999", json={"name": "x"}, headers=headers)
    assert missing.status_code == 404


def test_erase_removes_personal_data_and_keeps_the_row(client: TestClient, auth: Auth, session: Session) -> None:
    contact = factories.contact(session, name="Ana Lima", email="ana@example.com", phone="+14155550100", attributes={"nps_last": 9})
    account_id, external_id = contact.account_id, contact.external_id
    session.commit()
    headers = auth(Role.OPS)

    assert client.delete(f"/v1/contacts/{contact.id}", headers=headers).status_code == 204
    assert client.get(f"/v1/contacts/{contact.id}", headers=headers).status_code == 404
    assert client.get("/v1/contacts", params={"email": "ana@example.com"}, headers=headers).json()["items"] == []
    session.expire_all()
    row = session.get_one(Contact, contact.id)
    assert (row.name, row.email, row.phone, row.attributes) == (None, None, None, {})
    assert row.erased_at is not None and row.account_id == account_id  # still counted for its account
    assert row.external_id != external_id
    reimport = client.post("/v1/contacts/bulk", json={"items": [{"external_id": external_id}]}, headers=headers)
    assert reimport.json()["inserted"] == 1  # the same person imported again starts afresh


def test_csv_upload_keeps_good_rows_and_reports_bad_ones(client: TestClient, auth: Auth) -> None:
    csv_text = "external_id,email,timezone\nc1,a@example.com,UTC\nc2,broken,UTC\nc3,c@example.com,Nowhere/Land\n"
    response = client.post("/v1/contacts/import", files={"file": ("contacts.csv", csv_text, "text/csv")}, headers=auth(Role.OPS))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["inserted"] == 1
    assert [(e["row"], e["field"]) for e in body["errors"]] == [(3, "email"), (4, "timezone")]


def test_upload_that_is_not_csv_is_refused_with_nothing_written(client: TestClient, auth: Auth, session: Session) -> None:
    headers = auth(Role.OPS)
    xlsx = client.post("/v1/contacts/import", files={"file": ("contacts.xlsx", b"PK\x03\x04" + bytes(100), "application/octet-stream")}, headers=headers)
    assert xlsx.status_code == 415 and xlsx.json()["error"]["code"] == "not_csv"
    binary = client.post("/v1/contacts/import", files={"file": ("contacts.csv", b"external_id\nc1\n\x00\x01\x02", "text/csv")}, headers=headers)
    assert binary.status_code == 415
    header = client.post("/v1/contacts/import", files={"file": ("c.csv", "id,mail\n1,x\n", "text/csv")}, headers=headers)
    assert header.status_code == 422 and "external_id" in header.json()["error"]["message"]
    assert session.scalars(select(Contact)).all() == []


def test_upload_declared_too_large_is_413(client: TestClient, auth: Auth) -> None:
    for declared in (str(2 << 30), "9" * 5000):  # 5,000 digits are more than int() reads: was a 500
        response = client.post(
            "/v1/contacts/import", content=b"x", headers={**auth(Role.OPS), "Content-Length": declared, "Content-Type": "multipart/form-data; boundary=x"}
        )
        assert response.status_code == 413


def test_accounts_bulk_and_csv(client: TestClient, auth: Auth, session: Session) -> None:
    factories.team_member(session, email="owner@example.com")
    session.commit()
    headers = auth(Role.ADMIN)
    bulk = client.post("/v1/accounts/bulk", json={"items": [{"external_id": "a1", "name": "Acme", "owner_email": "owner@example.com", "renewal_on": "2026-09-01"}]}, headers=headers)
    assert bulk.json() == {"inserted": 1, "updated": 0, "unchanged": 0, "errors": []}
    upload = client.post("/v1/accounts/import", files={"file": ("a.csv", "external_id,tier\na1,gold\na2,silver\n", "text/csv")}, headers=headers)
    assert upload.json()["updated"] == 1
    assert [(e["external_id"], e["field"]) for e in upload.json()["errors"]] == [("a2", "name")]
    accounts = client.get("/v1/accounts", headers=headers).json()["items"]
    assert [(a["external_id"], a["tier"], a["owner_email"]) for a in accounts] == [("a1", "gold", "owner@example.com")]


def test_chunked_body_over_the_limit_is_413_before_any_write(client: TestClient, auth: Auth, session: Session) -> None:
    def chunks():  # no Content-Length: counted as it arrives
        yield b'{"items": [{"external_id": "c1"}], "pad": "'
        for _ in range(33):
            yield b"x" * (1 << 20)
        yield b'"}'

    response = client.post("/v1/contacts/bulk", content=chunks(), headers={**auth(Role.OPS), "Content-Type": "application/json"})
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "body_too_large"
    assert session.scalars(select(Contact)).all() == []
