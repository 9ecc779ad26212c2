"""A campaign's figures: progress per step, episodes by state, and the headline."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from campaigns.programs.kinds import Headline, headline, kind_named
from campaigns.programs.models import Campaign, Episode, Message, PlanStep, Response

DELIVERED_OR_BETTER = ("sent", "delivered", "opened", "clicked", "answered")


@dataclass
class StepProgress:
    id: int
    key: str
    step: str
    wave: int
    due_at: Any
    status: str
    sent: int = 0
    queued: int = 0
    retrying: int = 0
    failed: int = 0
    unknown: int = 0
    skipped: int = 0
    skipped_by_reason: dict[str, int] = field(default_factory=dict)
    # medium → {sent, answered, queued, retrying, failed, unknown}; sent includes answered
    by_medium: dict[str, dict[str, int]] = field(default_factory=dict)


def step_progress(session: Session, campaign_id: int) -> list[StepProgress]:
    # Keyed for lookups with a message's step_id, a nullable column (the query below leaves NULL out).
    steps: dict[int | None, StepProgress] = {s.id: StepProgress(s.id, s.key, s.step, s.wave, s.due_at, s.status) for s in session.scalars(
        select(PlanStep).where(PlanStep.campaign_id == campaign_id).order_by(PlanStep.wave, PlanStep.due_at, PlanStep.id))}
    rows = session.execute(
        select(Message.step_id, Message.state, Message.skip_rule, Message.medium, func.count())
        .where(Message.campaign_id == campaign_id, Message.step_id.is_not(None))
        .group_by(Message.step_id, Message.state, Message.skip_rule, Message.medium)
    )
    for step_id, state, rule, medium, count in rows:
        progress = steps.get(step_id)
        if progress is None:
            continue
        if medium is not None:
            _count_medium(progress, medium, state, count)
        if state in DELIVERED_OR_BETTER:
            progress.sent += count
        elif state == "skipped":
            progress.skipped += count
            progress.skipped_by_reason[rule or "unknown"] = progress.skipped_by_reason.get(rule or "unknown", 0) + count
        elif state in ("queued", "sending"):
            progress.queued += count
        elif hasattr(progress, state):
            setattr(progress, state, getattr(progress, state) + count)
    return list(steps.values())


def _count_medium(progress: StepProgress, medium: str, state: str, count: int) -> None:
    bucket = "sent" if state in DELIVERED_OR_BETTER else "queued" if state in ("queued", "sending") else state
    if bucket not in ("sent", "queued", "retrying", "failed", "unknown"):
        return
    counts = progress.by_medium.setdefault(medium, {"sent": 0, "answered": 0, "queued": 0, "retrying": 0, "failed": 0, "unknown": 0})
    counts[bucket] += count
    if state == "answered":
        counts["answered"] += count


def episode_counts(session: Session, campaign_id: int) -> dict[str, int]:
    rows = session.execute(select(Episode.state, func.count()).where(Episode.campaign_id == campaign_id).group_by(Episode.state))
    return {state: count for state, count in rows}


def exclusion_counts(session: Session, campaign_id: int) -> dict[str, int]:
    rows = session.execute(
        select(Episode.exclusion_rule, func.count()).where(Episode.campaign_id == campaign_id, Episode.state == "excluded").group_by(Episode.exclusion_rule)
    )
    return {rule or "unknown": count for rule, count in rows}


@dataclass(frozen=True)
class Summary:
    headline: Headline
    recipients: int  # contacts invited
    responses: int
    response_rate: float  # 0..1
    comments: int
    by_channel: dict[str, dict[str, int]]  # medium → {"sent": n, "answered": n}


def summary(session: Session, campaign: Campaign) -> Summary:
    kind = kind_named(campaign.kind)
    answers = session.execute(
        select(Response.score, Response.comment, Response.medium).where(Response.campaign_id == campaign.id, Response.current.is_(True))
    ).all()
    recipients = session.scalar(select(func.count()).select_from(Episode).where(Episode.campaign_id == campaign.id, Episode.invited_at.is_not(None))) or 0
    by_channel: dict[str, dict[str, int]] = defaultdict(lambda: {"sent": 0, "answered": 0})
    for medium, count in session.execute(
        select(Message.medium, func.count()).where(Message.campaign_id == campaign.id, Message.step == "invite", Message.state.in_(DELIVERED_OR_BETTER)).group_by(Message.medium)
    ):
        by_channel[medium or "unknown"]["sent"] = count
    for _, _, medium in answers:
        by_channel[medium]["answered"] += 1
    return Summary(
        headline=headline(kind, [a.score for a in answers]),
        recipients=recipients,
        responses=len(answers),
        response_rate=round(len(answers) / recipients, 4) if recipients else 0.0,
        comments=sum(1 for a in answers if a.comment),
        by_channel=dict(by_channel),
    )
