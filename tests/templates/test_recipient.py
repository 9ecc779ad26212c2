"""Per-recipient placeholders: one rendering, many recipients."""

from __future__ import annotations

import pytest

from templates import (
    RECIPIENT_FIELDS,
    TemplateKey,
    TemplateRenderer,
    greeting,
    recipient_placeholders,
    recipient_substitutions,
    recipient_values,
    sample_context,
)
from templates.environment import compile_source

RENDERER = TemplateRenderer()


def fill(text: str, substitutions: dict[str, str]) -> str:
    """What SendGrid's substitutions (or an adapter's materialize) do."""
    for token, value in substitutions.items():
        text = text.replace(token, value)
    return text


def test_recipient_fields_include_the_greeting() -> None:
    assert RECIPIENT_FIELDS == ("first_name", "name", "answer_url", "unsubscribe_url", "greeting")


def test_placeholders_print_a_text_token_and_an_html_token() -> None:
    recipient = recipient_placeholders()
    text = compile_source("t.txt", "{{ r.first_name }} {{ r.answer_url }}").render(r=recipient)
    html = compile_source("t.html", "{{ r.first_name }} {{ r.answer_url }}").render(r=recipient)

    assert text == "-pulse_first_name- -pulse_answer_url-"
    assert html == "-pulse_first_name_html- -pulse_answer_url_html-"


def test_substitutions_hold_raw_and_html_escaped_values() -> None:
    subs = recipient_substitutions(
        {"first_name": "Zoë <b>", "answer_url": "https://x.example/r/1?a=1&b=2"}, locale="en"
    )

    assert subs["-pulse_first_name-"] == "Zoë <b>"
    assert subs["-pulse_first_name_html-"] == "Zoë &lt;b&gt;"
    assert subs["-pulse_answer_url_html-"] == "https://x.example/r/1?a=1&amp;b=2"
    assert subs["-pulse_greeting-"] == "Hi Zoë <b>,"
    assert subs["-pulse_greeting_html-"] == "Hi Zoë &lt;b&gt;,"
    assert subs["-pulse_unsubscribe_url-"] == ""  # not given: empty, never a stray token


def test_an_unknown_recipient_field_is_refused() -> None:
    with pytest.raises(ValueError, match="frist_name"):
        recipient_substitutions({"frist_name": "Ana"})


@pytest.mark.parametrize(
    ("first_name", "locale", "expected"),
    [
        ("Ana", "en", "Hi Ana,"),
        ("", "en", "Hi there,"),
        ("  ", "en-GB", "Hi there,"),
        ("Ana", "de", "Hallo Ana,"),
        ("", "de-AT", "Hallo,"),
        ("Ana", "fr", "Hi Ana,"),
    ],
)
def test_greeting_reads_naturally_with_and_without_a_first_name(
    first_name: str, locale: str, expected: str
) -> None:
    assert greeting(first_name, locale) == expected
    assert (
        recipient_substitutions({"first_name": first_name}, locale=locale)["-pulse_greeting-"]
        == expected
    )


@pytest.mark.parametrize("locale", ["en", "de"])
@pytest.mark.parametrize("channel", ["email", "sms"])
def test_placeholders_filled_later_equal_rendering_with_the_real_values(
    channel: str, locale: str
) -> None:
    key = TemplateKey(channel, "nps", "invite", locale)
    values = {
        "first_name": "Zoë & Co",
        "name": "Zoë Müller",
        "answer_url": "https://pulse.example.com/r/tok?x=1&y=2",
        "unsubscribe_url": "https://pulse.example.com/u/tok",
    }
    once = RENDERER.render(key, sample_context(key, placeholders=True))
    direct = RENDERER.render(
        key,
        {**vars(sample_context(key)), "recipient": recipient_values(values, locale=locale)},
    )
    subs = recipient_substitutions(values, locale=locale)

    assert fill(once.text, subs) == direct.text
    if channel == "email":
        assert "-pulse_answer_url_html-?score=10" in (once.html or "")
        assert fill(once.html or "", subs) == direct.html
        assert "Zoë &amp; Co" in (direct.html or "")
