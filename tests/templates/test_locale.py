"""Locale fallback: de-AT → de, unknown → en."""

from __future__ import annotations

import pytest

from templates import TemplateKey, TemplateRenderer, locale_chain, resolve_language, sample_context

RENDERER = TemplateRenderer()


@pytest.mark.parametrize(
    ("locale", "language"),
    [
        ("de-AT", "de"),
        ("de_CH", "de"),
        ("DE", "de"),
        ("en-US", "en"),
        ("fr", "en"),
        ("", "en"),
        ("pt-BR", "en"),
    ],
)
def test_locale_resolves_to_a_shipped_language(locale: str, language: str) -> None:
    assert resolve_language(locale) == language


def test_locale_chain_goes_from_specific_to_english() -> None:
    assert locale_chain("de_at") == ("de-AT", "de", "en")
    assert locale_chain("en") == ("en",)
    assert locale_chain("fr-CA") == ("fr-CA", "fr", "en")


def test_austrian_german_gets_the_german_template() -> None:
    message = RENDERER.render(
        TemplateKey("email", "nps", "invite", "de-AT"),
        sample_context(TemplateKey("email", "nps", "invite", "de")),
    )

    assert message.subject == "Eine kurze Frage von Acme Analytics"
    assert '<html lang="de">' in (message.html or "")
    assert "Freitag, 14. August" in message.text  # dates formatted in German too


def test_an_unknown_locale_gets_english() -> None:
    message = RENDERER.render(
        TemplateKey("sms", "csat", "clarify", "ja-JP"),
        sample_context(TemplateKey("sms", "csat", "clarify", "en")),
    )

    assert message.text.startswith("Sorry, we did not understand that.")
