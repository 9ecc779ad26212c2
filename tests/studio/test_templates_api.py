"""/v1/templates: roles, drafts, versions, revert, rollback, validation, campaign overrides, as-sent."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from campaigns.access.models import Role
from campaigns.programs.models import Message, MessageContent
from dispatcher.runtime.core import Runtime
from templates import TemplateKey
from tests import factories

Auth = Callable[[Role], dict[str, str]]
INVITE_DE = "/v1/templates/email/csat/invite/de"
INVITE_EN = "/v1/templates/email/csat/invite/en"


def publish_subject(client: TestClient, headers: dict[str, str], path: str, subject: str, note: str = "new words") -> dict:
    saved = client.put(path + "/draft", json={"parts": {"subject": subject}}, headers=headers)
    assert saved.status_code == 200, saved.text
    published = client.post(path + "/publish", json={"note": note}, headers=headers)
    assert published.status_code == 200, published.text
    return published.json()


def send_csat(client: TestClient, auth: Auth, session: Session, locale: str = "de") -> Message:
    session.commit()  # end the read snapshot before writing (SQLite)
    contact = factories.contact(session, locale=locale)
    session.commit()
    sent = client.post("/v1/surveys/send", json={"contact_id": contact.id, "kind": "csat", "trigger": "ticket_closed"}, headers=auth(Role.OPS))
    assert sent.status_code == 202, sent.text
    session.expire_all()
    return session.get_one(Message, sent.json()["message_id"])


def subject_of(session: Session, message: Message) -> str | None:
    return session.get_one(MessageContent, message.content_id).subject


def test_a_marketer_edits_and_publishes_and_the_next_send_uses_it(client: TestClient, auth: Auth, session: Session) -> None:
    marketer = auth(Role.MARKETER)
    version = publish_subject(client, marketer, INVITE_DE, "Ihre Meinung zu {{ company_name }}?")

    assert version["version"] == 1 and version["note"] == "new words" and "marketer" in version["author"]
    assert version["published_at"]
    message = send_csat(client, auth, session)
    assert subject_of(session, message) == "Ihre Meinung zu Acme?"
    listed = client.get("/v1/templates?channel=email&kind=csat&locale=de", headers=marketer).json()["items"]
    row = next(r for r in listed if r["step"] == "invite")
    assert (row["status"], row["draft_pending"], row["version"]) == ("edited", False, 1)
    assert next(r for r in listed if r["step"] == "reminder")["status"] == "default"


def test_roles_ops_and_viewers_read_but_cannot_change_templates(client: TestClient, auth: Auth) -> None:
    for role in (Role.OPS, Role.VIEWER):
        headers = auth(role)
        assert client.get(INVITE_DE, headers=headers).status_code == 200
        assert client.get("/v1/templates", headers=headers).status_code == 200
        refused = client.put(INVITE_DE + "/draft", json={"parts": {"subject": "x"}}, headers=headers)
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
        assert client.post(INVITE_DE + "/publish", json={}, headers=headers).status_code == 403
        assert client.post(INVITE_DE + "/revert", json={}, headers=headers).status_code == 403
    assert client.get(INVITE_DE).status_code == 401
    admin = auth(Role.ADMIN)
    assert client.put(INVITE_DE + "/draft", json={"parts": {"subject": "x"}}, headers=admin).status_code == 200


def test_a_draft_is_pending_until_published_and_sending_ignores_it(client: TestClient, auth: Auth, session: Session) -> None:
    marketer = auth(Role.MARKETER)
    client.put(INVITE_DE + "/draft", json={"parts": {"subject": "Nur ein Entwurf"}}, headers=marketer)

    detail = client.get(INVITE_DE, headers=marketer).json()
    assert detail["status"] == "default" and detail["draft_pending"] is True
    assert detail["draft"] == {"subject": "Nur ein Entwurf"}
    assert detail["locale_chain"] == ["de", "en"]
    assert subject_of(session, send_csat(client, auth, session)) != "Nur ein Entwurf"


def test_history_diff_rollback_and_revert(client: TestClient, auth: Auth, session: Session) -> None:
    marketer = auth(Role.MARKETER)
    publish_subject(client, marketer, INVITE_EN, "First {{ company_name }}", note="one")
    publish_subject(client, marketer, INVITE_EN, "Second {{ company_name }}", note="two")

    history = client.get(INVITE_EN + "/history", headers=marketer).json()["items"]
    assert [(v["version"], v["note"]) for v in history] == [(2, "two"), (1, "one")]
    diff = client.get(INVITE_EN + "/diff?from=1&to=2", headers=marketer).json()["parts"]
    assert set(diff) == {"subject"} and "-First" in diff["subject"] and "+Second" in diff["subject"]
    against_default = client.get(INVITE_EN + "/diff?from=default&to=current", headers=marketer).json()["parts"]
    assert "+Second {{ company_name }}" in against_default["subject"]

    rolled = client.post(INVITE_EN + "/rollback", json={"version": 1}, headers=marketer).json()
    assert (rolled["version"], rolled["action"], rolled["parts"]) == (3, "rollback", {"subject": "First {{ company_name }}"})
    assert subject_of(session, send_csat(client, auth, session, locale="en")) == "First Acme"

    reverted = client.post(INVITE_EN + "/revert", json={}, headers=marketer).json()
    assert (reverted["version"], reverted["action"], reverted["parts"]) == (4, "revert", {})
    assert subject_of(session, send_csat(client, auth, session, locale="en")) == "One quick question from Acme"
    assert client.get(INVITE_EN + "/history", headers=marketer).json()["items"][-1]["parts"] == {"subject": "First {{ company_name }}"}
    assert client.post(INVITE_EN + "/rollback", json={"version": 9}, headers=marketer).status_code == 404


def test_publish_is_refused_with_the_line_and_a_sentence(client: TestClient, auth: Auth) -> None:
    marketer = auth(Role.MARKETER)
    client.put(INVITE_DE + "/draft", json={"parts": {"txt": "{{ recipient.greeting }}\n{{ answer_url }}\n{{ recipient.answer_url }} {{ recipient.unsubscribe_url }}"}}, headers=marketer)

    refused = client.post(INVITE_DE + "/publish", json={}, headers=marketer)

    assert refused.status_code == 422
    error = refused.json()["error"]
    assert error["code"] == "template_invalid"
    assert error["findings"] == [{
        "part": "txt", "line": 2, "code": "unknown_variable", "severity": "error", "column": None,
        "message": "'answer_url' is not available in the invite template; see the variables list for what is",
    }]
    assert client.get(INVITE_DE + "/history", headers=marketer).json()["items"] == []


def test_validate_reports_every_rule(client: TestClient, auth: Auth) -> None:
    headers = auth(Role.MARKETER)

    def codes(path: str, parts: dict[str, str]) -> set[str]:
        response = client.post(path + "/validate", json={"parts": parts}, headers=headers)
        assert response.status_code == 200, response.text
        return {f["code"] for f in response.json()["findings"]}

    assert codes(INVITE_EN, {"subject": "{% if x %}"}) == {"syntax"}
    assert codes(INVITE_EN, {"html": "<p>{{ recipient.greeting }}</p>"}) == {"missing_scale", "missing_unsubscribe"}
    assert codes(INVITE_EN, {"txt": "{{ question }}"}) == {"missing_answer_link", "missing_unsubscribe"}
    assert "html_not_well_formed" in codes(INVITE_EN, {"html": '{% extends "email/_layout.html" %}{% block body %}<div><p>Hi</div>{% include "email/_scale.html" %}{% endblock %}'})
    assert codes(INVITE_EN, {"subject": "{{ question }} — {{ question }} — {{ question }}"}) == {"subject_too_long"}  # over 78 with the configured company name, as the preview shows it
    assert codes("/v1/templates/sms/nps/invite/en", {"txt": "{{ question }} Reply 0-10."}) == {"missing_opt_out", "sms_segments"}
    long_sms = codes("/v1/templates/sms/nps/reminder/en", {"txt": "Ünïcödé ✓ " + "{{ question }} " * 3})
    assert {"sms_segments", "sms_too_long", "ucs2_character"} <= long_sms


def test_validation_lists_ucs2_characters_with_line_and_column(client: TestClient, auth: Auth) -> None:
    response = client.post("/v1/templates/sms/nps/reminder/en/validate", json={"parts": {"txt": "Hi\nThanks ✓ {{ question }} Reply STOP to opt out"}}, headers=auth(Role.MARKETER))
    ucs2 = [f for f in response.json()["findings"] if f["code"] == "ucs2_character"]
    assert [(f["line"], f["column"]) for f in ucs2] == [(2, 8)]
    assert "U+2713" in ucs2[0]["message"] and ucs2[0]["severity"] == "warning"


def test_a_campaigns_own_text_wins_for_that_campaign_only(client: TestClient, auth: Auth, session: Session, runtime: Runtime) -> None:
    marketer = auth(Role.MARKETER)
    publish_subject(client, marketer, INVITE_DE, "Für alle: {{ company_name }}")
    first = send_csat(client, auth, session)
    campaign_id = first.campaign_id
    saved = client.put(INVITE_DE + f"/draft?campaign_id={campaign_id}", json={"parts": {"subject": "Nur diese Kampagne"}}, headers=marketer)
    assert saved.status_code == 200
    assert client.post(INVITE_DE + f"/publish?campaign_id={campaign_id}", json={}, headers=marketer).status_code == 200

    scoped = client.get(INVITE_DE + f"?campaign_id={campaign_id}", headers=marketer).json()
    everyone = client.get(INVITE_DE, headers=marketer).json()
    assert scoped["sources"]["subject"] == "Nur diese Kampagne"
    assert everyone["sources"]["subject"] == "Für alle: {{ company_name }}"
    again = send_csat(client, auth, session)  # transactional CSAT: the same campaign again
    assert again.campaign_id == campaign_id and subject_of(session, again) == "Nur diese Kampagne"
    assert client.get(INVITE_DE + "?campaign_id=999999", headers=marketer).status_code == 404


def test_a_sent_message_renders_again_exactly_as_sent_after_later_edits(client: TestClient, auth: Auth, session: Session) -> None:
    marketer = auth(Role.MARKETER)
    publish_subject(client, marketer, INVITE_DE, "Version eins, {{ company_name }}")
    message = send_csat(client, auth, session)
    publish_subject(client, marketer, INVITE_DE, "Version zwei")
    client.post(INVITE_DE + "/revert", json={}, headers=marketer)

    shown = client.get(f"/v1/templates/sent/{message.id}", headers=auth(Role.VIEWER)).json()

    assert shown["stored"]["subject"] == "Version eins, Acme"
    assert shown["identical"] is True and shown["rerendered"] == shown["stored"]
    assert [v["version"] for v in shown["versions"]] == [1]


def test_german_emails_are_signed_in_german_and_names_are_per_locale(client: TestClient, auth: Auth, session: Session) -> None:
    message = send_csat(client, auth, session, locale="de")
    assert "Ihr Customer-Success-Team von Acme" in session.get_one(MessageContent, message.content_id).text

    put = client.put("/v1/templates/locales/de", json={"company_name": "Acme GmbH", "sender_name": "Ihr Acme-Team", "support_contact": "hilfe@acme.example"}, headers=auth(Role.MARKETER))
    assert put.status_code == 200, put.text
    again = send_csat(client, auth, session, locale="de-AT")
    content = session.get_one(MessageContent, again.content_id)
    assert "Ihr Acme-Team" in content.text and content.subject == "Eine kurze Frage von Acme GmbH"
    english = send_csat(client, auth, session, locale="en")
    assert "The Acme Customer Success team" in session.get_one(MessageContent, english.content_id).text


def test_a_language_without_templates_is_warned_about_and_creating_one_adds_it(client: TestClient, auth: Auth, session: Session) -> None:
    factories.contact(session, locale="fr")
    factories.contact(session, locale="fr-CA")
    session.commit()
    headers = auth(Role.MARKETER)
    fr = next(r for r in client.get("/v1/templates/locales", headers=headers).json()["items"] if r["locale"] == "fr")
    assert fr["warning"] and "English" in fr["warning"] and fr["chain"] == ["fr", "en"]

    publish_subject(client, headers, "/v1/templates/email/csat/invite/fr", "Une question de {{ company_name }}")

    fr = next(r for r in client.get("/v1/templates/locales", headers=headers).json()["items"] if r["locale"] == "fr")
    assert fr["warning"] is None and fr["templates_from"] == "fr"
    keys = client.get("/v1/templates?locale=fr", headers=headers).json()["items"]
    assert [(k["channel"], k["step"], k["status"]) for k in keys] == [("email", "invite", "edited")]
    assert subject_of(session, send_csat(client, auth, session, locale="fr-CA")) == "Une question de Acme"


def test_preview_uses_unsaved_text_and_a_real_contacts_name_without_sending(client: TestClient, auth: Auth, session: Session, runtime: Runtime) -> None:
    contact = factories.contact(session, name="Jürgen Weber", locale="de")
    session.commit()
    response = client.post(INVITE_DE + "/preview", json={"parts": {"subject": "Hallo {{ recipient.first_name }}"}, "contact_id": contact.id}, headers=auth(Role.MARKETER))
    assert response.status_code == 200, response.text
    assert response.json()["subject"] == "Hallo Jürgen"
    assert "Jürgen" in response.json()["html"]
    assert session.scalar(select(Message.id)) is None


def test_the_sms_length_the_checks_give_is_the_one_the_preview_counts(client: TestClient, auth: Auth) -> None:
    """The checks fill in the same sample data as the preview (the configured company name): one editor
    must not say "2 segments, 177 units" beside a preview counting "1 segment, 157 units"."""
    response = client.post("/v1/templates/sms/nps/invite/de/preview", json={"parts": {}}, headers=auth(Role.MARKETER))
    assert response.status_code == 200, response.text
    counted = response.json()["sms"]
    note = next(f["message"] for f in response.json()["findings"] if f["code"] == "sms_segments")
    segments = f"{counted['segments']} segment{'s' if counted['segments'] != 1 else ''}"
    assert note.startswith(f"{segments} ({counted['encoding']}, {counted['units']} units"), (note, counted)


def test_test_send_goes_to_me_through_the_outbox_never_to_a_contact(client: TestClient, auth: Auth, session: Session, runtime: Runtime) -> None:
    factories.contact(session, email="customer@example.com")
    session.commit()
    headers = auth(Role.MARKETER)
    client.put(INVITE_DE + "/draft", json={"parts": {"subject": "Test {{ company_name }}"}}, headers=headers)

    refused = client.post(INVITE_DE + "/test-send", json={"to": "Customer@example.com"}, headers=headers)
    sent = client.post(INVITE_DE + "/test-send", json={"to": "marketer@acme.example"}, headers=headers)

    assert refused.status_code == 422 and refused.json()["error"]["fields"][0]["field"] == "to"
    assert sent.status_code == 200, sent.text
    files = [p.read_text(errors="replace") for p in runtime.settings.outbox_dir.rglob("*") if p.is_file()]
    assert len(files) == 1 and "marketer@acme.example" in files[0] and "[Test] Test Acme" in files[0]
    assert session.scalar(select(Message.id)) is None


def test_bad_keys_are_named(client: TestClient, auth: Auth) -> None:
    headers = auth(Role.MARKETER)
    assert client.get("/v1/templates/fax/nps/invite/en", headers=headers).json()["error"]["fields"][0]["field"] == "channel"
    assert client.get("/v1/templates/email/nps/summary_x/en", headers=headers).json()["error"]["fields"][0]["field"] == "step"
    assert client.get("/v1/templates/email/nps/invite/not a locale!", headers=headers).json()["error"]["fields"][0]["field"] == "locale"
    bad_part = client.put(INVITE_EN + "/draft", json={"parts": {"mrkdwn": "x"}}, headers=headers)
    assert bad_part.status_code == 422 and bad_part.json()["error"]["fields"][0]["field"] == "parts.mrkdwn"


def test_publishing_reloads_the_runtime_renderers_snapshot(runtime: Runtime, client: TestClient, auth: Auth, session: Session) -> None:
    # Other processes reload within a second: when the count of published versions changes.
    snapshot = runtime.published_templates.snapshot()
    publish_subject(client, auth(Role.MARKETER), INVITE_EN, "Fresh")
    assert runtime.published_templates.snapshot() is not snapshot
    assert runtime.renderer.source(TemplateKey("email", "csat", "invite", "en"))["subject"] == "Fresh"


def test_a_hanging_template_is_a_finding_and_the_api_keeps_answering(client: TestClient, auth: Auth) -> None:
    headers = auth(Role.MARKETER)
    loop = "{% for i in range(99999) %}{% for j in range(99999) %}{% endfor %}{% endfor %}"

    response = client.post(INVITE_EN + "/validate", json={"parts": {"subject": loop}}, headers=headers)

    assert response.status_code == 200
    [finding] = response.json()["findings"]
    assert (finding["part"], finding["code"]) == ("subject", "render_error")
    assert "longer than" in finding["message"]
    assert client.get(INVITE_EN, headers=headers).status_code == 200


def test_a_text_nested_too_deeply_is_a_syntax_finding_not_a_500(client: TestClient, auth: Auth) -> None:
    headers = auth(Role.MARKETER)
    deep = {"subject": "{{ " + "(" * 200 + "1" + ")" * 200 + " }}", "txt": "{{ 'x'" + "|upper" * 3000 + " }}"}

    for path in ("/validate", "/preview"):
        response = client.post(INVITE_EN + path, json={"parts": deep}, headers=headers)
        assert response.status_code == 200, (path, response.text[:300])
        findings = {f["part"]: f for f in response.json()["findings"]}
        assert {findings[p]["code"] for p in deep} == {"syntax"}
        assert "more than 40 levels deep" in findings["subject"]["message"]
    saved = client.put(INVITE_EN + "/draft", json={"parts": deep}, headers=headers)
    assert saved.status_code == 200, saved.text[:300]
    refused = client.post(INVITE_EN + "/publish", json={}, headers=headers)
    assert refused.status_code == 422, refused.text[:300]
    assert client.get(INVITE_EN + "/history", headers=headers).json()["items"] == []


def test_ids_and_version_numbers_no_column_holds_are_422_naming_the_field(client: TestClient, auth: Auth) -> None:
    """Each was a 500 on PostgreSQL (integer out of range), or on both backends ("²", 5,000 nines)."""
    headers = auth(Role.MARKETER)
    huge = 2**40
    for method, path, body, field in (
        ("get", f"{INVITE_EN}/history?campaign_id={huge}", None, "campaign_id"),
        ("get", f"{INVITE_EN}/diff?from={huge}", None, "from"),
        ("get", f"{INVITE_EN}/diff?from=%C2%B2", None, "from"),
        ("get", f"{INVITE_EN}/diff?to={'9' * 5000}", None, "to"),
        ("post", f"{INVITE_EN}/preview", {"contact_id": huge}, "contact_id"),
        ("post", f"{INVITE_EN}/test-send", {"to": "me@example.com", "contact_id": huge}, "contact_id"),
        ("post", f"{INVITE_EN}/rollback", {"version": huge}, "version"),
    ):
        response = client.request(method, path, json=body, headers=headers)
        assert response.status_code == 422, (path[:80], response.text[:300])
        assert response.json()["error"]["fields"][0]["field"] == field
    assert client.get(INVITE_EN + "/history", headers=headers).json()["items"] == []
