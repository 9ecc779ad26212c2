"""Request and response bodies for contacts, accounts and the CS team."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from campaigns.people.models import Account, Contact, TeamMember
from campaigns.people.upsert import UpsertResult

MAX_BULK = 10_000
AttributeValue = str | int | float | bool | None


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ContactChanges(_Strict):
    account_external_id: str | None = None
    name: str | None = None
    email: str | None = None
    phone: str | None = Field(default=None, description="E.164, e.g. +14155550100")
    role: str | None = None
    locale: str | None = Field(default=None, description="a language tag such as en or de-AT")
    timezone: str | None = Field(default=None, description="an IANA name such as Europe/Berlin")
    last_seen_at: datetime | None = None
    attributes: dict[str, AttributeValue] | None = None


class ContactIn(ContactChanges):
    external_id: str = Field(min_length=1, max_length=200)


class AccountIn(_Strict):
    external_id: str = Field(min_length=1, max_length=200)
    name: str | None = None
    segment: str | None = None
    tier: str | None = None
    plan: str | None = None
    lifecycle_stage: str | None = None
    created_on: date | None = None
    renewal_on: date | None = None
    owner_email: str | None = None
    attributes: dict[str, AttributeValue] | None = None


class ContactBulk(_Strict):
    items: list[ContactIn] = Field(min_length=1, max_length=MAX_BULK)


class AccountBulk(_Strict):
    items: list[AccountIn] = Field(min_length=1, max_length=MAX_BULK)


class RowErrorOut(BaseModel):
    row: int
    external_id: str | None
    field: str
    reason: str


class UpsertOut(BaseModel):
    inserted: int
    updated: int
    errors: list[RowErrorOut]

    @classmethod
    def of(cls, result: UpsertResult) -> UpsertOut:
        return cls(
            inserted=result.inserted,
            updated=result.updated,
            errors=[RowErrorOut(row=e.row, external_id=e.external_id, field=e.field, reason=e.reason) for e in result.errors],
        )


class ContactOut(BaseModel):
    id: int
    external_id: str
    account_external_id: str | None
    name: str | None
    email: str | None
    phone: str | None
    role: str | None
    locale: str
    timezone: str
    last_seen_at: datetime | None
    attributes: dict[str, Any]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, contact: Contact) -> ContactOut:
        return cls(
            id=contact.id, external_id=contact.external_id,
            account_external_id=contact.account.external_id if contact.account else None,
            name=contact.name, email=contact.email, phone=contact.phone, role=contact.role,
            locale=contact.locale, timezone=contact.timezone, last_seen_at=contact.last_seen_at,
            attributes=contact.attributes or {}, created_at=contact.created_at, updated_at=contact.updated_at,
        )


class MediumChannelOut(BaseModel):
    medium: str
    reachable: bool
    unreachable_reason: str | None
    estimate: float = Field(description="the estimated chance of an answer on this medium (posterior mean)")
    prior: float = Field(description="what is expected before this contact's own history: everyone's, their role's, recency in the product")
    evidence: dict[str, int] = Field(description="counts: sent (survey asks), opened (in-app: shown), clicked, answered, dismissed, bounced")
    decayed_evidence: dict[str, float] = Field(description="the same evidence with older events weighing less (half-life)")
    summary: str | None


class ContactChannelsOut(BaseModel):
    contact_id: int
    half_life_days: float
    as_of: datetime
    media: list[MediumChannelOut]


class AccountOut(BaseModel):
    id: int
    external_id: str
    name: str
    segment: str | None
    tier: str | None
    plan: str | None
    lifecycle_stage: str | None
    created_on: date | None
    renewal_on: date | None
    owner_email: str | None
    attributes: dict[str, Any]

    @classmethod
    def of(cls, account: Account) -> AccountOut:
        return cls(
            id=account.id, external_id=account.external_id, name=account.name, segment=account.segment,
            tier=account.tier, plan=account.plan, lifecycle_stage=account.lifecycle_stage,
            created_on=account.created_on, renewal_on=account.renewal_on,
            owner_email=account.owner.email if account.owner else None, attributes=account.attributes or {},
        )


class ContactPage(BaseModel):
    items: list[ContactOut]
    next_cursor: str | None


class AccountPage(BaseModel):
    items: list[AccountOut]
    next_cursor: str | None


class TeamMemberIn(_Strict):
    name: str = Field(min_length=1, max_length=200)
    email: str
    slack_handle: str | None = None


class TeamMemberOut(BaseModel):
    id: int
    name: str
    email: str
    slack_handle: str | None
    active: bool

    @classmethod
    def of(cls, member: TeamMember) -> TeamMemberOut:
        return cls(id=member.id, name=member.name, email=member.email, slack_handle=member.slack_handle, active=member.active)
