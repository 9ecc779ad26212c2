"""The detractor alert: to the owner by email and to the campaign's Slack, on the next tick, once per episode."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session

from campaigns.followups.models import FollowUp
from campaigns.programs.models import Episode
from dispatcher.answers.answering import accept_answer
from dispatcher.answers.follow_through import follow_through_answers
from dispatcher.runtime.clock import DatabaseClock
from dispatcher.runtime.core import Runtime
from dispatcher.sending.scheduler import tick
from tests.answers.fixtures_loop import (
    Receiver,
    answer,
    fresh,
    messages,
    outbox_emails,
    saturday_evening,
    set_campaign,
    survey,
    team_member,
)

OWNER = "bill.lumbergh@example.com"


def _alert_emails(runtime: Runtime) -> list[str]:
    return [e.text for e in outbox_emails(runtime) if e.to == OWNER]


def test_a_detractor_alerts_the_owner_and_slack_with_everything_needed_on_the_next_tick(runtime: Runtime, clock: DatabaseClock, slack: Receiver, session: Session) -> None:
    owner = team_member(runtime, name="Bill Lumbergh", email=OWNER)
    episode = survey(runtime, owner_id=owner, slack_url=slack.url, tier="enterprise")
    clock.set(saturday_evening(clock.now()))  # alerts ignore sending hours

    answer(runtime, episode, 3, comment="Support never called back")
    tick(runtime)

    follow_up = fresh(session).query(FollowUp).one()
    link = f"https://pulse.test/console/follow-ups/{follow_up.id}"  # the console page
    (email,) = [e for e in outbox_emails(runtime) if e.to == OWNER]
    assert email.subject == "Low score from Initech: 3/10"
    for expected in ("Peter Gibbons", "peter@initech.example", "Support never called back", "Initech (enterprise)", "June 30, 2026", "Bill Lumbergh", link):
        assert expected in email.text, expected
    (post,) = slack.received
    text = post.json()["text"]
    for expected in ("3/10", "Peter Gibbons", "peter@initech.example", ">Support never called back", "Initech (enterprise)", "June 30, 2026", link):
        assert expected in text, expected


def test_the_alert_leaves_without_waiting_for_a_tick_when_the_endpoint_kicks_the_worker(runtime: Runtime, slack: Receiver) -> None:
    episode = survey(runtime, owner_id=team_member(runtime, email=OWNER), slack_url=slack.url)

    answer(runtime, episode, 0, send_now=True)

    assert len(slack.received) == 1
    assert len(_alert_emails(runtime)) == 1


def test_promoters_and_passives_raise_no_alert(runtime: Runtime, slack: Receiver, session: Session) -> None:
    owner = team_member(runtime, email=OWNER)
    for score, email in ((10, "p@initech.example"), (7, "q@initech.example")):
        answer(runtime, survey(runtime, owner_id=owner, slack_url=slack.url, email=email), score)
    tick(runtime)

    assert slack.received == []
    assert _alert_emails(runtime) == []
    assert messages(session, step="detractor_alert") == []


def test_a_passive_who_changes_to_detractor_alerts_once_and_the_task_follows(runtime: Runtime, clock: DatabaseClock, slack: Receiver, session: Session) -> None:
    episode = survey(runtime, owner_id=team_member(runtime, email=OWNER), slack_url=slack.url)

    answer(runtime, episode, 8)
    tick(runtime)
    assert slack.received == []
    clock.advance(timedelta(minutes=5))
    answer(runtime, episode, 4, comment="changed my mind")
    answer(runtime, episode, 2, comment="worse")
    answer(runtime, episode, 8)
    answer(runtime, episode, 1)
    tick(runtime)

    assert len(slack.received) == 1
    assert "changed my mind" in slack.received[0].json()["text"]
    assert len(_alert_emails(runtime)) == 1
    follow_up = fresh(session).query(FollowUp).one()
    assert follow_up.category == "detractor"
    assert follow_up.notes[0]["text"] == "the answer changed: passive (8) → detractor (4)"


def test_csat_unsatisfied_and_ces_hard_alert_too(runtime: Runtime, slack: Receiver) -> None:
    owner = team_member(runtime, email=OWNER)
    answer(runtime, survey(runtime, kind="csat", owner_id=owner, slack_url=slack.url, email="a@initech.example"), 2)
    answer(runtime, survey(runtime, kind="ces", owner_id=owner, slack_url=slack.url, email="b@initech.example"), 1)
    answer(runtime, survey(runtime, kind="ces", owner_id=owner, slack_url=slack.url, email="c@initech.example"), 4)  # neutral
    tick(runtime)

    assert sorted(p.json()["text"].splitlines()[0] for p in slack.received) == [
        ":rotating_light: *Low score from Initech: 1/7*", ":rotating_light: *Low score from Initech: 2/5*",
    ]
    assert len(_alert_emails(runtime)) == 2


def test_an_alert_goes_out_while_the_campaign_is_paused(runtime: Runtime, slack: Receiver) -> None:
    episode = survey(runtime, owner_id=team_member(runtime, email=OWNER), slack_url=slack.url)
    set_campaign(runtime, episode, status="paused")

    answer(runtime, episode, 2)
    tick(runtime)

    assert len(slack.received) == 1
    assert _alert_emails(runtime)


def test_without_an_owner_the_alert_goes_to_whoever_the_task_went_to(runtime: Runtime, slack: Receiver) -> None:
    team_member(runtime, email=OWNER)
    episode = survey(runtime, owner_id=None, slack_url=slack.url)

    answer(runtime, episode, 5)
    tick(runtime)

    (text,) = _alert_emails(runtime)
    assert "Owner: CSM" in text  # round robin picked the only team member
    assert len(slack.received) == 1


def test_a_batchs_detractor_alerts_each_with_its_own_text_are_handed_over_in_one_claim(runtime: Runtime, session: Session) -> None:
    owner = team_member(runtime, email=OWNER)
    episodes = [survey(runtime, owner_id=owner, email=f"p{n}@initech.example") for n in range(3)]
    with runtime.sessions() as writing:  # stored as the endpoints store them; followed through together below
        for n, episode_id in enumerate(episodes):
            episode = writing.get(Episode, episode_id)
            assert episode is not None
            accept_answer(runtime, writing, episode=episode, score=n, comment=f"reason {n}", medium="email", now=runtime.clock.now())
        writing.commit()

    follow_through_answers(runtime)  # one batch, then what is due handed out (the outbox channel: a file per message)

    alerts = messages(session, step="detractor_alert")
    assert len(alerts) == 3 and {m.state for m in alerts} == {"sent"}
    assert len({m.content_id for m in alerts}) == 3  # each alert quotes its own answer
    assert len({m.claimed_at for m in alerts}) == 1  # one claim (and one results write), not one per content
    assert sorted(e.text.count("reason") for e in outbox_emails(runtime) if e.to == OWNER) == [1, 1, 1]
