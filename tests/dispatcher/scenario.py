"""A whole NPS plan run against a moving clock, shared by the inline and the Celery tests."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from campaigns.people.models import Contact
from campaigns.programs import service
from campaigns.programs.answers import record_answer
from campaigns.programs.models import Campaign, Episode, Message
from dispatcher.runtime.core import Runtime
from dispatcher.sending.lifecycle import launch_campaign
from tests import factories

INTERNAL = "cs-team@example.com"


def create_and_launch(runtime: Runtime, contacts: int = 200, **spec: object) -> int:
    with runtime.sessions() as session:
        factories.population(session, contacts)
        campaign = service.create_campaign(session, spec={
            "name": "Spring NPS", "survey": {"kind": "nps"}, "audience": {"filter": {"segment": ["smb"]}},
            "internal_recipients": {"emails": [INTERNAL]}, **spec,
        }, now=runtime.clock.now())
        session.commit()
        launch_campaign(runtime, session, campaign.id)
        session.commit()
        return campaign.id


def answer_some(runtime: Runtime, campaign_id: int, every: int) -> set[int]:
    """Every ``every``-th invited contact answers now; returns their episode ids."""
    with runtime.sessions() as session:
        episodes = session.scalars(select(Episode).where(Episode.campaign_id == campaign_id, Episode.invited_at.is_not(None), Episode.answered_at.is_(None)).order_by(Episode.id)).all()
        chosen = [e for i, e in enumerate(episodes) if i % every == 0]
        for number, episode in enumerate(chosen):
            record_answer(session, episode=episode, score=number % 11, comment="fine", medium="email", now=runtime.clock.now())
        session.commit()
        return {e.id for e in chosen}


def run_plan(runtime: Runtime, campaign_id: int, advance: Callable[[], None], *, days: int = 22, step_hours: int = 2) -> set[int]:
    """Walk the clock through the plan; some contacts answer a day after the invite."""
    answered: set[int] = set()
    for hour in range(0, days * 24, step_hours):
        advance()
        if not answered:
            with runtime.sessions() as session:
                invited = session.scalar(select(Episode.id).where(Episode.campaign_id == campaign_id, Episode.invited_at.is_not(None)).limit(1))
            if invited is not None and hour % 24 == 0:
                answered = answer_some(runtime, campaign_id, every=3)
        runtime.clock.advance(timedelta(hours=step_hours))  # type: ignore[attr-defined]
    return answered


def check_plan_outcome(session: Session, campaign_id: int, answered: set[int]) -> dict[str, int]:
    """Every step reached exactly the right contacts once, inside their sending hours."""
    campaign = session.get(Campaign, campaign_id)
    assert campaign is not None and campaign.status == "closed"
    episodes = {e.id: e for e in session.scalars(select(Episode).where(Episode.campaign_id == campaign_id))}
    contacts = {c.id: c for c in session.scalars(select(Contact))}
    messages = session.scalars(select(Message).where(Message.campaign_id == campaign_id)).all()
    per_step: Counter[str] = Counter()
    for message in messages:
        if message.episode_id is None:
            continue
        assert message.state in ("sent", "skipped"), (message.step, message.state, message.error_text)
        if message.state != "sent":
            continue
        per_step[message.step] += 1
        assert message.contact_id is not None and message.sent_at is not None  # a sent survey message
        contact = contacts[message.contact_id]
        local = message.sent_at.astimezone(ZoneInfo(contact.timezone))
        assert local.weekday() < 5 and 9 <= local.hour < 18, f"{message.step} to {contact.timezone} at {local}"
        if message.step == "reminder":
            episode = episodes[message.episode_id]
            assert episode.answered_at is None or message.sent_at < episode.answered_at, "reminded after answering"
    keys = Counter((m.episode_id, m.step_id) for m in messages if m.episode_id)
    assert max(keys.values()) == 1  # one message per (episode, step), ever
    selected = len([e for e in episodes.values() if e.state != "excluded"])
    skipped_reminders = Counter(m.skip_rule for m in messages if m.step == "reminder" and m.state == "skipped")
    assert per_step["pre_notice"] == per_step["invite"] == selected
    assert per_step["reminder"] + skipped_reminders["answered"] == 2 * selected
    assert skipped_reminders["answered"] >= len(answered)  # every answerer skipped at least the later reminder
    assert per_step["thank_you"] == selected
    internal = Counter((m.step, m.recipient) for m in messages if m.episode_id is None and m.state == "sent")
    assert internal[("summary", INTERNAL)] == 1 and internal[("kickoff", INTERNAL)] == 1
    return dict(per_step)
