"""Channel choice from outside: messages with their reasons, progress by medium, a contact's channels, preview."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from campaigns.access.models import Role
from campaigns.events.service import add_evidence
from campaigns.people.models import Contact
from campaigns.programs.models import Message
from dispatcher.runtime.core import Runtime
from dispatcher.sending.scheduler import tick
from tests import factories
from tests.conftest import START

Auth = Callable[[Role], dict[str, str]]
PLAN = [{"step": "invite", "offset_days": 0}, {"step": "reminder", "offset_days": 2}, {"step": "close", "offset_days": 4}]


def campaign(client: TestClient, headers: dict[str, str], ids: list[int], **extra: Any) -> dict[str, Any]:
    body = {
        "name": "CSAT", "survey": {"kind": "csat"}, "audience": {"contact_ids": ids}, "plan": PLAN, "channels": ["email", "sms"],
        "exclusions": {"min_account_age_days": 0}, **extra,
    }
    created = client.post("/v1/campaigns", json=body, headers=headers)
    assert created.status_code == 201, created.text
    return dict(created.json())


def texters_and_mailers(session: Session) -> tuple[list[int], list[int]]:
    """Two contacts who answered every SMS, two who answered every email; all reachable on both."""
    texters = [factories.contact(session, phone=f"+1415555020{n}").id for n in range(2)]
    others = [factories.contact(session, phone=f"+1415555030{n}").id for n in range(2)]
    add_evidence(session, {(c, "sms"): {"sent": 3, "delivered": 3, "answered": 3} for c in texters}, now=START - timedelta(days=20))
    add_evidence(session, {(c, "email"): {"sent": 2, "delivered": 2, "answered": 2} for c in others}, now=START - timedelta(days=20))
    session.commit()
    return texters, others


def test_preview_predicts_each_contacts_medium_from_their_history(client: TestClient, auth: Auth, session: Session) -> None:
    texters, others = texters_and_mailers(session)
    headers = auth(Role.OPS)
    created = campaign(client, headers, texters + others)
    assert created["channel_choice"] == "learned"

    preview = client.post(f"/v1/campaigns/{created['id']}/preview", headers=headers).json()

    assert preview["predicted_media"] == {"sms": 2, "email": 2}
    by_contact = {s["contact_id"]: s for s in preview["sample"]}
    assert {by_contact[c]["channel"] for c in texters} == {"sms"}
    assert by_contact[texters[0]]["channel_reason"] == "sms: answered 3 of 3 SMS"
    assert by_contact[others[0]]["channel"] == "email" and by_contact[others[0]]["channel_reason"] == "email: answered 2 of 2 emails"
    ordered = campaign(client, headers, texters + others, channel_choice="ordered")
    assert client.post(f"/v1/campaigns/{ordered['id']}/preview", headers=headers).json()["predicted_media"] == {"email": 4}


def test_messages_list_by_step_medium_and_state_with_reasons_and_progress_by_medium(runtime: Runtime, client: TestClient, auth: Auth, session: Session) -> None:
    texters, others = texters_and_mailers(session)
    headers = auth(Role.OPS)
    created = campaign(client, headers, texters + others)
    client.post(f"/v1/campaigns/{created['id']}/launch", headers=headers)
    tick(runtime)
    tick(runtime)
    url = f"/v1/campaigns/{created['id']}/messages"

    sms = client.get(url, params={"step": "invite", "medium": "sms", "state": "sent"}, headers=headers).json()
    assert sorted(m["contact_id"] for m in sms["items"]) == sorted(texters)
    assert all(m["channel_reason"] == "sms: answered 3 of 3 SMS" and m["channel_estimates"]["sms"] > m["channel_estimates"]["email"] for m in sms["items"])
    first = client.get(url, params={"step": "invite", "limit": 3}, headers=headers).json()
    rest = client.get(url, params={"step": "invite", "limit": 3, "cursor": first["next_cursor"]}, headers=headers).json()
    assert len(first["items"]) == 3 and len(rest["items"]) == 1 and rest["next_cursor"] is None
    assert client.get(url, params={"step": "reminder_1"}, headers=headers).json()["items"] == []
    bad = client.get(url, params={"medium": "fax"}, headers=headers)
    assert bad.status_code == 422 and bad.json()["error"]["fields"][0]["field"] == "medium"
    assert client.get(url, params={"step": "nag"}, headers=headers).status_code == 422

    steps = {s["key"]: s for s in client.get(f"/v1/campaigns/{created['id']}", headers=headers).json()["steps"]}
    assert {m: c["sent"] for m, c in steps["invite"]["by_medium"].items()} == {"sms": 2, "email": 2}


def test_a_contacts_channels_show_reach_evidence_and_estimates(client: TestClient, auth: Auth, session: Session) -> None:
    texters, _ = texters_and_mailers(session)
    no_phone = factories.contact(session, phone=None)
    session.commit()

    seen = client.get(f"/v1/contacts/{texters[0]}/channels", headers=auth(Role.VIEWER))
    unseen = client.get(f"/v1/contacts/{no_phone.id}/channels", headers=auth(Role.VIEWER)).json()

    assert seen.status_code == 200, seen.text
    media = {m["medium"]: m for m in seen.json()["media"]}
    assert media["sms"]["evidence"]["answered"] == 3 and media["sms"]["summary"] == "answered 3 of 3 SMS"
    assert media["sms"]["decayed_evidence"]["answered"] < 3  # twenty days old
    assert media["sms"]["estimate"] > media["email"]["estimate"] == media["email"]["prior"]  # no email history of their own
    assert media["in_app"]["reachable"] is False and "not seen in the product" in media["in_app"]["unreachable_reason"]
    assert {m["medium"]: m["unreachable_reason"] for m in unseen["media"]}["sms"] == "sms: no address"
    assert client.get("/v1/contacts/999999/channels", headers=auth(Role.VIEWER)).status_code == 404


def test_a_transactional_send_takes_the_learned_medium_unless_told_ordered(client: TestClient, auth: Auth, session: Session) -> None:
    texters, _ = texters_and_mailers(session)
    external_id = session.get(Contact, texters[0]).external_id  # type: ignore[union-attr]
    headers = auth(Role.OPS)
    body = {"contact_external_id": external_id, "kind": "csat", "trigger": "ticket_closed", "channels": ["email", "sms"]}

    learned = client.post("/v1/surveys/send", json=body, headers=headers).json()
    ordered = client.post("/v1/surveys/send", json={**body, "trigger": "onboarding", "channel_choice": "ordered"}, headers=headers).json()

    assert (learned["channel"], ordered["channel"]) == ("sms", "email")
    session.rollback()
    message = session.get(Message, learned["message_id"])
    assert message is not None and message.channel_reason == "sms: answered 3 of 3 SMS" and set(message.channel_estimates or {}) == {"email", "sms"}
