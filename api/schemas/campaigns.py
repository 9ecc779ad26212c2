"""Request and response bodies for campaigns, their progress and episodes."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from campaigns.people.fields import FieldError
from campaigns.programs.models import Campaign, Episode, Message


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SurveyIn(_Strict):
    kind: Literal["nps", "csat", "ces"]
    question: str | dict[str, str] | None = Field(default=None, description="text, or per locale: {\"en\": ..., \"de\": ...}")
    follow_up_question: str | dict[str, str] | None = None
    deadline: date | None = Field(default=None, description="the last day answers are asked for; default: the day before close")


class PlanStepIn(_Strict):
    step: str = Field(description="kickoff, pre_notice, invite, reminder, thank_you, close or summary")
    offset_days: float | None = Field(default=None, description="days from the invite (T); none for thank_you and summary, which happen at close")


class SendingWindowIn(_Strict):
    start: str = Field(default="09:00", examples=["09:00"])
    end: str = Field(default="18:00", examples=["18:00"], description="HH:MM, after start; \"24:00\" keeps the window open to midnight")
    days: list[str] = Field(default=["mon", "tue", "wed", "thu", "fri"])


class InternalRecipientsIn(_Strict):
    emails: list[str] = Field(default_factory=list)
    slack_webhook_url: str | None = None
    locale: str | None = Field(default=None, description="the team's language for the kickoff and the closing summary (en, de); default en")


class CampaignIn(_Strict):
    name: str = Field(min_length=1, max_length=200)
    survey: SurveyIn
    audience: dict[str, Any] = Field(description="{\"filter\": {...}} or {\"contact_ids\": [...]} or {\"contact_external_ids\": [...]}")
    exclusions: dict[str, Any] | None = Field(default=None, description="min_account_age_days (30), exclude_churned (true), custom: [{name, filter}]")
    plan: list[PlanStepIn] | None = Field(default=None, description="default: the NPS plan (kickoff -5, pre_notice -3, invite 0, reminders 3 and 7, thank_you, close 14, summary)")
    mode: Literal["one_off", "continuous"] = "one_off"
    period_days: int | None = Field(default=None, ge=1, description="continuous: each contact is asked once per period")
    send_at: datetime | None = Field(default=None, description="T, the invite; default: as soon as the first step allows")
    timezone: str | None = Field(default=None, description="IANA zone for send_at and deadline without an offset; default UTC")
    sending_window: SendingWindowIn | None = None
    channels: list[str] | None = Field(default=None, description="the media allowed, in order of preference: email, sms, in_app")
    channel_choice: Literal["learned", "ordered"] | None = Field(
        default=None, description="learned (default): each contact gets the allowed medium they are most likely to answer on, "
        "the order breaking ties and deciding at cold start; ordered: the first allowed medium the contact can be reached on",
    )
    internal_recipients: InternalRecipientsIn | None = None
    review_link: str | None = Field(default=None, description="where promoters are asked to leave a review")

    def spec(self) -> dict[str, Any]:
        data = self.model_dump(exclude_none=True)
        if self.plan is not None:
            data["plan"] = [p.model_dump(exclude_none=True) for p in self.plan]
        data["survey"] = {**self.survey.model_dump(exclude_none=True)}
        return data


class StepProgressOut(BaseModel):
    id: int
    key: str
    step: str
    wave: int
    due_at: datetime
    status: str
    sent: int
    queued: int
    retrying: int
    failed: int
    unknown: int
    skipped: int
    skipped_by_reason: dict[str, int]
    by_medium: dict[str, dict[str, int]] = Field(description="per medium: sent (answered included), answered, queued, retrying, failed, unknown")


class CampaignOut(BaseModel):
    id: int
    name: str
    kind: str
    mode: str
    period_days: int | None
    status: str
    paused_reason: str | None
    paused_by: str | None
    paused_at: datetime | None
    send_at: datetime | None
    survey: dict[str, Any]
    audience: dict[str, Any]
    exclusions: dict[str, Any]
    plan: list[dict[str, Any]]
    sending_window: dict[str, Any]
    channels: list[str]
    channel_choice: str
    internal_recipients: dict[str, Any]
    review_link: str | None
    selection_state: str
    created_at: datetime
    launched_at: datetime | None
    closed_at: datetime | None
    cancelled_at: datetime | None
    warnings: list[str] = Field(default=[], description="what will not work as you may expect (create and launch), e.g. detractor alerts with no recipient")

    @classmethod
    def of(cls, campaign: Campaign, warnings: list[str] | None = None) -> CampaignOut:
        return cls.model_validate(campaign, from_attributes=True).model_copy(update={"warnings": warnings or []})


class WaitingOut(BaseModel):
    timezone: str
    state: str
    messages: int
    goes_at: datetime | None = Field(description="when the first of them goes out; null while the campaign is paused")
    local_time: str | None = Field(description="that moment on the contacts' clock")
    reason: str


class CampaignDetailOut(CampaignOut):
    steps: list[StepProgressOut]
    episodes_by_state: dict[str, int]
    excluded_by_rule: dict[str, int]
    waiting: list[WaitingOut] = Field(description="queued messages by contact timezone: when they go out and why they wait")


class PauseIn(_Strict):
    reason: str | None = Field(default=None, max_length=1000, description="why; shown on the campaign until it is resumed")


class CampaignPatch(_Strict):
    """Any field of a draft; the whole campaign is checked again. ``survey`` fields merge with the stored ones."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    survey: dict[str, Any] | None = None
    audience: dict[str, Any] | None = None
    exclusions: dict[str, Any] | None = None
    plan: list[PlanStepIn] | None = None
    period_days: int | None = Field(default=None, ge=1)
    send_at: datetime | None = None
    timezone: str | None = None
    sending_window: SendingWindowIn | None = None
    channels: list[str] | None = None
    internal_recipients: InternalRecipientsIn | None = None
    review_link: str | None = None

    def changes(self) -> dict[str, Any]:
        data = self.model_dump(exclude_unset=True)
        if self.plan is not None:
            data["plan"] = [p.model_dump(exclude_none=True) for p in self.plan]
        if isinstance(data.get("survey"), dict):
            allowed = {"kind", "question", "follow_up_question", "deadline"}
            unknown = set(data["survey"]) - allowed
            if unknown:
                raise FieldError(f"survey.{sorted(unknown)[0]}", "unknown field; use kind, question, follow_up_question or deadline")
        return data


class CampaignPage(BaseModel):
    items: list[CampaignOut]
    next_cursor: str | None


class EpisodeOut(BaseModel):
    id: int
    contact_id: int
    wave: int
    state: str
    exclusion_rule: str | None
    exclusion_reason: str | None
    channel: str | None
    invited_at: datetime | None
    answered_at: datetime | None
    thanked_at: datetime | None

    @classmethod
    def of(cls, episode: Episode) -> EpisodeOut:
        return cls.model_validate(episode, from_attributes=True)


class EpisodePage(BaseModel):
    items: list[EpisodeOut]
    next_cursor: str | None


class MessageOut(BaseModel):
    id: int
    episode_id: int | None
    contact_id: int | None
    step_id: int | None
    step: str
    medium: str | None
    channel: str | None
    state: str
    channel_reason: str | None = Field(description="why this medium, in words")
    channel_estimates: dict[str, Any] | None = Field(description="each candidate medium's estimated chance of an answer at the time of choosing")
    skip_rule: str | None
    skip_reason: str | None
    error_code: str | None
    error_text: str | None
    not_before: datetime | None
    created_at: datetime
    sent_at: datetime | None
    updated_at: datetime

    @classmethod
    def of(cls, message: Message) -> MessageOut:
        return cls.model_validate(message, from_attributes=True)


class MessagePage(BaseModel):
    items: list[MessageOut]
    next_cursor: str | None


class PreviewOut(BaseModel):
    selected: int
    excluded_total: int
    excluded_by_rule: dict[str, int]
    excluded_sample: dict[str, list[dict[str, Any]]] = Field(description="per exclusion rule, a few contacts it keeps out and the reason for each")
    predicted_media: dict[str, int] = Field(description="the invite's predicted medium → how many selected contacts (channel choice's best estimate)")
    sample: list[dict[str, Any]] = Field(description="selected contacts with their predicted channel, its reason and each medium's estimate")
    schedule: list[dict[str, Any]]
    channels: dict[str, str | None] = Field(description="the adapter each allowed medium would use")
    unavailable_channels: dict[str, str] = Field(description="allowed media whose channel is not configured, and why")
    warnings: list[str] = Field(default=[], description="e.g. detractor alerts that would reach nobody")


class YouSaidWeDidIn(_Strict):
    text: str = Field(min_length=1, max_length=5000)
