"""Request and response bodies for follow-up tasks."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from campaigns.db import ID_MAX
from campaigns.followups.service import FollowUpView

State = Literal["open", "contacted", "resolved"]


class NoteOut(BaseModel):
    at: datetime
    author: str
    text: str


class AnswerOut(BaseModel):
    response_id: int
    score: int
    category: str
    comment: str | None
    medium: str
    answered_at: datetime


class CampaignRef(BaseModel):
    id: int
    name: str
    kind: str


class ContactRef(BaseModel):
    id: int
    external_id: str
    name: str | None
    email: str | None
    phone: str | None


class AccountRef(BaseModel):
    id: int
    external_id: str
    name: str
    tier: str | None
    renewal_on: date | None


class OwnerRef(BaseModel):
    id: int
    name: str
    email: str


class FollowUpOut(BaseModel):
    id: int
    state: State
    category: str
    answer: AnswerOut = Field(description="the episode's current answer")
    campaign: CampaignRef
    contact: ContactRef
    account: AccountRef | None
    owner: OwnerRef | None
    assigned_by: str | None = Field(description="account_owner, round_robin or api")
    episode_id: int
    notes: list[NoteOut]
    created_at: datetime
    updated_at: datetime
    contacted_at: datetime | None
    resolved_at: datetime | None

    @classmethod
    def of(cls, view: FollowUpView) -> FollowUpOut:
        task, response, contact, account, owner = view.follow_up, view.response, view.contact, view.account, view.owner
        return cls(
            id=task.id, state=task.state, category=task.category,  # type: ignore[arg-type]
            answer=AnswerOut(response_id=response.id, score=response.score, category=response.category, comment=response.comment, medium=response.medium, answered_at=response.created_at),
            campaign=CampaignRef(id=view.campaign.id, name=view.campaign.name, kind=view.campaign.kind),
            contact=ContactRef(id=contact.id, external_id=contact.external_id, name=contact.name, email=contact.email, phone=contact.phone),
            account=AccountRef(id=account.id, external_id=account.external_id, name=account.name, tier=account.tier, renewal_on=account.renewal_on) if account else None,
            owner=OwnerRef(id=owner.id, name=owner.name, email=owner.email) if owner else None,
            assigned_by=task.assigned_by, episode_id=task.episode_id, notes=[NoteOut(**n) for n in task.notes or []],
            created_at=task.created_at, updated_at=task.updated_at, contacted_at=task.contacted_at, resolved_at=task.resolved_at,
        )


class FollowUpPage(BaseModel):
    items: list[FollowUpOut]
    next_cursor: str | None


class FollowUpChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    state: State | None = Field(default=None, description="open → contacted → resolved (a step may be skipped); resolved → open reopens")
    note: str | None = Field(default=None, min_length=1, max_length=5000, description="appended, with your key's name and the time")
    owner_id: int | None = Field(default=None, ge=1, le=ID_MAX, description="reassign to another active team member")

    @model_validator(mode="after")
    def _something(self) -> FollowUpChange:
        if self.state is None and self.note is None and self.owner_id is None:
            raise ValueError("give at least one of state, note, owner_id")
        return self
