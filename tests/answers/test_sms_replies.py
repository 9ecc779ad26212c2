"""Reading SMS replies: keywords, scores on the survey's scale, comments (pure functions)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from campaigns.events.sms_replies import KEYWORDS, NUMBER_WORDS, ScoreReply, keyword, read_score

NPS, CSAT, CES = (0, 10), (1, 5), (1, 7)
ENGLISH = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"]
GERMAN = ["null", "eins", "zwei", "drei", "vier", "fünf", "sechs", "sieben", "acht", "neun", "zehn"]


def random_case(draw: st.DrawFn, word: str) -> str:
    flags = draw(st.lists(st.booleans(), min_size=len(word), max_size=len(word)))
    return "".join(c.upper() if up else c.lower() for c, up in zip(word, flags))


@st.composite
def cased(draw: st.DrawFn, words: list[str]) -> str:
    return random_case(draw, draw(st.sampled_from(words)))


spaces = st.sampled_from(["", " ", "  ", "\n", " \t"])


@pytest.mark.parametrize(("text", "score", "comment"), [
    ("9", 9, None),
    ("9/10", 9, None),
    ("9 / 10", 9, None),
    ("9 - great support", 9, "great support"),
    ("9 great support", 9, "great support"),
    ("nine", 9, None),
    ("Nine.", 9, None),
    ("10!", 10, None),
    ("10/10!!", 10, None),
    ("0", 0, None),
    ("9 out of 10", 9, None),
    ("ten out of ten", 10, None),
    ("neun von zehn", 9, None),
    ("Acht, der Support war schnell", 8, "der Support war schnell"),
    ("eight: onboarding was slow", 8, "onboarding was slow"),
    ("  ９  ", 9, None),  # a full-width digit from a CJK keyboard
    ("10 :)", 10, None),
])
def test_scores_on_the_nps_scale(text: str, score: int, comment: str | None) -> None:
    assert read_score(text, *NPS) == ScoreReply(score, comment)


@pytest.mark.parametrize("text", [
    "11", "99", "-1", "9/5", "3/5", "7-8", "9.5", "8, 9", "8 or 9", "7 bis 8", "9th", "10x better",
    "one more thing", "ein Problem", "great support", "", "   ", "2024", "twelve",
])
def test_not_scores_on_the_nps_scale(text: str) -> None:
    assert read_score(text, *NPS) is None


@pytest.mark.parametrize(("scale", "inside", "outside"), [
    (CSAT, ["1", "5", "5/5", "four", "fünf"], ["0", "6", "10", "9/10", "zero", "ten"]),
    (CES, ["1", "7", "7/7", "seven", "sieben"], ["0", "8", "10", "5/10", "eight", "null"]),
])
def test_the_scale_decides_what_is_a_score(scale: tuple[int, int], inside: list[str], outside: list[str]) -> None:
    assert all(read_score(text, *scale) is not None for text in inside)
    assert all(read_score(text, *scale) is None for text in outside)


@given(st.integers(0, 10), spaces, spaces, st.sampled_from(["", "!", ".", "/10", " / 10", " out of 10", "!!!"]))
def test_any_nps_digit_with_the_usual_decorations_is_that_score(score: int, before: str, after: str, decoration: str) -> None:
    assert read_score(f"{before}{score}{decoration}{after}", *NPS) == ScoreReply(score, None)


@given(st.data())
def test_number_words_in_english_and_german_in_any_case(data: st.DataObject) -> None:
    value = data.draw(st.integers(0, 10))
    word = data.draw(cased([ENGLISH[value], GERMAN[value]]))
    ending = data.draw(st.sampled_from(["", "!", ".", " ", ", thanks"]))
    parsed = read_score(word + ending, *NPS)
    assert parsed is not None and parsed.score == value


@given(st.integers(11, 99) | st.integers(-99, -1))
def test_numbers_outside_the_scale_are_never_scores(number: int) -> None:
    assert read_score(str(number), *NPS) is None
    assert read_score(f"{number} great", *NPS) is None


@given(st.data())
def test_keywords_are_recognised_in_any_case_trimmed_and_never_read_as_scores(data: st.DataObject) -> None:
    word = data.draw(cased(sorted(KEYWORDS)))
    text = data.draw(spaces) + word + data.draw(st.sampled_from(["", ".", "!"])) + data.draw(spaces)
    assert keyword(text) == KEYWORDS[word.upper()]
    for scale in (NPS, CSAT, CES):
        assert read_score(text, *scale) is None


@pytest.mark.parametrize(("text", "expected"), [
    ("STOP", "stop"), ("stopall", "stop"), ("Unsubscribe", "stop"), ("cancel", "stop"), ("END", "stop"),
    ("quit", "stop"), ("REVOKE", "stop"), ("optout", "stop"), ("START", "start"), ("yes", "start"),
    ("unstop", "start"), ("HELP", "help"), ("info", "help"),
    ("stop texting me", None), ("please stop", None), ("STOP 9", None), ("9", None), ("help me decide", None),
])
def test_only_a_whole_reply_is_a_keyword(text: str, expected: str | None) -> None:
    assert keyword(text) == expected


@given(st.text(max_size=60), st.sampled_from([NPS, CSAT, CES]))
def test_any_text_reads_as_nothing_or_a_score_inside_the_scale(text: str, scale: tuple[int, int]) -> None:
    parsed = read_score(text, *scale)
    assert parsed is None or scale[0] <= parsed.score <= scale[1]
    if keyword(text) is not None:
        assert parsed is None


comments = st.text(st.characters(categories=["Ll", "Lu", "Zs"]), min_size=1, max_size=40).filter(
    lambda s: s.strip() and s.strip()[0].isalpha() and s.split()[0].lower() not in ("or", "oder", "to", "bis")
)


@given(st.integers(0, 10), st.sampled_from([" ", " - ", ": ", ", ", " — "]), comments)
def test_words_after_a_digit_are_the_comment(score: int, separator: str, comment: str) -> None:
    parsed = read_score(f"{score}{separator}{comment}", *NPS)
    assert parsed == ScoreReply(score, comment.strip())


def test_every_number_word_is_inside_zero_to_ten() -> None:
    assert set(NUMBER_WORDS.values()) == set(range(11))
