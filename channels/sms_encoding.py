"""How many SMS segments a text costs, counted the way carriers count them.

An SMS carries 140 bytes. In GSM-7 (the GSM 03.38 default alphabet) that is
160 septets; a character from the extension table (``{ } [ ] ~ \\ | ^ €`` and
form feed) is an escape plus a septet, so it costs two. As soon as one
character is outside both tables the whole message goes as UCS-2: 70 UTF-16
code units, so an emoji (a surrogate pair) costs two. A longer message is
split into parts that each lose room to the concatenation header: 153 septets
or 67 code units. Carriers never split an escape sequence or a surrogate pair
across two parts, so the parts are packed greedily rather than by division.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# GSM 03.38 basic character set, in table order (0x1B, the escape, is left out).
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# GSM 03.38 extension table: each costs an escape septet plus its own.
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")

GSM7_SINGLE = 160
GSM7_PART = 153
UCS2_SINGLE = 70
UCS2_PART = 67

Encoding = Literal["GSM-7", "UCS-2"]


@dataclass(frozen=True)
class SmsEncoding:
    encoding: Encoding
    segments: int
    units: int  # septets for GSM-7, UTF-16 code units for UCS-2


def is_gsm7(text: str) -> bool:
    """Whether every character of ``text`` is in the GSM-7 basic or extension table."""
    return all(ch in GSM7_BASIC or ch in GSM7_EXTENSION for ch in text)


def _unit_costs(text: str, encoding: Encoding) -> list[int]:
    """The indivisible pieces of the text, each as a number of units."""
    if encoding == "GSM-7":
        return [2 if ch in GSM7_EXTENSION else 1 for ch in text]
    # Characters beyond the Basic Multilingual Plane are a surrogate pair in UTF-16.
    return [2 if ord(ch) > 0xFFFF else 1 for ch in text]


def _pack(costs: list[int], part_size: int) -> int:
    """How many parts of ``part_size`` units the pieces fill, never splitting a piece."""
    parts, used = 1, 0
    for cost in costs:
        if used + cost > part_size:
            parts, used = parts + 1, 0
        used += cost
    return parts


def count_segments(text: str) -> SmsEncoding:
    """The encoding the text will be sent in and how many segments it costs.

    An empty text still costs one segment. Pure; never raises.
    """
    encoding: Encoding = "GSM-7" if is_gsm7(text) else "UCS-2"
    single, part = (GSM7_SINGLE, GSM7_PART) if encoding == "GSM-7" else (UCS2_SINGLE, UCS2_PART)
    costs = _unit_costs(text, encoding)
    units = sum(costs)
    segments = 1 if units <= single else _pack(costs, part)
    return SmsEncoding(encoding=encoding, segments=segments, units=units)


# Characters that look like ASCII but are not in GSM-7. Word processors and
# phones put them in text without anyone noticing, and one of them switches
# the whole message to UCS-2: 70 characters per segment instead of 160, so a
# message that fitted in one segment costs two or three (and every part of a
# long one costs double). Each replacement keeps the meaning of the text.
_GSM_LOOKALIKES: dict[str, str] = {
    # quotes and apostrophes
    "\u2018": "'",
    "\u2019": "'",
    "\u201a": "'",
    "\u201b": "'",
    "\u2032": "'",
    "\u2039": "'",
    "\u203a": "'",
    "\u00b4": "'",
    "\u0060": "'",
    "\u201c": '"',
    "\u201d": '"',
    "\u201e": '"',
    "\u201f": '"',
    "\u2033": '"',
    "\u00ab": '"',
    "\u00bb": '"',
    # dashes, hyphens and the minus sign
    "\u2010": "-",
    "\u2011": "-",
    "\u2012": "-",
    "\u2013": "-",
    "\u2014": "-",
    "\u2015": "-",
    "\u2212": "-",
    # ellipsis
    "\u2026": "...",
    # spaces that are not the space character
    "\t": " ",
    "\u00a0": " ",
    "\u2000": " ",
    "\u2001": " ",
    "\u2002": " ",
    "\u2003": " ",
    "\u2004": " ",
    "\u2005": " ",
    "\u2006": " ",
    "\u2007": " ",
    "\u2008": " ",
    "\u2009": " ",
    "\u200a": " ",
    "\u202f": " ",
    "\u205f": " ",
    "\u3000": " ",
    # line and paragraph separators
    "\u2028": "\n",
    "\u2029": "\n",
    # invisible characters: zero-width space, joiners, word joiner, BOM, soft hyphen
    "\u200b": "",
    "\u200c": "",
    "\u200d": "",
    "\u2060": "",
    "\ufeff": "",
    "\u00ad": "",
}
_GSM_TRANSLATION = str.maketrans(_GSM_LOOKALIKES)


def normalize_for_gsm(text: str) -> str:
    """``text`` with look-alike characters replaced so that it can go as GSM-7.

    Only applied when it makes the whole text GSM-7: text that is genuinely
    outside GSM-7 (an emoji, Cyrillic, CJK) goes as UCS-2 anyway, where the
    look-alikes cost nothing extra, so it is returned unchanged (a zero-width
    joiner inside an emoji sequence, for one, must stay). Pure; never raises.
    """
    if is_gsm7(text):
        return text
    normalized = text.translate(_GSM_TRANSLATION)
    return normalized if is_gsm7(normalized) else text
