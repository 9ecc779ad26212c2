"""Slack payloads and the locale-aware filters."""

from __future__ import annotations

import dataclasses
import json
from datetime import date

import pytest

from templates import TemplateKey, TemplateRenderer, sample_context
from templates.environment import compile_source

RENDERER = TemplateRenderer()
ALERT = TemplateKey("slack", "nps", "detractor_alert", "en")


def test_slack_text_is_a_webhook_json_payload_of_mrkdwn() -> None:
    payload = json.loads(RENDERER.render(ALERT, sample_context(ALERT)).text)

    assert set(payload) == {"text", "unfurl_links"}
    assert payload["text"].startswith(
        ":rotating_light: *Low score from Becker Logistik GmbH: 1/10*"
    )
    assert "<https://pulse.example.com/responses/9876|Open the response" in payload["text"]


def test_slack_escapes_customer_text_so_it_cannot_forge_links_or_mentions() -> None:
    context = dataclasses.replace(
        sample_context(ALERT),
        comment='<!channel> see <https://evil.example|here> & "quote"\nline 2',
    )
    text = json.loads(RENDERER.render(ALERT, context).text)["text"]

    assert '>&lt;!channel&gt; see &lt;https://evil.example|here&gt; &amp; "quote"\n>line 2' in text


def test_summary_headline_follows_the_kind() -> None:
    for kind, headline in [
        ("nps", "NPS +42 ± 5"),  # with the 95 % margin of error
        ("csat", "CSAT 87% ± 3% satisfied"),
        ("ces", "CES 5.6 ± 0.1 on average, 72% easy"),
    ]:
        key = TemplateKey("email", kind, "summary", "en")
        assert headline in (RENDERER.render(key, sample_context(key)).subject or "")
    key = TemplateKey("slack", "ces", "summary", "de")
    assert "CES 5,6 ± 0,1 im Schnitt, 72 % einfach" in RENDERER.render(key, sample_context(key)).text


@pytest.mark.parametrize(
    ("source", "lang", "expected"),
    [
        ("{{ d|date }}", "en", "Friday, August 14"),
        ("{{ d|date }}", "de", "Freitag, 14. August"),
        ("{{ d|date('full') }}", "en", "Friday, August 14, 2026"),
        ("{{ d|date('full') }}", "de", "Freitag, 14. August 2026"),
        ("{{ d|date('short') }}", "en", "Aug 14"),
        ("{{ d|date('short') }}", "de", "14.08."),
        ("{{ 1234.5|number(1) }}", "en", "1,234.5"),
        ("{{ 1234.5|number(1) }}", "de", "1.234,5"),
        ("{{ 0.425|percent(1) }}", "de", "42,5 %"),
        ("{{ -12.4|signed }} {{ 0|signed }} {{ 41.6|signed }}", "en", "-12 0 +42"),
        ("{{ 'detractor'|term }}", "de", "Kritiker"),
        ("{{ 'in_app'|term }}", "en", "In-app"),
    ],
)
def test_filters_format_for_the_templates_language(source: str, lang: str, expected: str) -> None:
    rendered = compile_source("t.txt", source).render(d=date(2026, 8, 14), lang=lang)

    assert rendered == expected
