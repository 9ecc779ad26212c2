"""The campaigns list and a campaign's page; its buttons by role, with CSRF."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from campaigns.programs.models import Campaign
from dispatcher.runtime.core import Runtime
from tests import factories
from tests.console.helpers import member, sign_in
from tests.dispatcher.scenario import create_and_launch
from tests.results.seed import seed


def test_the_list_shows_status_kind_audience_answers_and_score(browser_client: TestClient, runtime: Runtime, session: Session) -> None:
    seeded = seed(session)
    session.commit()
    sign_in(browser_client, runtime, member(session, "viewer").email)
    listing = browser_client.get("/console/campaigns")
    assert listing.status_code == 200
    assert "Spring NPS" in listing.text and "Autumn NPS" in listing.text
    assert "+12.5" in listing.text and "± 64.2" in listing.text
    assert f'href="/console/campaigns/{seeded.campaign.id}"' in listing.text


def test_a_campaign_page_shows_the_plan_waiting_messages_and_exclusions(browser_client: TestClient, runtime: Runtime, session: Session) -> None:
    campaign_id = create_and_launch(runtime, contacts=20)
    sign_in(browser_client, runtime, member(session, "ops").email)
    page = browser_client.get(f"/console/campaigns/{campaign_id}")
    assert page.status_code == 200
    for text in ("Kickoff", "Pre notice", "Invite", "Reminder 1", "Close", "Waiting to go out", "Excluded, by rule", "No answers yet"):
        assert text in page.text, text


def test_ops_pauses_with_a_reason_that_is_stored_and_shown(browser_client: TestClient, runtime: Runtime, session: Session) -> None:
    campaign_id = create_and_launch(runtime, contacts=5)
    ops = member(session, "ops")
    token = sign_in(browser_client, runtime, ops.email)
    done = browser_client.post(f"/console/campaigns/{campaign_id}/pause", data={"csrf_token": token, "reason": "pricing page is wrong"})
    assert done.status_code == 200 and "Paused" in done.text and "pricing page is wrong" in done.text and ops.email in done.text
    session.expire_all()
    campaign = session.get(Campaign, campaign_id)
    assert campaign is not None and (campaign.status, campaign.paused_reason, campaign.paused_by) == ("paused", "pricing page is wrong", ops.email)


def test_a_viewer_sees_no_working_launch_button_and_cannot_post_one(browser_client: TestClient, runtime: Runtime, session: Session) -> None:
    factories.contact(session)
    draft = Campaign(name="Draft NPS", kind="nps", status="draft", survey={}, audience={"filter": {}}, exclusions={}, plan=[],
                     sending_window={}, channels=["email"], internal_recipients={}, created_at=runtime.clock.now())
    session.add(draft)
    session.commit()
    token = sign_in(browser_client, runtime, member(session, "viewer").email)
    page = browser_client.get(f"/console/campaigns/{draft.id}")
    assert 'id="launch" disabled' in page.text and "can look but not change" in page.text
    assert "no invite date: the plan starts at launch" in page.text and "invite —" not in page.text  # a draft without send_at
    refused = browser_client.post(f"/console/campaigns/{draft.id}/launch", data={"csrf_token": token})
    assert refused.status_code == 403
    session.expire_all()
    assert session.get(Campaign, draft.id).status == "draft"  # type: ignore[union-attr]


def test_a_button_without_the_csrf_token_changes_nothing(browser_client: TestClient, runtime: Runtime, session: Session) -> None:
    campaign_id = create_and_launch(runtime, contacts=3)
    sign_in(browser_client, runtime, member(session, "admin").email)
    assert browser_client.post(f"/console/campaigns/{campaign_id}/pause", data={"reason": "x"}).status_code == 403
    session.expire_all()
    assert session.get(Campaign, campaign_id).status == "active"  # type: ignore[union-attr]
