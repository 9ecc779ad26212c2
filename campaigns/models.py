"""Every mapped table, imported in one place for Alembic and for tests."""

from __future__ import annotations

from campaigns.access.models import ApiKey, ConsoleSession, ConsoleSignInLink, Role, ShareLink
from campaigns.db import Base
from campaigns.events.models import EngagementCounter, InboundSms, ProviderEvent, SmsConversation
from campaigns.fatigue.models import FatiguePolicyVersion, FatigueTouch
from campaigns.followups.models import FollowUp
from campaigns.people.models import Account, Contact, TeamMember
from campaigns.programs.models import (
    AnswerOutbox,
    Campaign,
    Episode,
    IdempotentRequest,
    InAppPrompt,
    Message,
    MessageContent,
    PlanStep,
    Response,
    Suppression,
)
from campaigns.studio.models import LocaleProfile, TemplateUse, TemplateVersion
from campaigns.timekeeping import ClockState
from campaigns.webhooks.models import WebhookDelivery, WebhookSubscription

__all__ = [
    "Account",
    "AnswerOutbox",
    "ApiKey",
    "Base",
    "Campaign",
    "ClockState",
    "ConsoleSession",
    "ConsoleSignInLink",
    "Contact",
    "EngagementCounter",
    "Episode",
    "FatiguePolicyVersion",
    "FatigueTouch",
    "FollowUp",
    "IdempotentRequest",
    "InAppPrompt",
    "InboundSms",
    "LocaleProfile",
    "Message",
    "MessageContent",
    "PlanStep",
    "ProviderEvent",
    "Response",
    "Role",
    "ShareLink",
    "SmsConversation",
    "Suppression",
    "TeamMember",
    "TemplateUse",
    "TemplateVersion",
    "WebhookDelivery",
    "WebhookSubscription",
]
