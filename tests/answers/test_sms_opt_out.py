"""STOP, START and HELP: honoured for every Pulse SMS, never read as answers."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from campaigns.events.models import InboundSms
from campaigns.programs.models import Response, Suppression
from dispatcher.runtime.clock import DatabaseClock
from dispatcher.runtime.core import Runtime
from dispatcher.sending.scheduler import tick
from tests.answers.fixtures_events import (
    episode_for,
    reply,
    sms_messages,
    sms_survey,
    webhook_settings,  # noqa: F401  (overrides `settings` in this module)
)

PHONE = "+14155550102"


def suppressions(session: Session) -> list[tuple[str, str, str]]:
    session.commit()
    return [(s.medium, s.address, s.reason) for s in session.scalars(select(Suppression))]


def test_stop_then_a_new_campaign_sends_no_sms_and_the_episode_says_why_start_sends_again(
    runtime: Runtime, client: TestClient, session: Session, clock: DatabaseClock,
) -> None:
    sms_survey(runtime, [PHONE], kind="nps", name="Spring NPS")

    assert reply(client, PHONE, "STOP") == "Acme: you are unsubscribed and will receive no more survey texts. Reply START to subscribe again."
    assert suppressions(session) == [("sms", PHONE, "opted_out")]

    before = len(sms_messages(runtime, PHONE))
    blocked = sms_survey(runtime, [PHONE], kind="csat", name="Support CSAT")
    episode = episode_for(runtime, blocked, PHONE)
    assert episode.state == "excluded"
    assert episode.exclusion_reason is not None and "sms: opted out" in episode.exclusion_reason
    assert len(sms_messages(runtime, PHONE)) == before  # not one SMS more

    assert reply(client, PHONE, "start") == "Acme: you are subscribed to survey texts again. Reply STOP to opt out, HELP for help."
    assert suppressions(session) == []
    clock.advance(timedelta(days=7))  # the fatigue budget's gap between surveys
    again = sms_survey(runtime, [PHONE], kind="ces", name="Onboarding CES")
    assert episode_for(runtime, again, PHONE).state == "invited"
    assert sms_messages(runtime, PHONE)[-1].state == "sent"


def test_stop_skips_an_sms_already_planned_for_that_number(runtime: Runtime, client: TestClient, session: Session, clock: DatabaseClock) -> None:
    # Los Angeles: 09:30 UTC is the middle of the night there, so each step waits for 09:00 local.
    sms_survey(runtime, [PHONE], timezone="America/Los_Angeles")
    clock.advance(timedelta(hours=8))
    tick(runtime)  # 17:30 UTC, 09:30 in Los Angeles: the invite goes
    clock.advance(timedelta(days=3) - timedelta(hours=8))
    tick(runtime)  # the reminder is planned, and waits for the morning in Los Angeles
    reminder = sms_messages(runtime, PHONE)[-1]
    assert (reminder.step, reminder.state) == ("reminder", "queued")

    reply(client, PHONE, "Stop")
    clock.advance(timedelta(hours=8))
    tick(runtime)

    reminder = sms_messages(runtime, PHONE)[-1]
    assert reminder.state == "skipped" and reminder.skip_rule == "suppressed"
    assert reminder.skip_reason is not None and reminder.skip_reason.startswith("sms: opted out (sms reply STOP")


def test_steps_planned_after_stop_leave_the_number_out(runtime: Runtime, client: TestClient, session: Session, clock: DatabaseClock) -> None:
    sms_survey(runtime, [PHONE])
    reply(client, PHONE, "STOP")
    clock.advance(timedelta(days=3))

    tick(runtime)  # the reminder step

    assert [m.step for m in sms_messages(runtime, PHONE)] == ["invite"]


@pytest.mark.parametrize("word", ["STOP", "stopall", "Unsubscribe", "cancel", "END", "quit", "REVOKE", "optout", " stop ", "Stop."])
def test_every_opt_out_keyword_opts_out_and_is_no_answer(runtime: Runtime, client: TestClient, session: Session, word: str) -> None:
    sms_survey(runtime, [PHONE])

    reply(client, PHONE, word)

    assert suppressions(session) == [("sms", PHONE, "opted_out")]
    assert session.scalars(select(Response)).all() == []


@pytest.mark.parametrize("word", ["START", "yes", "Unstop"])
def test_every_opt_in_keyword_lifts_a_stop_but_never_a_bounce(runtime: Runtime, client: TestClient, session: Session, word: str) -> None:
    reply(client, PHONE, "STOP")
    reply(client, PHONE, word)
    assert suppressions(session) == []

    from dispatcher.sending.outcomes import suppress

    suppress(session, medium="sms", address=PHONE, reason="bounced", source="twilio undelivered 30005", now=runtime.clock.now())
    session.commit()
    reply(client, PHONE, word)
    assert suppressions(session) == [("sms", PHONE, "bounced")]


@pytest.mark.parametrize("word", ["HELP", "info"])
def test_help_answers_with_the_help_text_and_changes_nothing(runtime: Runtime, client: TestClient, session: Session, word: str) -> None:
    sms_survey(runtime, [PHONE])

    answer = reply(client, PHONE, word)

    assert answer.startswith("Acme surveys: reply with a number to answer")
    assert "support@acme.example" in answer and "STOP" in answer
    assert suppressions(session) == [] and session.scalars(select(Response)).all() == []
    reply(client, PHONE, "10")
    session.commit()
    assert [r.score for r in session.scalars(select(Response))] == [10]


def test_a_keyword_while_the_comment_is_awaited_is_still_a_keyword(runtime: Runtime, client: TestClient, session: Session) -> None:
    sms_survey(runtime, [PHONE])
    reply(client, PHONE, "2")

    reply(client, PHONE, "STOP")

    session.commit()
    [response] = session.scalars(select(Response)).all()
    assert response.comment is None
    assert suppressions(session) == [("sms", PHONE, "opted_out")]


def test_when_twilio_answered_the_keyword_itself_we_say_nothing_more(runtime: Runtime, client: TestClient, session: Session) -> None:
    assert reply(client, PHONE, "STOP", OptOutType="STOP") == ""
    assert suppressions(session) == [("sms", PHONE, "opted_out")]
    assert session.scalars(select(InboundSms.outcome)).all() == ["opted_out"]


def test_a_score_after_stop_is_kept_but_nothing_is_texted_back(runtime: Runtime, client: TestClient, session: Session) -> None:
    sms_survey(runtime, [PHONE], kind="nps", name="Spring NPS")
    reply(client, PHONE, "STOP")

    assert reply(client, PHONE, "9") == ""
    assert reply(client, PHONE, "the onboarding was slow") == ""
    session.commit()
    assert [r.score for r in session.scalars(select(Response))] == [9]
    assert reply(client, PHONE, "HELP") == ""  # not even the help text: Twilio would refuse it (21610)
    assert reply(client, PHONE, "START") != ""  # opting in again is confirmed


def test_signed_twilio_forms_with_nul_or_over_long_fields_are_no_500(runtime: Runtime, client: TestClient, session: Session) -> None:
    from tests.answers.fixtures_events import post_twilio, sms_params

    sms_survey(runtime, [PHONE], kind="nps", name="Spring NPS")
    assert post_twilio(client, "/webhooks/twilio/sms", sms_params(PHONE, "9\x00 great")).status_code == 200
    assert post_twilio(client, "/webhooks/twilio/sms", sms_params(PHONE, "8", sid="SM" + "x" * 100)).status_code == 422
    assert post_twilio(client, "/webhooks/twilio/sms", sms_params("+1" + "5" * 100, "8")).status_code == 422
    status = {"MessageSid": "SM" + "y" * 32, "MessageStatus": "d" * 100, "To": PHONE}
    assert post_twilio(client, "/webhooks/twilio/status", status).status_code == 422
    session.commit()
    assert [r.score for r in session.scalars(select(Response))] == [9]
