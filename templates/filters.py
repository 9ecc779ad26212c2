"""Locale-aware filters for the sandbox, and Slack's escaping.

The filters read ``lang`` from the template context (the renderer sets it),
so a template writes ``{{ deadline|date }}`` and gets "Friday, August 14" or
"Freitag, 14. August". Only ``en`` and ``de`` are shipped; anything else is
formatted as English. No Babel: two languages do not need it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from jinja2 import pass_context, pass_eval_context
from jinja2.nodes import EvalContext
from jinja2.runtime import Context
from markupsafe import Markup, escape

_WEEKDAYS = {
    "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
    "de": ("Montag", "Dienstag", "Mittwoch", "Donnerstag", "Freitag", "Samstag", "Sonntag"),
}
_MONTHS = {
    "en": (
        "January", "February", "March", "April", "May", "June",
        "July", "August", "September", "October", "November", "December",
    ),
    "de": (
        "Januar", "Februar", "März", "April", "Mai", "Juni",
        "Juli", "August", "September", "Oktober", "November", "Dezember",
    ),
}  # fmt: skip

# Words the templates need in both languages (categories, channels).
_TERMS = {
    "en": {
        "promoter": "Promoters", "passive": "Passives", "detractor": "Detractors",
        "satisfied": "Satisfied", "unsatisfied": "Unsatisfied",
        "easy": "Easy", "neutral": "Neutral", "hard": "Hard",
        "email": "Email", "sms": "SMS", "in_app": "In-app",
    },
    "de": {
        "promoter": "Promotoren", "passive": "Passive", "detractor": "Kritiker",
        "satisfied": "Zufrieden", "unsatisfied": "Unzufrieden",
        "easy": "Einfach", "neutral": "Neutral", "hard": "Schwierig",
        "email": "E-Mail", "sms": "SMS", "in_app": "In-App",
    },
}  # fmt: skip


def _lang(context: Context) -> str:
    lang = context.get("lang", "en")
    return lang if lang in _WEEKDAYS else "en"


@pass_context
def format_date(context: Context, value: date | str, style: str = "long") -> str:
    """``long``: Friday, August 14 / Freitag, 14. August; ``full`` adds the year;
    ``short``: Aug 14 / 14.08. A string passes through (already formatted)."""
    if isinstance(value, str):
        return value
    lang = _lang(context)
    weekday, month = _WEEKDAYS[lang][value.weekday()], _MONTHS[lang][value.month - 1]
    if style == "short":
        return f"{month[:3]} {value.day}" if lang == "en" else f"{value.day:02d}.{value.month:02d}."
    if lang == "de":
        text = f"{weekday}, {value.day}. {month}"
        return f"{text} {value.year}" if style == "full" else text
    text = f"{weekday}, {month} {value.day}"
    return f"{text}, {value.year}" if style == "full" else text


def _grouped(value: float, digits: int, lang: str) -> str:
    text = f"{value:,.{digits}f}"
    if lang == "de":  # 1,234.5 → 1.234,5
        text = text.replace(",", "\0").replace(".", ",").replace("\0", ".")
    return text


@pass_context
def format_number(context: Context, value: float, digits: int = 0) -> str:
    return _grouped(value, digits, _lang(context))


@pass_context
def format_percent(context: Context, value: float, digits: int = 0) -> str:
    """A share 0..1 as a percentage: 0.425 → "43%" / "43 %" (German puts a space)."""
    lang = _lang(context)
    number = _grouped(value * 100, digits, lang)
    return f"{number} %" if lang == "de" else f"{number}%"


def format_signed(value: float) -> str:
    """An NPS: +42, -12, 0 (ASCII minus: it has to survive SMS and Slack)."""
    rounded = round(value)
    return f"+{rounded}" if rounded > 0 else str(rounded)


@pass_context
def term(context: Context, value: str) -> str:
    """A category or channel name in the template's language ("promoter" → "Promotoren")."""
    return _TERMS[_lang(context)].get(value, value)


@pass_eval_context
def paragraphs(eval_ctx: EvalContext, value: str) -> str:
    """Text with blank-line-separated paragraphs: ``<p>`` blocks in HTML (escaped), else as is."""
    blocks = [b.strip() for b in value.replace("\r\n", "\n").split("\n\n") if b.strip()]
    if not eval_ctx.autoescape:
        return "\n\n".join(blocks)
    html = "".join(
        Markup('<p style="margin:0 0 16px;">{}</p>').format(
            Markup("<br>").join(escape(line) for line in block.split("\n"))
        )
        for block in blocks
    )
    return Markup(html)


def slack_escape(value: Any) -> str:
    """Slack mrkdwn needs exactly &, < and > escaped; quotes must stay as they are."""
    text = str(value)
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


FILTERS: dict[str, Callable[..., Any]] = {
    "date": format_date,
    "number": format_number,
    "percent": format_percent,
    "signed": format_signed,
    "term": term,
    "paragraphs": paragraphs,
}
