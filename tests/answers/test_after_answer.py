"""After an answer: the category's thank-you (once), and the plan's close step not thanking again."""

from __future__ import annotations

from sqlalchemy.orm import Session

from campaigns.programs.models import Campaign, Episode, PlanStep
from dispatcher.runtime.clock import DatabaseClock
from dispatcher.runtime.core import Runtime
from dispatcher.sending.scheduler import tick
from dispatcher.sending.step_batch import run_step_batch
from tests.answers.fixtures_loop import (
    REVIEW_LINK,
    answer,
    fresh,
    messages,
    outbox_emails,
    saturday_evening,
    survey,
    team_member,
)


def _thank_yous(runtime: Runtime) -> list[str]:
    return [e.text for e in outbox_emails(runtime) if e.to == "peter@initech.example"]


def test_promoter_is_thanked_with_the_review_link_once(runtime: Runtime) -> None:
    episode = survey(runtime)

    answer(runtime, episode, 10, comment="love it")
    tick(runtime)
    answer(runtime, episode, 9)
    tick(runtime)

    emails = [e for e in outbox_emails(runtime) if e.to == "peter@initech.example"]
    assert len(emails) == 1
    assert emails[0].subject == "Thank you, that made our day"
    assert REVIEW_LINK in emails[0].text


def test_passive_is_thanked_with_an_offer_of_help_from_the_owner(runtime: Runtime) -> None:
    episode = survey(runtime, owner_id=team_member(runtime, name="Samir Nagheenanajar"))

    answer(runtime, episode, 7)
    tick(runtime)

    (text,) = _thank_yous(runtime)
    assert "We want to be a clear 10 for you" in text
    assert "Samir Nagheenanajar reads every reply" in text
    assert REVIEW_LINK not in text


def test_detractor_gets_an_apology_naming_the_owner_who_will_reach_out(runtime: Runtime) -> None:
    episode = survey(runtime, owner_id=team_member(runtime, name="Joanna Bolton"))

    answer(runtime, episode, 2, comment="the export keeps failing")
    tick(runtime)

    (text,) = _thank_yous(runtime)
    assert "We are sorry" in text
    assert "Joanna Bolton will contact you personally" in text
    assert REVIEW_LINK not in text


def test_csat_and_ces_answers_get_their_own_thank_you(runtime: Runtime) -> None:
    satisfied = survey(runtime, kind="csat", email="a@initech.example")
    hard = survey(runtime, kind="ces", email="b@initech.example")

    answer(runtime, satisfied, 5)
    answer(runtime, hard, 2)
    tick(runtime)

    subjects = {e.to: e.subject for e in outbox_emails(runtime)}
    assert set(subjects) >= {"a@initech.example", "b@initech.example"}
    assert subjects["a@initech.example"] != subjects["b@initech.example"]


def test_an_in_app_answer_is_thanked_by_the_widget_so_nothing_is_queued(runtime: Runtime, session: Session) -> None:
    in_app = survey(runtime)

    answer(runtime, in_app, 4, medium="in_app")
    tick(runtime)

    assert messages(session, step="thank_you") == []
    episode = session.get(Episode, in_app)
    assert episode is not None and episode.thanked_at is not None and episode.state == "thanked"


def test_an_sms_answer_is_left_to_the_conversation_or_else_the_close_step(runtime: Runtime, session: Session) -> None:
    by_sms = survey(runtime, phone="+14155550100", email=None)

    answer(runtime, by_sms, 9, medium="sms")
    tick(runtime)

    assert messages(session, step="thank_you") == []
    assert session.get(Episode, by_sms).thanked_at is None  # type: ignore[union-attr]


def test_the_close_step_does_not_thank_an_episode_thanked_at_answer_time(runtime: Runtime, clock: DatabaseClock, session: Session) -> None:
    episode = survey(runtime)
    clock.set(saturday_evening(clock.now()))  # outside sending hours: the thank-you waits for Monday

    answer(runtime, episode, 10)
    thank_you_step = _close_step_thank_you(runtime, session, episode)
    run_step_batch(runtime, thank_you_step, episode, episode)

    planned = messages(session, step="thank_you")
    assert [(m.step_id is None, m.state) for m in planned] == [(True, "queued"), (False, "skipped")]
    assert planned[1].skip_rule == "already_thanked"
    assert planned[0].not_before is not None
    clock.advance(planned[0].not_before - clock.now())
    tick(runtime)
    assert len(_thank_yous(runtime)) == 1
    assert fresh(session).get(Episode, episode).state == "thanked"  # type: ignore[union-attr]


def test_a_changed_answer_before_the_thank_you_leaves_changes_what_it_says(runtime: Runtime, clock: DatabaseClock, session: Session) -> None:
    episode = survey(runtime, owner_id=team_member(runtime, name="Joanna Bolton"))
    clock.set(saturday_evening(clock.now()))

    answer(runtime, episode, 10)
    answer(runtime, episode, 3, comment="actually, no")
    (queued,) = messages(session, step="thank_you")
    assert queued.not_before is not None
    clock.advance(queued.not_before - clock.now())
    tick(runtime)

    (text,) = _thank_yous(runtime)
    assert "We are sorry" in text and REVIEW_LINK not in text


def test_a_plan_without_a_thank_you_step_sends_none(runtime: Runtime, session: Session) -> None:
    episode = survey(runtime, plan=[{"step": "invite", "offset_days": 0}, {"step": "close", "offset_days": 14}])

    answer(runtime, episode, 10)
    tick(runtime)

    assert _thank_yous(runtime) == []
    assert session.get(Episode, episode).thanked_at is None  # type: ignore[union-attr]


def test_an_answer_rolled_back_leaves_nothing_queued(runtime: Runtime, session: Session) -> None:
    from dispatcher.answers.answering import accept_answer

    episode_id = survey(runtime, slack_url="http://127.0.0.1:9/never")
    with runtime.sessions() as inbound:
        episode = inbound.get(Episode, episode_id)
        assert episode is not None
        accept_answer(runtime, inbound, episode=episode, score=1, comment=None, medium="email", now=runtime.clock.now())
        inbound.rollback()  # the endpoint failed before commit: nothing may follow

    assert messages(session) == []


def _close_step_thank_you(runtime: Runtime, session: Session, episode_id: int) -> int:
    episode = session.get(Episode, episode_id)
    assert episode is not None
    campaign = session.get(Campaign, episode.campaign_id)
    assert campaign is not None
    step = PlanStep(campaign_id=campaign.id, key="thank_you", step="thank_you", due_at=runtime.clock.now(), status="running")
    session.add(step)
    session.commit()
    return step.id


def test_a_thank_you_that_invites_a_reply_sends_it_to_the_owner(runtime: Runtime) -> None:
    owner = team_member(runtime, name="Joanna Bolton", email="joanna@acme.example")
    episode = survey(runtime, owner_id=owner)

    answer(runtime, episode, 2, comment="the export keeps failing")
    tick(runtime)

    (email,) = [e for e in outbox_emails(runtime) if e.to == "peter@initech.example"]
    assert "reply to this email" in email.text
    assert email.reply_to == "joanna@acme.example"


def test_without_an_owner_replies_go_to_the_configured_address(runtime: Runtime) -> None:
    runtime.settings.reply_to = "cs@acme.example"
    episode = survey(runtime)

    answer(runtime, episode, 10)
    tick(runtime)

    (email,) = [e for e in outbox_emails(runtime) if e.to == "peter@initech.example"]
    assert email.reply_to == "cs@acme.example"
