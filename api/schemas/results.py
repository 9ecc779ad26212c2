"""The shape of ``GET /v1/campaigns/{id}/results`` (documents the answer in the OpenAPI page)."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, Field

from campaigns.results.people import AnswerRow  # the rows as the results compute them


class ScoreOut(BaseModel):
    kind: str
    answers: int
    score: float | None = Field(description="NPS −100..100, CSAT % satisfied, CES mean; null when nobody answered yet")
    margin: float | None = Field(description="± at 95 %, in the score's unit")
    share_positive: float | None = Field(description="% promoters / satisfied / easy")
    by_category: dict[str, int]
    small: bool = Field(description="fewer answers than small_group_below: read with care")


class GroupOut(ScoreOut):
    name: str
    label: str


class ChannelOut(BaseModel):
    medium: str
    sent: int
    delivered: int
    opened: int
    clicked: int
    answered: int
    answer_rate: float | None = Field(description="answers per message sent, %")


class InsightsOut(BaseModel):
    invited: int
    answered: int
    response_rate: float | None
    accounts_invited: int
    accounts_answered: int
    account_coverage: float | None = Field(description="% of invited accounts with at least one score")
    comments: int
    comment_rate: float | None
    channels: list[ChannelOut]


class ScoreChangeOut(BaseModel):
    improved: int
    same: int
    worse: int
    lists: dict[str, list[AnswerRow]] = Field(description="the first of those who improved and who got worse")


class TrendPointOut(ScoreOut):
    campaign_id: int
    name: str
    launched_at: datetime | None


class ActionListOut(BaseModel):
    total: int
    items: list[AnswerRow]


class ThemeOut(BaseModel):
    phrase: str
    comments: int
    categories: dict[str, int]


class ResultsOut(BaseModel):
    campaign_id: int
    campaign_name: str
    kind: str
    status: str
    as_of: date
    small_group_below: int
    headline: ScoreOut
    distribution: dict[str, int] = Field(description="score → answers")
    insights: InsightsOut
    segments: dict[str, list[GroupOut]] = Field(description="segment, tier, role, renewal")
    score_change: ScoreChangeOut
    trend: list[TrendPointOut] = Field(description="earlier campaigns of the same kind and this one, oldest first")
    lists: dict[str, ActionListOut] = Field(description="advocates, at_risk, upsell (all rows in /results/{name}.csv)")
    themes: dict[str, list[ThemeOut]] = Field(description="language → recurring themes in comments")
