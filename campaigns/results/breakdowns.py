"""The score broken down by account segment, tier, contact role and renewal window, and over time.

Each breakdown is one GROUP BY over the campaign's current answers; dates for the
renewal windows are computed here and compared in SQL, so the same statement
runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import String, case, func, literal, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from campaigns.people.models import Account, Contact
from campaigns.programs.kinds import SurveyKind
from campaigns.programs.models import Campaign, Response
from campaigns.results.scores import Score, aggregate_columns, score_of

UNKNOWN = "unknown"
# Renewal windows, from the day the results are read. Disjoint, so the groups add up.
RENEWAL_WINDOWS = ("within_90_days", "within_91_to_120_days", "later", "passed", UNKNOWN)
RENEWAL_LABELS = {
    "within_90_days": "Renews within 90 days", "within_91_to_120_days": "Renews in 91–120 days",
    "later": "Renews later", "passed": "Renewal date passed", UNKNOWN: "Renewal date unknown",
}
DIMENSIONS = ("segment", "tier", "role", "renewal")


@dataclass(frozen=True)
class Group:
    name: str
    label: str
    score: Score

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "label": self.label, **self.score.as_dict()}


def renewal_window(today: date) -> ColumnElement[str]:
    """The renewal window of ``Account.renewal_on`` as of ``today`` (an SQL CASE)."""
    return case(
        (Account.renewal_on.is_(None), literal(UNKNOWN)),
        (Account.renewal_on < today, literal("passed")),
        (Account.renewal_on <= today + timedelta(days=90), literal("within_90_days")),
        (Account.renewal_on <= today + timedelta(days=120), literal("within_91_to_120_days")),
        else_=literal("later"),
    )


def _dimension(name: str, today: date) -> ColumnElement[Any]:
    if name == "segment":
        return func.coalesce(Account.segment, literal(UNKNOWN, String))
    if name == "tier":
        return func.coalesce(Account.tier, literal(UNKNOWN, String))
    if name == "role":
        return func.coalesce(Contact.role, literal(UNKNOWN, String))
    if name == "renewal":
        return renewal_window(today)
    raise ValueError(f"unknown breakdown {name!r}; use one of {', '.join(DIMENSIONS)}")


def answers_of(campaign_id: int) -> tuple[ColumnElement[bool], ...]:
    return (Response.campaign_id == campaign_id, Response.current.is_(True))


def breakdowns(session: Session, *, campaign: Campaign, kind: SurveyKind, today: date) -> tuple[Score, dict[str, list[Group]]]:
    """The headline and every breakdown from ONE scan of the answers.

    The database groups by all four dimensions at once (segment × tier × role ×
    renewal window: hundreds of rows for real account data, whatever the number
    of answers); the sums per dimension and the total are added up here.
    """
    keys = [_dimension(d, today).label(d) for d in DIMENSIONS]
    rows = session.execute(
        select(*keys, *aggregate_columns(kind)).select_from(Response)
        .join(Contact, Contact.id == Response.contact_id).outerjoin(Account, Account.id == Response.account_id)
        .where(*answers_of(campaign.id)).group_by(*keys)
    ).all()
    width = 3 + len(kind.categories)
    total = [0] * width
    sums: dict[str, dict[str, list[int]]] = {d: {} for d in DIMENSIONS}
    for row in rows:
        values = [int(v or 0) for v in row[len(DIMENSIONS):]]
        total = [a + b for a, b in zip(total, values, strict=True)]
        for index, dimension in enumerate(DIMENSIONS):
            group = sums[dimension].setdefault(str(row[index]), [0] * width)
            sums[dimension][str(row[index])] = [a + b for a, b in zip(group, values, strict=True)]
    result = {}
    for dimension, groups in sums.items():
        made = [Group(name, RENEWAL_LABELS.get(name, name) if dimension == "renewal" else name, score_of(kind, values)) for name, values in groups.items()]
        if dimension == "renewal":
            made.sort(key=lambda g: RENEWAL_WINDOWS.index(g.name) if g.name in RENEWAL_WINDOWS else 99)
        else:
            made.sort(key=lambda g: (-g.score.answers, g.name))
        result[dimension] = made
    return score_of(kind, total), result


@dataclass(frozen=True)
class TrendPoint:
    campaign_id: int
    name: str
    launched_at: datetime | None
    score: Score

    def as_dict(self) -> dict[str, Any]:
        return {"campaign_id": self.campaign_id, "name": self.name,
                "launched_at": self.launched_at.isoformat() if self.launched_at else None, **self.score.as_dict()}


def trend(session: Session, *, campaign: Campaign, kind: SurveyKind, limit: int = 12) -> list[TrendPoint]:
    """This campaign and the earlier campaigns of the same kind (not transactional), oldest first."""
    since = campaign.launched_at or campaign.created_at
    launched = func.coalesce(Campaign.launched_at, Campaign.created_at)
    rows = session.execute(
        select(Campaign.id, Campaign.name, Campaign.launched_at, *aggregate_columns(kind)).select_from(Campaign)
        .join(Response, (Response.campaign_id == Campaign.id) & Response.current.is_(True))
        .where(Campaign.kind == kind.name, Campaign.mode != "transactional", launched <= since)
        .group_by(Campaign.id, Campaign.name, Campaign.launched_at, Campaign.created_at)
        .order_by(launched.desc(), Campaign.id.desc()).limit(limit)
    ).all()
    return [TrendPoint(row[0], row[1], row[2], score_of(kind, row[3:])) for row in reversed(rows)]


def score_distribution(session: Session, *, campaign_id: int) -> dict[int, int]:
    """How many current answers gave each score."""
    rows = session.execute(select(Response.score, func.count()).where(*answers_of(campaign_id)).group_by(Response.score)).all()
    return {int(score): int(count) for score, count in rows}
