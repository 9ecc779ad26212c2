"""What happens to a message after the hand-off: sent, retried, failed, halted, unknown."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from campaigns.programs import service
from campaigns.programs.models import Campaign, Message
from channels.outbox import expand_outbox
from dispatcher.runtime.clock import DatabaseClock
from dispatcher.runtime.core import Runtime, build_runtime
from dispatcher.runtime.tasks import attach_inline_queue
from dispatcher.sending.handoff import claim_chunk
from dispatcher.sending.lifecycle import launch_campaign
from dispatcher.sending.scheduler import tick
from tests import factories
from tests.backends import Backend
from tests.conftest import START, make_settings
from tests.fakes.http_sink import HttpSink
from tests.fakes.sendgrid_fake import FAKE_API_KEY, SendGridFake

ALWAYS_OPEN = {"start": "00:00", "end": "23:59", "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]}
INVITE_ONLY = [{"step": "invite", "offset_days": 0}, {"step": "close", "offset_days": 7}]


@pytest.fixture
def slack() -> Iterator[HttpSink]:
    sink = HttpSink()
    sink.start()
    yield sink
    sink.stop()


@pytest.fixture
def mailing(backend: Backend, tmp_path: Path, sendgrid: SendGridFake, runtime: Runtime) -> Iterator[Runtime]:
    """A runtime whose email goes through SendGrid's fake (the plain ``runtime`` prepared the tables)."""
    settings = make_settings(backend, tmp_path, email_channel="sendgrid", sendgrid_api_key=FAKE_API_KEY, sendgrid_base_url=sendgrid.base_url, max_attempts=3)
    mail = attach_inline_queue(build_runtime(settings))
    yield mail
    mail.close()


def launch(runtime: Runtime, contacts: int, slack_url: str | None = None) -> int:
    with runtime.sessions() as session:
        factories.population(session, contacts)
        recipients = {"emails": ["ops@example.com"], **({"slack_webhook_url": slack_url.replace("http://", "https://")} if slack_url else {})}
        campaign = service.create_campaign(session, spec={
            "name": "Outcomes", "survey": {"kind": "nps"}, "audience": {"filter": {"segment": ["smb"]}},
            "plan": INVITE_ONLY, "sending_window": ALWAYS_OPEN, "internal_recipients": recipients,
        }, now=runtime.clock.now())
        session.commit()
        launch_campaign(runtime, session, campaign.id)
        session.commit()
        return campaign.id


def states(session: Session, campaign_id: int) -> list[tuple[str, str | None]]:
    session.rollback()  # end the read transaction: SQLite would keep showing its old snapshot
    return [(m.state, m.error_code) for m in session.scalars(select(Message).where(Message.campaign_id == campaign_id, Message.step == "invite").order_by(Message.id))]


def test_sent_in_one_request_with_custom_args(mailing: Runtime, session: Session, sendgrid: SendGridFake) -> None:
    campaign_id = launch(mailing, 30)
    tick(mailing)
    tick(mailing)
    assert states(session, campaign_id) == [("sent", None)] * 30
    assert len(sendgrid.requests) == 1
    personalizations = sendgrid.requests[0].body["personalizations"]
    ids = {p["custom_args"]["pulse_message_id"] for p in personalizations}
    assert ids == {str(m.id) for m in session.scalars(select(Message).where(Message.campaign_id == campaign_id))}


def test_transient_error_retries_with_backoff_then_sends(mailing: Runtime, session: Session, sendgrid: SendGridFake, clock: DatabaseClock) -> None:
    campaign_id = launch(mailing, 3)
    sendgrid.fail_next(503)
    tick(mailing)
    tick(mailing)
    assert states(session, campaign_id) == [("retrying", "503")] * 3
    retry_at = session.scalar(select(Message.not_before).where(Message.campaign_id == campaign_id))
    assert retry_at is not None
    assert timedelta(seconds=25) < retry_at - clock.now() < timedelta(seconds=35)
    tick(mailing)  # not due yet: nothing happens
    assert len(sendgrid.requests) == 0
    clock.advance(timedelta(minutes=1))
    tick(mailing)
    assert states(session, campaign_id) == [("sent", None)] * 3
    assert {m.attempts for m in session.scalars(select(Message).where(Message.campaign_id == campaign_id))} == {2}


def test_rate_limited_waits_as_long_as_the_provider_asks(mailing: Runtime, session: Session, sendgrid: SendGridFake, clock: DatabaseClock) -> None:
    import time

    campaign_id = launch(mailing, 2)
    sendgrid.fail_next(429, headers={"X-RateLimit-Reset": str(int(time.time()) + 600)})
    tick(mailing)
    tick(mailing)
    assert states(session, campaign_id) == [("retrying", "429")] * 2
    retry_at = session.scalar(select(Message.not_before).where(Message.campaign_id == campaign_id))
    assert retry_at is not None
    assert retry_at - clock.now() >= timedelta(seconds=590)


def test_gives_up_after_max_attempts(mailing: Runtime, session: Session, sendgrid: SendGridFake, clock: DatabaseClock) -> None:
    campaign_id = launch(mailing, 1)
    sendgrid.fail_next(500, times=3)
    tick(mailing)
    for _ in range(3):
        tick(mailing)
        clock.advance(timedelta(hours=2))
    message = session.scalar(select(Message).where(Message.campaign_id == campaign_id, Message.step == "invite"))
    assert message is not None
    assert (message.state, message.attempts) == ("failed", 3)
    assert message.error_text is not None and message.error_text.startswith("gave up after 3 attempts")


def test_permanent_error_fails_with_the_providers_reason(mailing: Runtime, session: Session, sendgrid: SendGridFake) -> None:
    campaign_id = launch(mailing, 2)
    sendgrid.fail_next(400, body={"errors": [{"message": "Does not contain a valid address.", "field": "personalizations.0.to"}]})
    tick(mailing)
    tick(mailing)
    messages = session.scalars(select(Message).where(Message.campaign_id == campaign_id, Message.step == "invite")).all()
    assert {(m.state, m.error_code) for m in messages} == {("failed", "400")}
    assert "valid address" in (messages[0].error_text or "")


def test_bad_credentials_pause_the_campaign_alert_the_team_and_burn_nobody(mailing: Runtime, session: Session, sendgrid: SendGridFake, slack: HttpSink, backend: Backend, tmp_path: Path) -> None:
    campaign_id = launch(mailing, 5, slack_url=slack.url)
    sendgrid.fail_next(401, times=1)
    tick(mailing)

    campaign = session.get_one(Campaign, campaign_id)
    assert campaign.status == "paused" and "refused our credentials" in (campaign.paused_reason or "")
    assert states(session, campaign_id) == [("queued", "401")] * 5
    # The alert goes to Slack (email is the broken channel). Campaigns only take https
    # webhooks and the test sink speaks http: point the alert at the sink and let it go again.
    alert = session.scalar(select(Message).where(Message.campaign_id == campaign_id, Message.step == "alert"))
    assert alert is not None
    assert alert.medium == "slack" and alert.recipient == slack.url.replace("http://", "https://")
    alert.recipient, alert.state, alert.not_before, alert.enqueued_at = slack.url, "queued", START, None
    session.commit()
    tick(mailing)
    tick(mailing)
    assert len(slack.received) == 1 and "refused our credentials" in json.loads(slack.received[0].body)["text"]

    with mailing.sessions() as fix:
        service.resume(fix, campaign_id=campaign_id)
        fix.commit()
    tick(mailing)
    tick(mailing)
    assert states(session, campaign_id) == [("sent", None)] * 5
    assert sum(len(r.body["personalizations"]) for r in sendgrid.requests) == 5


def test_worker_dying_mid_send_leaves_unknown_never_resent(runtime: Runtime, session: Session, clock: DatabaseClock) -> None:
    with runtime.sessions() as setup:
        factories.population(setup, 4)
        campaign = service.create_campaign(setup, spec={
            "name": "Night", "survey": {"kind": "nps"}, "audience": {"filter": {"segment": ["smb"]}}, "plan": INVITE_ONLY,
            "sending_window": {"start": "20:00", "end": "21:00", "days": ["mon"]},  # shut now: the invites wait
        }, now=clock.now())
        setup.commit()
        launch_campaign(runtime, setup, campaign.id)
        setup.commit()
    tick(runtime)
    assert {s for s, _ in states(session, campaign.id)} == {"queued"}
    clock.advance(timedelta(hours=11))  # 20:30 UTC on Monday: the window of the contacts in UTC is open
    due = [m.id for m in session.scalars(select(Message).where(Message.campaign_id == campaign.id, Message.not_before <= clock.now()))]
    assert due

    claimed = [row.id for row in claim_chunk(runtime, due)]  # in flight, committed; then the worker is killed
    runtime.settings.sending_timeout_seconds = 0.001
    tick(runtime)

    session.rollback()
    dead = session.scalars(select(Message).where(Message.id.in_(claimed))).all()
    assert {m.state for m in dead} == {"unknown"} and all("not resent" in (m.error_text or "") for m in dead)
    tick(runtime)
    expand_outbox(runtime.settings.outbox_dir)
    assert not list(Path(runtime.settings.outbox_dir).glob("*")) or all(
        str(m.id) not in p.name for m in dead for p in Path(runtime.settings.outbox_dir).glob("*")
    )


def test_a_timeout_after_sending_is_unknown_and_never_retried(backend: Backend, tmp_path: Path, sendgrid: SendGridFake, runtime: Runtime, session: Session, clock: DatabaseClock) -> None:
    settings = make_settings(backend, tmp_path, email_channel="sendgrid", sendgrid_api_key=FAKE_API_KEY,
                             sendgrid_base_url=sendgrid.base_url, provider_timeout_seconds=0.5)
    mail = attach_inline_queue(build_runtime(settings))
    try:
        campaign_id = launch(mail, 2)
        sendgrid.stall(2.0)  # SendGrid takes the request but answers too late
        tick(mail)
        assert states(session, campaign_id) == [("unknown", "timeout")] * 2
        clock.advance(timedelta(hours=3))
        tick(mail)
        assert states(session, campaign_id) == [("unknown", "timeout")] * 2  # never sent again
    finally:
        mail.close()


def test_a_queued_message_to_an_erased_contact_is_skipped(runtime: Runtime, session: Session, clock: DatabaseClock) -> None:
    from campaigns.people.service import erase_contact

    with runtime.sessions() as setup:
        factories.population(setup, 2, timezones=("UTC",))
        campaign = service.create_campaign(setup, spec={
            "name": "Later", "survey": {"kind": "nps"}, "audience": {"filter": {"segment": ["smb"]}}, "plan": INVITE_ONLY,
            "sending_window": {"start": "20:00", "end": "21:00", "days": ["mon"]},
        }, now=clock.now())
        setup.commit()
        launch_campaign(runtime, setup, campaign.id)
        setup.commit()
    tick(runtime)  # planned and queued for tonight's window
    erased = session.scalar(select(Message.contact_id).where(Message.campaign_id == campaign.id).order_by(Message.id))
    assert erased is not None
    with runtime.sessions() as s:
        erase_contact(s, contact_id=erased, now=clock.now())
        s.commit()
    clock.advance(timedelta(hours=11))  # 20:30 UTC on Monday: the window is open
    tick(runtime)
    session.rollback()
    rows = {m.contact_id: (m.state, m.skip_rule) for m in session.scalars(select(Message).where(Message.campaign_id == campaign.id))}
    assert rows[erased] == ("skipped", "erased")
    assert [state for contact, (state, _) in rows.items() if contact != erased] == ["sent"]
