"""Segment counting and GSM normalisation, as carriers bill them."""

from __future__ import annotations

import pytest

from channels.sms_encoding import SmsEncoding, count_segments, normalize_for_gsm


def test_160_gsm_characters_fit_one_segment() -> None:
    assert count_segments("a" * 160) == SmsEncoding("GSM-7", 1, 160)


def test_161_gsm_characters_take_two_segments_of_153() -> None:
    assert count_segments("a" * 161) == SmsEncoding("GSM-7", 2, 161)
    assert count_segments("a" * 306).segments == 2
    assert count_segments("a" * 307).segments == 3


@pytest.mark.parametrize("char", list("{}[]~\\|^€"))
def test_an_extension_character_costs_two_septets(char: str) -> None:
    assert count_segments("a" * 158 + char) == SmsEncoding("GSM-7", 1, 160)
    assert count_segments("a" * 159 + char) == SmsEncoding("GSM-7", 2, 161)


def test_an_escape_sequence_is_never_split_across_segments() -> None:
    # 152 septets then "€" (2): it cannot start in septet 153, so it opens part 2;
    # 153 + 2 + 151 = 306 septets would divide into 2 parts but take 3.
    text = "a" * 152 + "€" + "a" * 152
    assert count_segments(text) == SmsEncoding("GSM-7", 3, 306)


def test_70_ucs2_characters_fit_one_segment() -> None:
    assert count_segments("Ж" * 70) == SmsEncoding("UCS-2", 1, 70)


def test_71_ucs2_characters_take_two_segments_of_67() -> None:
    assert count_segments("Ж" * 71) == SmsEncoding("UCS-2", 2, 71)
    assert count_segments("Ж" * 134).segments == 2
    assert count_segments("Ж" * 135).segments == 3


def test_an_emoji_makes_the_message_ucs2_and_counts_two_units() -> None:
    assert count_segments("Thanks! 😀") == SmsEncoding("UCS-2", 1, 10)
    # 68 + 2 = 70 units fit one segment; one more unit needs two (of 67).
    assert count_segments("a" * 68 + "😀") == SmsEncoding("UCS-2", 1, 70)
    assert count_segments("a" * 69 + "😀") == SmsEncoding("UCS-2", 2, 71)


def test_a_surrogate_pair_is_never_split_across_segments() -> None:
    text = "a" * 66 + "😀" + "a" * 66  # 134 units, but the emoji cannot straddle part 1 and 2
    assert count_segments(text) == SmsEncoding("UCS-2", 3, 134)


def test_a_smart_quote_is_normalised_so_the_message_stays_gsm() -> None:
    text = "It’s been a week – how likely are you to recommend us… “0-10”?"
    assert count_segments(text).encoding == "UCS-2"
    normalized = normalize_for_gsm(text)
    assert normalized == 'It\'s been a week - how likely are you to recommend us... "0-10"?'
    assert count_segments(normalized).encoding == "GSM-7"


def test_invisible_and_non_breaking_characters_are_normalised() -> None:
    assert normalize_for_gsm("Reply\u00a0STOP\u200b to\u2009opt out") == "Reply STOP to opt out"


@pytest.mark.parametrize("text", ["Спасибо за ответ “10”", "ありがとう", "Great 👍 “thanks”"])
def test_genuinely_non_gsm_text_is_left_alone(text: str) -> None:
    assert normalize_for_gsm(text) == text
    assert count_segments(normalize_for_gsm(text)).encoding == "UCS-2"


def test_gsm_text_is_unchanged_by_normalisation() -> None:
    text = "Ça va? Prix: 5€ {promo} [NPS] ~ ^ | \\ @£$¥"
    assert normalize_for_gsm(text) == text
    assert count_segments(text).encoding == "GSM-7"
