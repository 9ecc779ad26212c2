"""The closing summary (email and Slack): headline with margin, key insights, the share link, the team's language."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from campaigns.programs.models import PlanStep
from dispatcher.runtime.core import Runtime
from dispatcher.sending.internal import run_internal_step
from tests.answers.fixtures_loop import Receiver, outbox_emails
from tests.results.seed import NOW, campaign, seed

TEAM = "cs-leads@example.com"


@pytest.fixture
def slack() -> Iterator[Receiver]:
    server = Receiver()
    server.start()
    yield server
    server.stop()


def _summary(runtime: Runtime, session: Session, campaign_row: object, slack_url: str, locale: str = "en", step_name: str = "summary") -> None:
    campaign_row.internal_recipients = {"emails": [TEAM], "slack_webhook_url": slack_url, "locale": locale}  # type: ignore[attr-defined]
    campaign_row.status = "closed" if step_name == "summary" else "active"  # type: ignore[attr-defined]
    step = PlanStep(campaign_id=campaign_row.id, key=step_name, step=step_name, wave=0, due_at=NOW, status="running")  # type: ignore[attr-defined]
    session.add(step)
    session.commit()
    run_internal_step(runtime, step.id)


def test_the_summary_carries_the_headline_with_margin_insights_and_a_working_share_link(runtime: Runtime, session: Session, client: TestClient, slack: Receiver) -> None:
    seeded = seed(session)
    _summary(runtime, session, seeded.campaign, slack.url)
    (email,) = [e for e in outbox_emails(runtime) if e.to == TEAM]
    assert "The headline: NPS +12 ± 64." in email.text  # +12.5 ± 64.2, rounded for people
    assert "100% of invited accounts gave at least one score" in email.text
    assert "1 improved, 1 got worse" in email.text and "1 at risk" in email.text and "2 advocacy candidates" in email.text
    assert "Recurring themes in comments:" in email.text and "upport" in email.text
    share = email.text.split("Full report: ")[1].split()[0]
    assert share.startswith("https://pulse.test/share/")
    assert f"https://pulse.test/console/campaigns/{seeded.campaign.id}/results" in email.text
    report = client.get(share.replace("https://pulse.test", ""))
    assert report.status_code == 200 and "Spring NPS" in report.text

    (post,) = slack.received
    text = json.dumps(json.loads(post.body))
    assert "64" in text and "at risk" in text and "/share/" in text


def test_a_summary_with_no_answers_says_so_and_not_nps_zero(runtime: Runtime, session: Session, slack: Receiver) -> None:
    quiet = campaign(session, name="Quiet NPS")
    _summary(runtime, session, quiet, slack.url)
    (email,) = [e for e in outbox_emails(runtime) if e.to == TEAM]
    assert "NPS: no answers yet" in email.text and "NPS 0" not in email.text and "NPS +0" not in email.text


def test_the_summary_is_in_the_teams_language(runtime: Runtime, session: Session, slack: Receiver) -> None:
    seeded = seed(session)
    _summary(runtime, session, seeded.campaign, slack.url, locale="de")
    (email,) = [e for e in outbox_emails(runtime) if e.to == TEAM]
    assert "Die wichtigsten Erkenntnisse" in email.text and "gefährdet" in email.text and "Vollständiger Bericht: https://pulse.test/share/" in email.text
    assert "Erkenntnisse" in json.loads(slack.received[0].body)["text"] if "text" in json.loads(slack.received[0].body) else "Erkenntnisse" in slack.received[0].body.decode()


def test_the_kickoff_opens_the_campaign_in_the_console(runtime: Runtime, session: Session, slack: Receiver) -> None:
    seeded = seed(session)
    seeded.campaign.plan = [{"step": "invite", "offset_days": 0}, {"step": "close", "offset_days": 14}]
    _summary(runtime, session, seeded.campaign, slack.url, step_name="kickoff")
    (email,) = [e for e in outbox_emails(runtime) if e.to == TEAM]
    assert f"https://pulse.test/console/campaigns/{seeded.campaign.id}" in email.text
