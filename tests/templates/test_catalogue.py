"""Every channel × kind × step × language ships, renders and validates."""

from __future__ import annotations

import dataclasses

import pytest

from templates import (
    ConversationContext,
    DetractorAlertContext,
    SummaryContext,
    SurveyContext,
    TemplateKey,
    TemplateRenderer,
    sample_context,
    validate_source,
)
from tests.templates.expected import expected_keys, key_id

RENDERER = TemplateRenderer()
KEYS = expected_keys()


def test_the_defaults_are_exactly_the_expected_catalogue() -> None:
    assert RENDERER.available_keys() == KEYS


@pytest.mark.parametrize("key", KEYS, ids=key_id)
def test_every_default_renders_with_a_full_context(key: TemplateKey) -> None:
    message = RENDERER.render(key, sample_context(key, placeholders=False))

    assert message.text.strip()
    assert "None" not in message.text
    assert "-pulse_" not in message.text  # real values leave no placeholder behind
    if key.channel == "email":
        assert message.subject and "\n" not in message.subject
        assert message.html and message.html.startswith("<!DOCTYPE html>")
        assert f'<html lang="{key.locale}">' in message.html
    else:
        assert message.subject is None and message.html is None


def _without_optional_values(context: object) -> object:
    """The context with every optional field at its empty value."""
    if isinstance(context, SurveyContext):
        return dataclasses.replace(
            context, send_date=None, owner_name=None, review_link=None, you_said_we_did_url=None
        )
    if isinstance(context, SummaryContext):
        return dataclasses.replace(context, share_easy=None, channels=(), categories=())
    if isinstance(context, DetractorAlertContext):
        return dataclasses.replace(
            context, comment="", tier=None, renewal_date=None, owner_name=None
        )
    return context


@pytest.mark.parametrize("key", KEYS, ids=key_id)
def test_every_default_reads_well_without_the_optional_values(key: TemplateKey) -> None:
    message = RENDERER.render(key, _without_optional_values(sample_context(key)))

    assert message.text.strip()
    assert "None" not in message.text


@pytest.mark.parametrize("key", [k for k in KEYS if k.locale == "de"], ids=key_id)
def test_german_defaults_are_not_the_english_ones(key: TemplateKey) -> None:
    english = key.with_locale("en")
    german_sources = RENDERER.source(key)
    english_sources = RENDERER.source(english)
    if german_sources == english_sources:  # only the in-app invite: the question alone
        assert german_sources == {"txt": "{{ question }}\n"}
    german = RENDERER.render(key, sample_context(key, placeholders=False))
    assert german != RENDERER.render(english, sample_context(english, placeholders=False))


@pytest.mark.parametrize("key", KEYS, ids=key_id)
def test_every_default_passes_the_editor_validation(key: TemplateKey) -> None:
    assert validate_source(RENDERER.source(key), key=key) == []


def test_conversation_steps_need_no_survey_context() -> None:
    # STOP and HELP arrive outside any campaign: company and support contact are enough.
    context = ConversationContext(company_name="Acme", support_contact="help@acme.com")
    for step in ("help", "opted_out", "opted_in", "thanks_comment"):
        text = RENDERER.render(TemplateKey("sms", "nps", step, "en"), context).text
        assert "Acme" in text
