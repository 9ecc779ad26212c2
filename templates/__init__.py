"""Pulse message templates: default files and the one sandboxed renderer.

Imports nothing else of Pulse (an import-linter contract keeps it so). The
database layer passes published edits in through ``TemplateRenderer(overrides=...)``.
"""

from __future__ import annotations

from templates.context import (
    CategoryCount,
    ChannelCount,
    ConversationContext,
    DetractorAlertContext,
    KickoffContext,
    Scale,
    SummaryContext,
    SurveyContext,
    context_names,
    context_type,
    default_follow_up_question,
    default_question,
    default_scale,
)
from templates.keys import (
    CATEGORIES,
    CHANNEL_PARTS,
    CHANNELS,
    KINDS,
    LANGUAGES,
    TemplateKey,
    locale_chain,
    resolve_language,
    steps_for,
    thank_you_step,
)
from templates.recipient import (
    RECIPIENT_FIELDS,
    Placeholder,
    fill_recipient_text,
    greeting,
    recipient_placeholders,
    recipient_substitutions,
    recipient_values,
)
from templates.render import Overrides, RenderedMessage, TemplateMissing, TemplateRenderer
from templates.samples import sample_context
from templates.validate import validate_source

__all__ = [
    "CATEGORIES",
    "CHANNELS",
    "CHANNEL_PARTS",
    "KINDS",
    "LANGUAGES",
    "RECIPIENT_FIELDS",
    "CategoryCount",
    "ChannelCount",
    "ConversationContext",
    "DetractorAlertContext",
    "KickoffContext",
    "Overrides",
    "Placeholder",
    "RenderedMessage",
    "Scale",
    "SummaryContext",
    "SurveyContext",
    "TemplateKey",
    "TemplateMissing",
    "TemplateRenderer",
    "context_names",
    "context_type",
    "default_follow_up_question",
    "default_question",
    "default_scale",
    "fill_recipient_text",
    "greeting",
    "locale_chain",
    "recipient_placeholders",
    "recipient_substitutions",
    "recipient_values",
    "resolve_language",
    "sample_context",
    "steps_for",
    "thank_you_step",
    "validate_source",
]
