"""Request and response bodies for the fatigue policy and a contact's fatigue.

Field types here only shape the JSON; what a valid policy is (windows of at
least a day, known kinds and scopes, no self-contradiction) is decided by
``campaigns.fatigue.policy.check_policy``, so the API and any other caller
refuse exactly the same documents with the same field names.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from campaigns.fatigue.models import FatigueTouch
from campaigns.fatigue.outlook import ContactFatigue
from campaigns.fatigue.service import PolicyRecord


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FatigueRuleIn(_Strict):
    name: str | None = Field(default=None, description="a stable code used in refusals; default: made from the rule, e.g. nps_once_per_180d")
    kinds: list[str] | str = Field(default="all", description='"all", or a list of survey kinds: nps, csat, ces')
    counts: str = Field(default="invitations", description="invitations, or messages (every step: pre-notices, invites, reminders, thank-yous, in-app dismissals)")
    limit: int = Field(description="at most this many counted touches ...")
    window_days: int = Field(description="... within any period of this many days")
    scope: str = Field(default="contact", description="contact, or account (every contact of the account together)")


class KindSettingsIn(_Strict):
    priority: int | None = Field(default=None, description="default NPS 3 > CES 2 > CSAT 1; an invitation may take the slot of a lower-priority reservation whose contact has heard nothing yet")
    when_full: str | None = Field(default=None, description="defer (retry when the window opens) or drop")
    max_defer_days: int | None = Field(default=None, description="a deferral further out than this is dropped")


class FatiguePolicyIn(_Strict):
    rules: list[FatigueRuleIn]
    min_gap_days: int = Field(description="at least this many days between any two invitations of one contact (0: none)")
    kinds: dict[str, KindSettingsIn] | None = Field(default=None, description="per survey kind; kinds left out keep their defaults")

    def document(self) -> dict[str, Any]:
        return {
            "rules": [r.model_dump(exclude_none=True) for r in self.rules],
            "min_gap_days": self.min_gap_days,
            "kinds": {k: v.model_dump(exclude_none=True) for k, v in (self.kinds or {}).items()},
        }


class FatiguePolicyOut(BaseModel):
    version: int = Field(description="0: the built-in defaults")
    rules: list[dict[str, Any]]
    min_gap_days: int
    min_gap_rule: str = Field(description="the code refusals use for the minimum gap, e.g. min_gap_3d")
    kinds: dict[str, dict[str, Any]]
    created_at: datetime | None
    created_by: str | None

    @classmethod
    def of(cls, record: PolicyRecord) -> FatiguePolicyOut:
        document = record.policy.document()
        return cls(
            version=record.policy.version, rules=document["rules"], min_gap_days=document["min_gap_days"],
            min_gap_rule=record.policy.gap_rule, kinds=document["kinds"], created_at=record.created_at, created_by=record.created_by,
        )


class FatiguePolicyHistory(BaseModel):
    items: list[FatiguePolicyOut]


class TouchOut(BaseModel):
    id: int
    kind: str
    step: str
    medium: str | None
    campaign_id: int | None
    trigger: str | None
    state: str = Field(description="reserved, planned, sent (these count) or released")
    at: datetime
    policy_version: int
    created_at: datetime
    sent_at: datetime | None
    released_at: datetime | None

    @classmethod
    def of(cls, touch: FatigueTouch) -> TouchOut:
        return cls.model_validate(touch, from_attributes=True)


class KindOutlookOut(BaseModel):
    earliest_at: datetime | None = Field(description="the earliest moment an invitation of this kind has room (now if nothing blocks)")
    earliest_on: date | None
    blocked_by: str | None = Field(description="the rule that blocks an invitation now")
    reason: str | None


class ContactFatigueOut(BaseModel):
    contact_id: int
    policy_version: int
    kinds: dict[str, KindOutlookOut]
    touches: list[TouchOut]

    @classmethod
    def of(cls, contact_id: int, fatigue: ContactFatigue) -> ContactFatigueOut:
        return cls(
            contact_id=contact_id, policy_version=fatigue.policy.version,
            kinds={
                k.kind: KindOutlookOut(earliest_at=k.earliest_at, earliest_on=k.earliest_at.date() if k.earliest_at else None, blocked_by=k.rule, reason=k.reason)
                for k in fatigue.kinds
            },
            touches=[TouchOut.of(t) for t in fatigue.touches],
        )
