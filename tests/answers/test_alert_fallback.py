"""A detractor is promised a call only when somebody hears about it: the alert falls back to the
campaign's internal recipients, and with nobody at all the thank-you makes no promise and create,
preview and launch warn."""

from __future__ import annotations

from fastapi.testclient import TestClient

from campaigns.access.models import Role
from dispatcher.runtime.core import Runtime
from dispatcher.sending.scheduler import tick
from tests import factories
from tests.answers.fixtures_loop import answer, outbox_emails, set_campaign, survey, team_member

PROMISE = "will contact you personally"
NO_PROMISE = "We have passed your feedback on to the team that can fix this."


def _thank_you(runtime: Runtime) -> str:
    (email,) = [e for e in outbox_emails(runtime) if e.to == "peter@initech.example"]
    return email.text


def test_with_no_owner_and_no_team_the_alert_goes_to_the_campaigns_internal_recipients(runtime: Runtime) -> None:
    episode = survey(runtime)
    set_campaign(runtime, episode, internal_recipients={"emails": ["cs-team@initech.example"], "slack_webhook_url": None})

    answer(runtime, episode, 2, comment="Nobody answers the phone", send_now=True)
    tick(runtime)

    (alert,) = [e for e in outbox_emails(runtime) if e.to == "cs-team@initech.example"]
    assert "Nobody answers the phone" in alert.text
    assert PROMISE in _thank_you(runtime)


def test_with_an_owner_the_internal_recipients_are_not_alerted_as_well(runtime: Runtime) -> None:
    episode = survey(runtime, owner_id=team_member(runtime, email="bill@initech.example"))
    set_campaign(runtime, episode, internal_recipients={"emails": ["cs-team@initech.example"], "slack_webhook_url": None})

    answer(runtime, episode, 2, send_now=True)
    tick(runtime)

    recipients = {e.to for e in outbox_emails(runtime)}
    assert "bill@initech.example" in recipients and "cs-team@initech.example" not in recipients


def test_with_nobody_to_tell_the_thank_you_promises_nothing(runtime: Runtime) -> None:
    episode = survey(runtime)  # no owner, no team, no internal recipients, no Slack

    answer(runtime, episode, 1, send_now=True)
    tick(runtime)

    text = _thank_you(runtime)
    assert PROMISE not in text and NO_PROMISE in text
    assert [e.to for e in outbox_emails(runtime)] == ["peter@initech.example"]


def test_create_preview_and_launch_warn_when_alerts_would_reach_nobody(runtime: Runtime, client: TestClient, auth: object) -> None:
    with runtime.sessions() as session:
        ownerless = factories.account(session, owner_id=None)
        ids = [factories.contact(session, account=ownerless).id for _ in range(2)]
        session.commit()
    headers = auth(Role.OPS)  # type: ignore[operator]
    body = {"name": "Lonely NPS", "survey": {"kind": "nps"}, "audience": {"contact_ids": ids}}
    created = client.post("/v1/campaigns", json=body, headers=headers).json()
    campaign = created["id"]
    preview = client.post(f"/v1/campaigns/{campaign}/preview", headers=headers).json()
    launched = client.post(f"/v1/campaigns/{campaign}/launch", headers=headers).json()
    for answer_body in (created, preview, launched):
        assert "warnings" in answer_body, answer_body
        assert [w.split(":")[0] for w in answer_body["warnings"]] == ["detractor_alerts_unrouted"]
        assert "POST /v1/team" in answer_body["warnings"][0]

    told = client.post("/v1/campaigns", json={**body, "internal_recipients": {"emails": ["cs@example.com"]}}, headers=headers).json()
    assert told["warnings"] == []
