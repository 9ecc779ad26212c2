"""Reading an SMS reply: a carrier keyword, a score on the survey's scale, or plain text.

Pure functions, no database. Keywords come first and are never scores; a
score is a whole number (digits or an English or German word) at the start of
the reply, inside the scale, optionally written "9/10" or "9 out of 10";
whatever follows it is the customer's comment ("9 - great support").
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Literal

Keyword = Literal["stop", "start", "help"]

# The carriers' (CTIA) and Twilio's standard keywords. Matched on the whole
# reply only: "stop texting me" is a comment, not an opt-out.
KEYWORDS: dict[str, Keyword] = {
    **dict.fromkeys(("STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"), "stop"),
    **dict.fromkeys(("START", "YES", "UNSTOP"), "start"),
    **dict.fromkeys(("HELP", "INFO"), "help"),
}

NUMBER_WORDS: dict[str, int] = {
    # English
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5,
    "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10,
    # German, with the spellings phones without umlauts produce
    "null": 0, "eins": 1, "ein": 1, "eine": 1, "zwei": 2, "zwo": 2, "drei": 3, "vier": 4,
    "fünf": 5, "fuenf": 5, "funf": 5, "sechs": 6, "sieben": 7, "acht": 8, "neun": 9, "zehn": 10,
}  # fmt: skip

_WORD = "|".join(sorted(NUMBER_WORDS, key=len, reverse=True))
_NUMBER = rf"(?:\d{{1,2}}|{_WORD})"
_SCORE = re.compile(
    rf"""^(?P<number>{_NUMBER})(?![\w])                   # 9, 10, nine, neun (a whole word)
    (?:\s*(?:[/／]|\bout\s+of\b|\bof\b|\bvon\b)\s*(?P<of>{_NUMBER})(?![\w]))?   # /10, out of ten, von 10
    (?P<rest>.*)$""",
    re.IGNORECASE | re.DOTALL | re.VERBOSE,
)
# What may stand between a score and its comment, and what a bare score may end with.
_SEPARATORS = " \t\r\n-–—:;,.!?)=*~"
_PUNCTUATED = re.compile(r"^\s*[-–—:;,.!?)=*~]")
_ALTERNATIVE = re.compile(rf"^(?:or|oder|to|bis)\s+{_NUMBER}(?![\w])", re.IGNORECASE)  # "8 or 9", "7 bis 8"


@dataclass(frozen=True)
class ScoreReply:
    score: int
    comment: str | None  # the words after the score, if any


def normalize(text: str) -> str:
    """The reply as the customer wrote it, trimmed (line endings unified)."""
    return text.replace("\r\n", "\n").strip()


def keyword(text: str) -> Keyword | None:
    """The carrier keyword the whole reply is, if it is one ("stop", " Stop. ", "ＳＴＯＰ")."""
    word = unicodedata.normalize("NFKC", text).strip().rstrip(".!").strip().upper()
    return KEYWORDS.get(word)


def _value(token: str) -> int:
    return int(token) if token.isdigit() else NUMBER_WORDS[token.casefold()]


def read_score(text: str, low: int, high: int) -> ScoreReply | None:
    """The score in a reply on a ``low``..``high`` scale, or None when it holds none.

    Digits of any script count ("９" from a full-width keyboard); the comment is
    kept exactly as written.

    "9", "9/10", "10!", "nine", "Neun", "9 - great support" are scores on 0..10;
    "11", "9/5", "7-8", "9.5", "one more thing" and every keyword are not. A number
    outside the scale is not a score (the customer gets the clarifying question).
    """
    cleaned = normalize(text)
    if keyword(cleaned) is not None:
        return None
    match = _SCORE.match(cleaned)
    if match is None:
        return None
    number, of, rest = match["number"], match["of"], match["rest"]
    if not number.isdigit() and rest.strip() and not _PUNCTUATED.match(rest):
        return None  # "one more thing": a word that happens to be a number, then prose
    comment = rest.lstrip(_SEPARATORS).strip()
    if comment[:1].isdigit() or _ALTERNATIVE.match(comment):
        return None  # "7-8", "9.5", "8, 9", "8 or 9": two numbers, no single answer
    score = _value(number)
    if of is not None and _value(of) != high:
        return None  # "3/5" on a 0..10 scale: another scale's answer
    if not low <= score <= high:
        return None
    return ScoreReply(score, comment if any(c.isalnum() for c in comment) else None)
