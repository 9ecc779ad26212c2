"""Survey kinds, their scales, the category of a score, and the headline figure."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class SurveyKind:
    name: str
    low: int
    high: int
    categories: tuple[tuple[str, int, int], ...]  # (category, lowest score, highest score)
    default_question: str
    low_label: str
    high_label: str

    def in_scale(self, score: int) -> bool:
        return self.low <= score <= self.high

    def category(self, score: int) -> str:
        for name, low, high in self.categories:
            if low <= score <= high:
                return name
        raise ValueError(f"score {score} is outside the {self.name.upper()} scale {self.low}-{self.high}")


NPS = SurveyKind(
    "nps", 0, 10, (("detractor", 0, 6), ("passive", 7, 8), ("promoter", 9, 10)),
    "How likely are you to recommend {company} to a friend or colleague?", "Not at all likely", "Extremely likely",
)
CSAT = SurveyKind(
    "csat", 1, 5, (("unsatisfied", 1, 3), ("satisfied", 4, 5)),
    "How satisfied were you with {company}?", "Very unsatisfied", "Very satisfied",
)
CES = SurveyKind(
    "ces", 1, 7, (("hard", 1, 3), ("neutral", 4, 4), ("easy", 5, 7)),
    "How easy was it to get what you needed from {company}?", "Very difficult", "Very easy",
)
KINDS = {k.name: k for k in (NPS, CSAT, CES)}
DEFAULT_FOLLOW_UP = "What is the main reason for your score?"


def kind_named(name: str) -> SurveyKind:
    try:
        return KINDS[name]
    except KeyError:
        raise ValueError(f"unknown survey kind {name!r}; use one of nps, csat, ces") from None


@dataclass(frozen=True)
class Headline:
    kind: str
    responses: int
    score: float | None  # NPS −100..100; CSAT % satisfied; CES mean score
    share_positive: float | None  # % promoters / satisfied / easy
    by_category: dict[str, int]


def headline(kind: SurveyKind, scores: Iterable[int]) -> Headline:
    values = list(scores)
    counts = {name: 0 for name, _, _ in kind.categories}
    for value in values:
        counts[kind.category(value)] += 1
    n = len(values)
    if not n:
        return Headline(kind.name, 0, None, None, counts)
    if kind.name == "nps":
        score = round(100 * (counts["promoter"] - counts["detractor"]) / n, 1)
        positive = round(100 * counts["promoter"] / n, 1)
    elif kind.name == "csat":
        score = positive = round(100 * counts["satisfied"] / n, 1)
    else:
        score = round(sum(values) / n, 2)
        positive = round(100 * counts["easy"] / n, 1)
    return Headline(kind.name, n, score, positive, counts)
