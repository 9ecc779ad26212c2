"""Request and response bodies for outgoing webhook subscriptions and their deliveries."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from campaigns.webhooks.models import WebhookDelivery, WebhookSubscription

Event = Literal["response.created", "response.updated"]
ALL_EVENTS: list[Event] = ["response.created", "response.updated"]


class WebhookIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(min_length=1, max_length=2000, description="where Pulse POSTs events (https outside development)")
    events: list[Event] = Field(default_factory=lambda: list(ALL_EVENTS), min_length=1)
    description: str | None = Field(default=None, max_length=200)


class WebhookOut(BaseModel):
    id: int
    url: str
    events: list[str]
    description: str | None
    active: bool
    disabled_reason: str | None
    created_at: datetime

    @classmethod
    def of(cls, subscription: WebhookSubscription) -> WebhookOut:
        return cls.model_validate(subscription, from_attributes=True)


class NewWebhookOut(WebhookOut):
    secret: str = Field(description="shown once: verify the Pulse-Signature header with it")

    @classmethod
    def of(cls, subscription: WebhookSubscription) -> NewWebhookOut:
        return cls.model_validate(subscription, from_attributes=True)


class DeliveryOut(BaseModel):
    id: int
    event_id: str
    event_type: str
    status: str = Field(description="pending, delivering, retrying, delivered or failed")
    attempts: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None

    @classmethod
    def of(cls, delivery: WebhookDelivery) -> DeliveryOut:
        return cls.model_validate(delivery, from_attributes=True)


class DeliveryPage(BaseModel):
    items: list[DeliveryOut]
    next_cursor: str | None
