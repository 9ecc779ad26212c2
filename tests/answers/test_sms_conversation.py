"""The SMS conversation: score, follow-up question, comment, thanks; clarifying once; redelivery."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from campaigns.events.models import EngagementCounter, InboundSms, SmsConversation
from campaigns.programs.models import AnswerOutbox, Episode, Message, Response
from dispatcher.runtime.clock import DatabaseClock
from dispatcher.runtime.core import Runtime
from tests.answers.fixtures_events import (
    episode_for,
    post_twilio,
    reply,
    sms_messages,
    sms_params,
    sms_survey,
    webhook_settings,  # noqa: F401  (overrides `settings` in this module)
)
from tests.backends import Backend

PHONE = "+14155550101"


def responses(session: Session) -> list[Response]:
    session.commit()
    session.expire_all()  # see what the endpoints committed since
    return list(session.scalars(select(Response).order_by(Response.id)))


def test_a_score_is_recorded_and_answered_with_the_follow_up_question(runtime: Runtime, client: TestClient, session: Session) -> None:
    campaign_id = sms_survey(runtime, [PHONE])

    answer = reply(client, PHONE, "9")

    assert answer == "Thank you! What is the main reason for your score? Just reply with a few words."
    [response] = responses(session)
    assert (response.score, response.category, response.medium, response.comment) == (9, "promoter", "sms", None)
    assert response.episode_id == episode_for(runtime, campaign_id, PHONE).id
    [invite] = sms_messages(runtime, PHONE)
    assert invite.state == "answered"


def test_a_score_is_five_statements_and_one_commit(runtime: Runtime, backend: Backend, client: TestClient, counted: list[str], session: Session) -> None:
    """The inbound row with the match, the conversation, the answer and its episode, then the outbox
    row, the conversation's stage and the reply together (one statement per row on SQLite)."""
    sms_survey(runtime, [PHONE])
    queue, runtime.queue = runtime.queue, None  # the kick is lost: only the request's own work is counted
    counted.clear()
    try:
        answer = reply(client, PHONE, "9")
    finally:
        runtime.queue = queue

    assert answer.startswith("Thank you! What is the main reason")
    statements = [sql for sql in counted if sql != "COMMIT" and not sql.startswith("BEGIN")]
    assert len(statements) <= (5 if backend.is_postgres else 8), "\n".join(statements)
    assert counted.count("COMMIT") == 1
    [response] = responses(session)
    assert session.scalar(select(AnswerOutbox.response_id).where(AnswerOutbox.done_at.is_(None))) == response.id
    assert session.scalar(select(SmsConversation.stage)) == "awaiting_comment"
    assert session.scalars(select(InboundSms.outcome)).all() == ["score"]


def test_the_next_reply_is_the_comment_and_the_category_thank_you_follows(runtime: Runtime, client: TestClient, session: Session) -> None:
    campaign_id = sms_survey(runtime, [PHONE])
    reply(client, PHONE, "3")

    answer = reply(client, PHONE, "Onboarding took three weeks")

    [response] = responses(session)
    assert response.comment == "Onboarding took three weeks"
    assert response.score == 3 and response.category == "detractor"
    assert "sorry we let you down" in answer.lower()
    episode = episode_for(runtime, campaign_id, PHONE)
    assert episode.thanked_at is not None and episode.state == "thanked"
    later = reply(client, PHONE, "Also the export is broken")
    assert later == "Thank you for your comment. It goes straight to the Acme team."
    assert responses(session)[0].comment == "Onboarding took three weeks\nAlso the export is broken"


def test_words_after_the_score_are_kept_with_the_comment(runtime: Runtime, client: TestClient, session: Session) -> None:
    sms_survey(runtime, [PHONE])

    reply(client, PHONE, "9 - great support")
    reply(client, PHONE, "Ana solved it in an hour")

    assert responses(session)[0].comment == "great support\nAna solved it in an hour"


def test_a_reply_that_is_no_score_gets_one_clarifying_message_then_is_kept(runtime: Runtime, client: TestClient, session: Session) -> None:
    campaign_id = sms_survey(runtime, [PHONE])

    first = reply(client, PHONE, "it depends")
    second = reply(client, PHONE, "really not sure")

    assert first == "Sorry, we did not understand that. Please reply with a number from 0 to 10. Reply STOP to opt out."
    assert second == "Thank you for your comment. It goes straight to the Acme team."
    assert responses(session) == []
    episode = episode_for(runtime, campaign_id, PHONE)
    conversation = session.get(SmsConversation, episode.id)
    assert conversation is not None and conversation.clarified
    assert conversation.pending_comment == "it depends\nreally not sure"
    reply(client, PHONE, "8")
    assert responses(session)[0].comment == "it depends\nreally not sure"


def test_the_scale_is_the_campaigns_a_csat_six_is_not_a_score(runtime: Runtime, client: TestClient, session: Session) -> None:
    sms_survey(runtime, [PHONE], kind="csat")

    assert "from 1 to 5" in reply(client, PHONE, "6")
    reply(client, PHONE, "5/5")

    [response] = responses(session)
    assert (response.kind, response.score, response.category) == ("csat", 5, "satisfied")


def test_german_contacts_get_german_replies_and_may_answer_in_words(runtime: Runtime, client: TestClient, session: Session) -> None:
    sms_survey(runtime, [PHONE], locale="de")

    answer = reply(client, PHONE, "Neun")

    assert answer.startswith("Vielen Dank") or "Grund" in answer
    assert responses(session)[0].score == 9


def test_twilios_redelivery_of_a_message_sid_changes_nothing(runtime: Runtime, client: TestClient, session: Session) -> None:
    sms_survey(runtime, [PHONE])
    params = sms_params(PHONE, "7")

    first = post_twilio(client, "/webhooks/twilio/sms", params)
    again = post_twilio(client, "/webhooks/twilio/sms", params)

    assert first.status_code == again.status_code == 200
    assert first.text == again.text  # the same answer, not the comment path
    assert len(responses(session)) == 1
    assert session.scalar(select(func.count()).select_from(InboundSms)) == 1
    [counter] = session.scalars(select(EngagementCounter)).all()
    assert (counter.medium, counter.delivered, counter.answered) == ("sms", 1, 1)


def test_a_number_without_an_open_episode_gets_no_answer(runtime: Runtime, client: TestClient, session: Session) -> None:
    assert reply(client, "+14155559999", "10") == ""
    assert responses(session) == []
    session.commit()
    assert session.scalars(select(InboundSms.outcome)).all() == ["unmatched"]


def test_the_latest_survey_to_the_number_takes_the_reply(runtime: Runtime, client: TestClient, session: Session, clock: DatabaseClock) -> None:
    first = sms_survey(runtime, [PHONE], name="Spring")
    reply(client, PHONE, "9")
    reply(client, PHONE, "fine")
    clock.advance(timedelta(days=7))  # the fatigue budget allows the next survey
    second = sms_survey(runtime, [PHONE], kind="csat", name="Support CSAT")

    reply(client, PHONE, "2")

    by_campaign = {r.campaign_id: r for r in responses(session)}
    assert by_campaign[first].score == 9 and by_campaign[second].score == 2
    assert session.scalar(select(func.count()).select_from(Message).where(Message.state == "answered")) == 2
    assert session.get(Episode, episode_for(runtime, second, PHONE).id).answered_at is not None  # type: ignore[union-attr]


def test_a_signed_reply_without_a_sender_is_refused_naming_the_field(runtime: Runtime, client: TestClient) -> None:
    params = {k: v for k, v in sms_params(PHONE, "9").items() if k != "From"}

    response = post_twilio(client, "/webhooks/twilio/sms", params)

    assert response.status_code == 422
    assert response.json()["error"]["fields"] == [{"field": "From", "reason": "is required in a Twilio webhook"}]


def test_an_sms_comment_updates_the_answer_for_the_task_and_the_webhooks(runtime: Runtime, client: TestClient, session: Session) -> None:
    from campaigns.followups.models import FollowUp
    from campaigns.webhooks.models import WebhookDelivery, WebhookSubscription

    session.add(WebhookSubscription(url="https://hooks.example.com/pulse", secret="s3cret", events=["response.created", "response.updated"], created_at=runtime.clock.now()))
    session.commit()
    sms_survey(runtime, [PHONE])
    reply(client, PHONE, "4")

    reply(client, PHONE, "Support never called back")

    session.rollback()
    deliveries = session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)).all()
    assert [d.event_type for d in deliveries] == ["response.created", "response.updated"]
    assert "Support never called back" in str(deliveries[1].payload)
    task = session.scalar(select(FollowUp))
    assert task is not None
    assert any(note["text"] == "comment: Support never called back" for note in task.notes)
