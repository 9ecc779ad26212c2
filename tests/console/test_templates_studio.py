"""/console/templates: the same sign-in, roles and CSRF as the rest of the console."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from campaigns.programs import service as programs
from dispatcher.runtime.core import Runtime
from tests import factories
from tests.console.helpers import member, sign_in

EDITOR_API = "/console/templates/api/email/nps/invite/de"


def test_the_studio_needs_a_signed_in_member(browser_client: TestClient) -> None:
    response = browser_client.get("/console/templates", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].startswith("/console/sign-in?next=")


def test_a_marketer_saves_previews_and_publishes_through_the_page(browser_client: TestClient, runtime: Runtime, session: Session) -> None:
    marketer = member(session, "marketer")
    token = sign_in(browser_client, runtime, marketer.email)
    page = browser_client.get("/console/templates/email/nps/invite/de")
    assert page.status_code == 200 and "vendor/codemirror/codemirror.js" in page.text and "Fallback:" in page.text
    assert browser_client.get("/console/static/vendor/codemirror/codemirror.js").status_code == 200

    refused = browser_client.post(EDITOR_API + "/draft", json={"parts": {"subject": "Hallo"}})
    assert refused.status_code == 403  # no CSRF token
    headers = {"X-CSRF-Token": token}
    preview = browser_client.post(EDITOR_API + "/preview", json={"parts": {"subject": "Hallo {{ company_name }}"}}, headers=headers)
    assert preview.json()["subject"] == "Hallo Acme"
    assert browser_client.post(EDITOR_API + "/draft", json={"parts": {"subject": "Hallo {{ company_name }}"}}, headers=headers).status_code == 200
    published = browser_client.post(EDITOR_API + "/publish", json={"note": "kürzer"}, headers=headers)

    assert published.status_code == 200 and published.json()["version"] == 1
    assert marketer.email in published.json()["author"]
    history = browser_client.get(EDITOR_API + "/history").json()["items"]
    assert [(v["version"], v["note"]) for v in history] == [(1, "kürzer")]
    listing = browser_client.get("/console/templates?channel=email&kind=nps&locale=de")
    assert "edited v1" in listing.text


@pytest.mark.parametrize("role", ["ops", "viewer"])
def test_ops_and_viewers_read_the_studio_but_cannot_change_it(browser_client: TestClient, runtime: Runtime, session: Session, role: str) -> None:
    person = member(session, role)
    token = sign_in(browser_client, runtime, person.email)
    page = browser_client.get("/console/templates/email/nps/invite/de")
    assert page.status_code == 200 and "can read templates" in page.text
    headers = {"X-CSRF-Token": token}
    assert browser_client.post(EDITOR_API + "/preview", json={}, headers=headers).status_code == 200
    for action in ("/draft", "/publish", "/revert", "/test-send"):
        assert browser_client.post(EDITOR_API + action, json={"parts": {"subject": "x"}}, headers=headers).status_code == 403


def test_the_list_warns_about_a_language_without_templates_and_saves_per_locale_names(browser_client: TestClient, runtime: Runtime, session: Session) -> None:
    factories.contact(session, locale="pt-BR")
    marketer = member(session, "marketer")
    token = sign_in(browser_client, runtime, marketer.email)

    listing = browser_client.get("/console/templates")
    assert "contacts use pt-BR, which has no templates" in listing.text
    saved = browser_client.post("/console/templates/locales", data={"csrf_token": token, "locale": "de", "sender_name": "Ihr Acme-Team"}, follow_redirects=False)
    assert saved.status_code == 303
    assert "Ihr Acme-Team" in browser_client.get("/console/templates").text


def test_a_nul_in_a_form_field_is_refused_naming_the_field(browser_client: TestClient, runtime: Runtime, session: Session) -> None:
    """Stored on SQLite, a 500 on PostgreSQL: form fields get the edge's checks as JSON bodies do."""
    token = sign_in(browser_client, runtime, member(session, "marketer").email)

    refused = browser_client.post("/console/templates/locales", data={"csrf_token": token, "locale": "de", "sender_name": "Zyxw\x00 Team"}, follow_redirects=False)

    assert refused.status_code == 422, refused.text[:300]
    assert refused.json()["error"]["fields"] == [{"field": "sender_name", "reason": "contains a NUL character"}]
    assert "Zyxw" not in browser_client.get("/console/templates").text


def test_a_campaigns_own_text_is_edited_in_the_same_editor(browser_client: TestClient, runtime: Runtime, session: Session) -> None:
    with runtime.sessions() as writer:
        campaign = programs.create_campaign(writer, spec={"name": "Q3 NPS", "survey": {"kind": "nps"}, "audience": {"filter": {"segment": ["smb"]}}}, now=runtime.clock.now())
        writer.commit()
        campaign_id = campaign.id
    marketer = member(session, "marketer")
    headers = {"X-CSRF-Token": sign_in(browser_client, runtime, marketer.email)}
    page = browser_client.get(f"/console/templates/email/nps/invite/de?campaign_id={campaign_id}")
    assert page.status_code == 200 and "only “Q3 NPS”" in page.text

    browser_client.post(EDITOR_API + f"/draft?campaign_id={campaign_id}", json={"parts": {"subject": "Nur Q3"}}, headers=headers)
    published = browser_client.post(EDITOR_API + f"/publish?campaign_id={campaign_id}", json={}, headers=headers)

    assert published.status_code == 200
    assert [v["parts"] for v in browser_client.get(EDITOR_API + f"/history?campaign_id={campaign_id}").json()["items"]] == [{"subject": "Nur Q3"}]
    assert browser_client.get(EDITOR_API + "/history").json()["items"] == []


def test_the_editors_calls_refuse_bad_bodies_by_field_as_the_api_does(browser_client: TestClient, runtime: Runtime, session: Session) -> None:
    marketer = member(session, "marketer")
    headers = {"X-CSRF-Token": sign_in(browser_client, runtime, marketer.email)}
    bad_contact = browser_client.post(EDITOR_API + "/test-send", json={"contact_id": "someone"}, headers=headers)
    assert bad_contact.status_code == 422 and bad_contact.json()["error"]["fields"][0]["field"] == "contact_id"
    too_long = browser_client.post(EDITOR_API + "/preview", json={"parts": {"subject": "x" * 200_001}}, headers=headers)
    assert too_long.status_code == 422 and too_long.json()["error"]["fields"][0]["field"] == "parts.subject"
    assert browser_client.get(EDITOR_API + "/history").json()["items"] == []  # nothing was published on the way
