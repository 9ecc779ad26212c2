"""Running one batch of a contact step: plan a message per episode, commit, then hand off.

Per episode: still eligible for this step, a channel it can be reached on, the
fatigue budget's message rules, the window in the contact's own timezone, the
rendered content — all persisted as one message row (per-recipient values are
derived when it is sent: ``contents.values_for``)
with a unique key per (episode, step) and committed before anything is handed
to a channel. Running the same batch twice plans nothing twice.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from campaigns.db import insert_ignoring_conflicts
from campaigns.people.models import Contact
from campaigns.programs.models import Campaign, Episode, Message, PlanStep, Response
from campaigns.programs.reach import Reach, address
from campaigns.programs.window import SendingWindow
from dispatcher.routing import Candidate, route
from dispatcher.runtime.core import Runtime
from dispatcher.sending.budget import Touch
from dispatcher.sending.contents import ContentCache
from dispatcher.sending.handoff import send_messages, take_step_messages
from templates import thank_you_step

AFTER_CLOSE = ("thank_you", "summary", "you_said_we_did")


def step_is_live(campaign: Campaign, step: PlanStep) -> bool:
    """Whether a step may still send: active campaigns, and the at-close steps of closed ones."""
    if step.status == "cancelled":
        return False
    if campaign.status == "active":
        return True
    return campaign.status == "closed" and step.step in AFTER_CLOSE


def message_key(episode_id: int, step_id: int) -> str:
    return f"episode:{episode_id}:step:{step_id}"


def ineligible(step: PlanStep, episode: Episode) -> tuple[str, str] | None:
    """Why this episode gets nothing at this step, if it gets nothing."""
    if episode.state == "cancelled":
        return "campaign_cancelled", "the campaign was cancelled"
    if step.step in ("pre_notice", "invite"):
        if episode.answered_at is not None:
            return "answered", "already answered"
        if step.step == "pre_notice" and episode.invited_at is not None:
            return "already_invited", "the invite went out first"
        return None
    if episode.invited_at is None:
        return "not_invited", "was never invited"
    if step.step == "reminder" and episode.answered_at is not None:
        return "answered", f"answered on {episode.answered_at.date().isoformat()}"
    if step.step == "thank_you" and episode.thanked_at is not None:
        return "already_thanked", "already thanked"
    return None


def _template_step(step: PlanStep, episode: Episode, categories: dict[int, str]) -> str:
    if step.step == "thank_you":
        category = categories.get(episode.id)
        return thank_you_step(category) if category else "thank_you_unanswered"
    return step.step


def plan_batch(runtime: Runtime, session: Session, step: PlanStep, episodes: list[tuple[Episode, Contact]], now: datetime) -> list[dict[str, Any]]:
    """The message rows for ``episodes`` at ``step`` (not yet written)."""
    campaign = step.campaign
    window = SendingWindow.parse(campaign.sending_window)
    reach = Reach.load(session, [c for _, c in episodes], allowed=campaign.channels, available=runtime.available_media, now=now)
    cache = ContentCache(runtime)
    categories: dict[int, str] = {}
    if step.step == "thank_you":
        ids = [e.id for e, _ in episodes if e.answered_at is not None]
        categories = dict(session.execute(select(Response.episode_id, Response.category).where(Response.episode_id.in_(ids), Response.current.is_(True))).all()) if ids else {}  # type: ignore[arg-type]
    rows: list[dict[str, Any]] = []
    touches: list[tuple[int, Touch]] = []
    routed: list[tuple[int, Episode, Contact]] = []  # (row index, …) of the episodes that get a message
    candidates: list[Candidate] = []
    for episode, contact in episodes:
        row: dict[str, Any] = {
            "idempotency_key": message_key(episode.id, step.id), "campaign_id": campaign.id, "step_id": step.id,
            "episode_id": episode.id, "contact_id": contact.id, "step": step.step, "substitutions": {},
            "attempts": 0, "created_at": now, "updated_at": now,
        }
        reason = ineligible(step, episode)
        media = reach.media(contact) if reason is None else []
        if reason is None and not media:
            reason = ("unreachable", f"unreachable: {reach.why_not(contact)}")
        rows.append(row)
        if reason is not None:
            row.update(state="skipped", skip_rule=reason[0], skip_reason=reason[1])
            continue
        routed.append((len(rows) - 1, episode, contact))
        unanswered = episode.channel if step.step == "reminder" else None  # the last ask's medium (answered ones are ineligible)
        candidates.append(Candidate(contact.id, tuple(media), contact.role, contact.last_seen_at, unanswered, contact.phone is not None))
    choices = route(
        runtime, session, candidates, order=campaign.channels, mode=campaign.channel_choice,  # type: ignore[arg-type]
        campaign_id=campaign.id, step_id=step.id, batch_key=episodes[0][0].id if episodes else 0, now=now,
    )
    for (index, episode, contact), choice in zip(routed, choices, strict=True):
        medium = choice.medium
        assert medium is not None  # every candidate has a medium it can be reached on
        row = rows[index]
        template_step = _template_step(step, episode, categories)
        row.update(
            state="queued", medium=medium, channel=runtime.channels.names[medium], channel_reason=choice.reason,
            channel_estimates=choice.estimates, recipient=address(contact, medium), locale=contact.locale,
            content_id=cache.survey_content(session, campaign, medium=medium, template_step=template_step, locale=contact.locale, number=step.number, final=step.final),
            not_before=window.next_open(now, contact.timezone),
        )
        touches.append((index, Touch(contact=contact, kind=campaign.kind, step=step.step, medium=medium, at=row["not_before"], campaign_id=campaign.id, message_key=row["idempotency_key"])))
    refusals = runtime.budget.record_touches(session, [t for _, t in touches], now=now)
    for position, refusal in refusals.items():
        index = touches[position][0]
        rows[index].update(state="skipped", skip_rule=refusal.rule, skip_reason=refusal.reason, content_id=None, substitutions={}, not_before=None)
    return rows


def run_step_batch(runtime: Runtime, step_id: int, first_episode_id: int, last_episode_id: int) -> None:
    """Task: plan one batch of a contact step and send what is due (see ``take_step_messages``). Idempotent."""
    with runtime.sessions() as session:
        step = session.get(PlanStep, step_id)
        if step is None or not step_is_live(step.campaign, step):
            return
        now = runtime.clock.now()
        have = set(session.scalars(select(Message.episode_id).where(
            Message.step_id == step.id, Message.episode_id.between(first_episode_id, last_episode_id))))
        episodes = [
            (episode, contact) for episode, contact in session.execute(
                select(Episode, Contact).join(Contact, Contact.id == Episode.contact_id).where(
                    Episode.campaign_id == step.campaign_id, Episode.wave == step.wave,
                    Episode.id.between(first_episode_id, last_episode_id), Episode.state != "excluded",
                ).order_by(Episode.id)
            ).unique().all()
            if episode.id not in have
        ]
        if episodes:
            rows = plan_batch(runtime, session, step, episodes, now)
            insert_ignoring_conflicts(session, Message, rows, unique=["idempotency_key"])
            session.commit()
        left = session.scalar(update(PlanStep).where(PlanStep.id == step.id, PlanStep.batches_left > 0)
                              .values(batches_left=PlanStep.batches_left - 1).returning(PlanStep.batches_left))
        session.commit()
        # While other batches of the step are still to plan, hand out only full requests;
        # the last batch (or one that cannot tell) hands out everything that is due.
        due = take_step_messages(runtime, session, step.id, now, whole_requests_only=bool(left))
    if due:
        send_messages(runtime, due)
