"""The console's results page, the print report and CSV downloads, on the seeded campaign."""

from __future__ import annotations

import csv
import io

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from dispatcher.runtime.core import Runtime
from tests.console.helpers import member, sign_in
from tests.results.seed import campaign, seed


def test_the_results_page_shows_headline_segments_lists_themes_and_charts(browser_client: TestClient, runtime: Runtime, session: Session) -> None:
    seeded = seed(session)
    session.commit()
    sign_in(browser_client, runtime, member(session, "viewer").email)
    page = browser_client.get(f"/console/campaigns/{seeded.campaign.id}/results")
    assert page.status_code == 200
    text = page.text
    for expected in ("+12.5", "± 64.2", "Response rate: <strong>80.0%", "Renews within 90 days", "small group",
                     "Advocacy candidates", "At risk: renewing within 90 days", "Recurring themes", "<svg", "Over time", "1</strong> improved"):
        assert expected in text, expected
    assert "<script" not in text.split("<main", 1)[1]  # charts are plain SVG


def test_comments_filter_by_category_and_segment_with_follow_up_notes(browser_client: TestClient, runtime: Runtime, session: Session) -> None:
    seeded = seed(session)
    session.commit()
    sign_in(browser_client, runtime, member(session, "viewer").email)
    detractors = browser_client.get(f"/console/campaigns/{seeded.campaign.id}/results?category=detractor").text.split('id="comments-title"')[1]
    assert "Billing is confusing" in detractors and "Great support team" not in detractors
    smb = browser_client.get(f"/console/campaigns/{seeded.campaign.id}/results?segment=smb").text.split('id="comments-title"')[1]
    assert "Billing errors again" in smb and "Billing is confusing" not in smb


def test_no_answers_yet_never_says_nps_zero(browser_client: TestClient, runtime: Runtime, session: Session) -> None:
    quiet = campaign(session, name="Quiet NPS")
    session.commit()
    sign_in(browser_client, runtime, member(session, "viewer").email)
    page = browser_client.get(f"/console/campaigns/{quiet.id}/results").text
    assert "No answers yet" in page and "+0" not in page


def test_the_report_prints_without_navigation_and_the_csvs_download(browser_client: TestClient, runtime: Runtime, session: Session) -> None:
    seeded = seed(session)
    session.commit()
    sign_in(browser_client, runtime, member(session, "viewer").email)
    report = browser_client.get(f"/console/campaigns/{seeded.campaign.id}/report")
    assert report.status_code == 200 and "data-print" in report.text and "<nav" in report.text
    assert "script-src 'self'" in report.headers["content-security-policy"] and report.headers["x-frame-options"] == "DENY"
    answers = list(csv.DictReader(io.StringIO(browser_client.get(f"/console/campaigns/{seeded.campaign.id}/answers.csv").text)))
    assert len(answers) == 8
    upsell = list(csv.DictReader(io.StringIO(browser_client.get(f"/console/campaigns/{seeded.campaign.id}/lists/upsell.csv").text)))
    assert sorted(r["score"] for r in upsell) == ["10", "9"]


def test_ops_creates_and_revokes_a_share_link_from_the_console(browser_client: TestClient, other_client: TestClient, runtime: Runtime, session: Session) -> None:
    seeded = seed(session)
    session.commit()
    token = sign_in(browser_client, runtime, member(session, "ops").email)
    made = browser_client.post(f"/console/campaigns/{seeded.campaign.id}/share", data={"csrf_token": token})
    assert "Share link created: https://pulse.test/share/" in made.text
    url = made.text.split("Share link created: ")[1].split("<")[0].strip()
    shared = other_client.get(url.replace("https://pulse.test", ""))  # nobody signed in
    assert shared.status_code == 200 and "+12.5" in shared.text and seeded.contacts[0].name not in shared.text
    link_id = made.text.split("/share/")[-1]
    revoke_path = made.text.split('action="/console/campaigns/')[-1].split('"')[0]
    assert revoke_path.endswith("/revoke") and link_id
    browser_client.post(f"/console/campaigns/{revoke_path}", data={"csrf_token": token})
    assert other_client.get(url.replace("https://pulse.test", "")).status_code == 404
