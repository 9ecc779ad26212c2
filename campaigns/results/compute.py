"""A campaign's results in one object: headline, insights, segments, score change, lists, themes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from campaigns.programs.kinds import kind_named
from campaigns.programs.models import Campaign, Episode, Response
from campaigns.results.breakdowns import (
    Group,
    TrendPoint,
    answers_of,
    breakdowns,
    score_distribution,
    trend,
)
from campaigns.results.insights import Insights, insights
from campaigns.results.people import LIST_NAMES, AnswerRow, action_list, list_totals, score_change
from campaigns.results.scores import (
    SMALL_GROUP,
    Score,
    score_from_counts,
)
from campaigns.results.themes import Theme, themes_by_language


@dataclass(frozen=True)
class Results:
    campaign_id: int
    campaign_name: str
    kind: str
    status: str
    as_of: date
    headline: Score
    distribution: dict[int, int]  # score → answers
    insights: Insights
    segments: dict[str, list[Group]]  # segment, tier, role, renewal
    score_change: dict[str, int]  # improved, same, worse
    score_change_lists: dict[str, list[AnswerRow]]
    trend: list[TrendPoint]
    lists: dict[str, list[AnswerRow]]  # advocates, at_risk, upsell (the first ``list_limit``)
    list_totals: dict[str, int]
    themes: dict[str, list[Theme]]  # language → themes

    def as_dict(self) -> dict[str, Any]:
        return {
            "campaign_id": self.campaign_id, "campaign_name": self.campaign_name, "kind": self.kind, "status": self.status,
            "as_of": self.as_of.isoformat(), "small_group_below": SMALL_GROUP,
            "headline": self.headline.as_dict(),
            "distribution": {str(k): v for k, v in sorted(self.distribution.items())}, "insights": self.insights.as_dict(),
            "segments": {name: [g.as_dict() for g in groups] for name, groups in self.segments.items()},
            "score_change": {**self.score_change, "lists": {m: [r.as_dict() for r in rows] for m, rows in self.score_change_lists.items()}},
            "trend": [p.as_dict() for p in self.trend],
            "lists": {name: {"total": self.list_totals[name], "items": [r.as_dict() for r in rows]} for name, rows in self.lists.items()},
            "themes": {language: [t.as_dict() for t in themes] for language, themes in self.themes.items()},
        }


def campaign_results(session: Session, *, campaign: Campaign, today: date, list_limit: int = 25, with_themes: bool = True) -> Results:
    """Everything the results page and API show. Read-only; a few aggregate queries, no row loops."""
    kind = kind_named(campaign.kind)
    total, groups = breakdowns(session, campaign=campaign, kind=kind, today=today)
    change, change_lists = score_change(session, campaign=campaign, kind=kind, limit=list_limit)
    return Results(
        campaign_id=campaign.id, campaign_name=campaign.name, kind=campaign.kind, status=campaign.status, as_of=today,
        headline=total,
        distribution=score_distribution(session, campaign_id=campaign.id),
        insights=insights(session, campaign_id=campaign.id),
        segments=groups,
        score_change=change,
        score_change_lists=change_lists,
        trend=trend(session, campaign=campaign, kind=kind),
        lists={n: action_list(session, campaign_id=campaign.id, kind=kind, name=n, today=today, limit=list_limit) for n in LIST_NAMES},
        list_totals=list_totals(session, campaign_id=campaign.id, kind=kind, today=today),
        themes=themes_by_language(session, campaign_id=campaign.id) if with_themes else {},
    )


def has_answers(session: Session, *, campaign_id: int) -> bool:
    return session.scalar(select(Response.id).where(*answers_of(campaign_id)).limit(1)) is not None


def scores_by_campaign(session: Session, *, campaigns: list[Campaign]) -> dict[int, Score]:
    """The headline of each campaign, from one grouped query (for lists of campaigns)."""
    ids = [c.id for c in campaigns]
    if not ids:
        return {}
    rows = session.execute(
        select(Response.campaign_id, Response.category, func.count(Response.id), func.coalesce(func.sum(Response.score), 0),
               func.coalesce(func.sum(Response.score * Response.score), 0))
        .where(Response.campaign_id.in_(ids), Response.current.is_(True)).group_by(Response.campaign_id, Response.category)
    ).all()
    sums: dict[int, dict[str, Any]] = {}
    for campaign_id, category, count, total, squares in rows:
        entry = sums.setdefault(campaign_id, {"n": 0, "total": 0, "squares": 0, "by": {}})
        entry["n"] += int(count)
        entry["total"] += int(total)
        entry["squares"] += int(squares)
        entry["by"][category] = int(count)
    result = {}
    for campaign in campaigns:
        kind = kind_named(campaign.kind)
        entry = sums.get(campaign.id, {"n": 0, "total": 0, "squares": 0, "by": {}})
        by_category = {name: entry["by"].get(name, 0) for name, _, _ in kind.categories}
        result[campaign.id] = score_from_counts(kind, n=entry["n"], total=entry["total"], squares=entry["squares"], by_category=by_category)
    return result


def audience_sizes(session: Session, *, campaign_ids: list[int]) -> dict[int, int]:
    """Contacts selected (not excluded) per campaign."""
    if not campaign_ids:
        return {}
    rows = session.execute(
        select(Episode.campaign_id, func.count(Episode.id)).where(Episode.campaign_id.in_(campaign_ids), Episode.state != "excluded")
        .group_by(Episode.campaign_id)
    ).all()
    return {int(c): int(n) for c, n in rows}
