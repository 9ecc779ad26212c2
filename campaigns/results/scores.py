"""A score from aggregate counts, with its 95 % margin of error, computed the same way for any group.

The database returns, per group, the number of answers, the count per category,
the sum of scores and the sum of squared scores; everything here is arithmetic
on those few numbers, so a group of 100,000 answers costs what a group of ten does.

Margins (normal approximation, z = 1.96):
- NPS: each answer is +1 (promoter), 0 or −1 (detractor); the NPS is their mean × 100,
  so MoE = 1.96 · √((p + d − (p − d)²) / n) · 100 with p, d the shares of promoters and detractors.
- CSAT: a proportion q satisfied: MoE = 1.96 · √(q(1 − q) / n) · 100 points.
- CES: a mean: MoE = 1.96 · s / √n with s the sample standard deviation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Integer, case, cast, func
from sqlalchemy.sql.elements import ColumnElement

from campaigns.programs.kinds import SurveyKind
from campaigns.programs.models import Response

Z95 = 1.96
# Fewer answers than this and a group's score moves a lot with one more answer:
# shown, but flagged instead of over-read.
SMALL_GROUP = 30


@dataclass(frozen=True)
class Score:
    kind: str
    answers: int
    score: float | None  # NPS −100..100; CSAT % satisfied; CES mean; None: no answers yet
    margin: float | None  # ± at 95 %, in the score's unit
    share_positive: float | None  # % promoters / satisfied / easy
    by_category: dict[str, int]
    small: bool  # fewer than SMALL_GROUP answers

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "answers": self.answers, "score": self.score, "margin": self.margin,
                "share_positive": self.share_positive, "by_category": self.by_category, "small": self.small}


def aggregate_columns(kind: SurveyKind) -> list[ColumnElement[Any]]:
    """The aggregate columns every score query selects, in the order ``score_of`` reads them."""
    columns: list[ColumnElement[Any]] = [func.count(Response.id), func.coalesce(func.sum(Response.score), 0),
                                         func.coalesce(func.sum(cast(Response.score * Response.score, Integer)), 0)]
    for name, _, _ in kind.categories:
        columns.append(func.coalesce(func.sum(case((Response.category == name, 1), else_=0)), 0))
    return columns


def score_of(kind: SurveyKind, row: tuple[Any, ...] | Any) -> Score:
    """The score of one group from the values of ``aggregate_columns`` (in that order)."""
    n, total, squares, *counts = (int(v or 0) for v in row)
    by_category = {name: counts[i] for i, (name, _, _) in enumerate(kind.categories)}
    return score_from_counts(kind, n=n, total=total, squares=squares, by_category=by_category)


def score_from_counts(kind: SurveyKind, *, n: int, total: int, squares: int, by_category: dict[str, int]) -> Score:
    if n == 0:
        return Score(kind.name, 0, None, None, None, by_category, True)
    positive_name = kind.categories[-1][0]
    positive = by_category[positive_name] / n
    if kind.name == "nps":
        p, d = by_category["promoter"] / n, by_category["detractor"] / n
        score = 100 * (p - d)
        margin = Z95 * math.sqrt(max(p + d - (p - d) ** 2, 0.0) / n) * 100
        value, moe = round(score, 1), round(margin, 1)
    elif kind.name == "csat":
        score = 100 * positive
        margin = Z95 * math.sqrt(positive * (1 - positive) / n) * 100
        value, moe = round(score, 1), round(margin, 1)
    else:
        mean = total / n
        variance = (squares - n * mean * mean) / (n - 1) if n > 1 else 0.0
        value, moe = round(mean, 2), round(Z95 * math.sqrt(max(variance, 0.0) / n), 2)
    return Score(kind.name, n, value, moe, round(100 * positive, 1), by_category, n < SMALL_GROUP)
