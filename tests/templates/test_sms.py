"""SMS stay within two segments with long-but-realistic values, and in GSM-7."""

from __future__ import annotations

import dataclasses
import math
import re
from datetime import date
from typing import Any

import pytest

from templates import (
    ConversationContext,
    SurveyContext,
    TemplateKey,
    TemplateRenderer,
    default_follow_up_question,
    default_question,
    default_scale,
    recipient_values,
)
from templates.sources import default_name, read_default
from tests.templates.expected import expected_keys, key_id

RENDERER = TemplateRenderer()
SMS_KEYS = [k for k in expected_keys() if k.channel == "sms"]

# GSM 03.38: the basic set costs one septet, the extension set two (escape + char).
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")

JINJA_TAGS = re.compile(r"\{\{.*?\}\}|\{%.*?%\}", re.DOTALL)

COMPANY = "Northwind Traders International Holdings"  # 40
FIRST_NAME = "Maximilian-Alexander"  # 20
URL = "https://survey.northwind-traders.example.com/r/a1b2c3d4e5f6g"  # 60


def test_the_long_values_are_as_long_as_the_brief_says() -> None:
    assert (len(COMPANY), len(FIRST_NAME), len(URL)) == (40, 20, 60)
    assert len(GSM7_BASIC) == 128


def segments(text: str) -> tuple[str, int]:
    """(encoding, segments) the way carriers count them."""
    if all(c in GSM7_BASIC or c in GSM7_EXTENSION for c in text):
        septets = sum(2 if c in GSM7_EXTENSION else 1 for c in text)
        return "GSM-7", 1 if septets <= 160 else math.ceil(septets / 153)
    units = len(text.encode("utf-16-le")) // 2
    return "UCS-2", 1 if units <= 70 else math.ceil(units / 67)


def test_segment_counting() -> None:
    assert segments("a" * 160) == ("GSM-7", 1)
    assert segments("a" * 161) == ("GSM-7", 2)
    assert segments("ä" * 306) == ("GSM-7", 2)
    assert segments("€" * 80) == ("GSM-7", 1)
    assert segments("a\u2019" + "a" * 68) == ("UCS-2", 1)
    assert segments("—" * 71) == ("UCS-2", 2)


def long_context(key: TemplateKey, **changes: Any) -> object:
    if key.step in (
        "follow_up_question",
        "clarify",
        "thanks_comment",
        "help",
        "opted_out",
        "opted_in",
    ):
        return ConversationContext(
            company_name=COMPANY,
            support_contact="support@northwind-traders-international.com",
            scale=default_scale(key.kind, key.locale),
            follow_up_question=default_follow_up_question(key.locale),
        )
    context = SurveyContext(
        recipient=recipient_values(
            {
                "first_name": FIRST_NAME,
                "name": FIRST_NAME + " Oberhuber-Schmidt",
                "answer_url": URL,
                "unsubscribe_url": URL,
            },
            locale=key.locale,
        ),
        company_name=COMPANY,
        campaign_name="Northwind NPS Q3 2026 all customers",
        kind=key.kind,
        question=default_question(key.kind, key.locale, company_name=COMPANY),
        follow_up_question=default_follow_up_question(key.locale),
        scale=default_scale(key.kind, key.locale),
        deadline=date(2026, 9, 30),
        sender_name="Maximiliane Oberhuber-Schmidt, Northwind",
        send_date=date(2026, 9, 16),
        reminder_number=2,
        final_reminder=True,
        owner_name="Maximiliane Oberhuber-Schmidt",
        review_link=URL,
        you_said_we_did_text=(
            "You told us that exports were too slow, so we rebuilt them: reports now export in "
            "seconds. You asked for a German interface, and it is live for every account. "
        )
        * 3,
        you_said_we_did_url=URL,
    )
    return dataclasses.replace(context, **changes) if changes else context


@pytest.mark.parametrize("key", SMS_KEYS, ids=key_id)
def test_every_sms_fits_in_two_gsm7_segments(key: TemplateKey) -> None:
    variants = [long_context(key)]
    if isinstance(variants[0], SurveyContext):  # both branches of the optional parts
        variants.append(long_context(key, final_reminder=False, you_said_we_did_url=None))
    for context in variants:
        text = RENDERER.render(key, context).text
        encoding, count = segments(text)
        assert encoding == "GSM-7", [c for c in text if c not in GSM7_BASIC]
        assert count <= 2, f"{count} segments, {len(text)} chars: {text}"


@pytest.mark.parametrize("key", [k for k in SMS_KEYS if k.locale == "en"], ids=key_id)
def test_english_sms_sources_are_plain_ascii(key: TemplateKey) -> None:
    # Smart quotes, dashes and non-breaking spaces turn a message into UCS-2.
    source = read_default(default_name(key, "txt", "en") or "")
    assert source.isascii(), [c for c in source if not c.isascii()]


@pytest.mark.parametrize("key", [k for k in SMS_KEYS if k.locale == "de"], ids=key_id)
def test_german_sms_sources_use_only_gsm7_characters(key: TemplateKey) -> None:
    source = read_default(default_name(key, "txt", "de") or "")
    words = JINJA_TAGS.sub("", source)  # braces of the template syntax never reach the phone
    assert [c for c in words if c not in GSM7_BASIC] == []


@pytest.mark.parametrize(
    ("kind", "locale", "expected"),
    [
        ("nps", "en", "Reply with a number from 0 to 10."),
        ("csat", "en", "Reply with a number from 1 to 5."),
        ("ces", "en", "Reply with a number from 1 to 7."),
        ("nps", "de", "Antworten Sie mit einer Zahl von 0 bis 10."),
    ],
)
def test_sms_invite_asks_for_the_kinds_scale_and_offers_stop(
    kind: str, locale: str, expected: str
) -> None:
    key = TemplateKey("sms", kind, "invite", locale)
    text = RENDERER.render(key, long_context(key)).text

    assert expected in text
    assert text.endswith("Reply STOP to opt out." if locale == "en" else "Abmelden mit STOP.")
    assert text.startswith(f"{COMPANY}: ")  # the sender is named in every survey text


@pytest.mark.parametrize("locale", ["en", "de"])
def test_the_final_reminder_ends_its_date_sentence_with_one_period(locale: str) -> None:
    key = TemplateKey("sms", "nps", "reminder", locale)
    text = RENDERER.render(key, long_context(key)).text
    assert ".." not in text
    if locale == "de":
        assert "endet am 30.09. Wie" in text
