"""Per-recipient values as placeholders, so one rendering serves many recipients.

The dispatcher renders a message once per (campaign, step, channel, locale)
with ``recipient_placeholders()`` as ``recipient`` in the context, then stores
``recipient_substitutions(...)`` on each outgoing message; SendGrid fills them
server-side (personalizations ``substitutions``), other adapters locally.

A placeholder prints as ``-pulse_<field>-`` in text and subjects and as
``-pulse_<field>_html-`` in HTML (through ``__html__``, which autoescape asks
for), so the HTML value can be escaped and the text value left alone.
Placeholders cannot be branched on or filtered, which is why the greeting is a
field of its own, worked out from the first name when the values are known.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from markupsafe import Markup, escape

from templates.keys import resolve_language

RECIPIENT_FIELDS = ("first_name", "name", "answer_url", "unsubscribe_url", "greeting")

_GREETINGS = {
    # language: (with a first name, without one)
    "en": ("Hi {name},", "Hi there,"),
    "de": ("Hallo {name},", "Hallo,"),
}


@dataclass(frozen=True)
class Placeholder:
    """Stands for one recipient field until the message is personalised."""

    field: str

    @property
    def text_token(self) -> str:
        return f"-pulse_{self.field}-"

    @property
    def html_token(self) -> str:
        return f"-pulse_{self.field}_html-"

    def __str__(self) -> str:
        return self.text_token

    def __html__(self) -> Markup:
        return Markup(self.html_token)


def recipient_placeholders() -> Mapping[str, Placeholder]:
    """The ``recipient`` entry of a context rendered once for many recipients."""
    return MappingProxyType({name: Placeholder(name) for name in RECIPIENT_FIELDS})


def greeting(first_name: str, locale: str) -> str:
    """``Hi Ana,`` / ``Hi there,``; German ``Hallo Ana,`` / ``Hallo,``."""
    with_name, without = _GREETINGS[resolve_language(locale)]
    name = " ".join(first_name.split())
    return with_name.format(name=name) if name else without


def recipient_values(values: Mapping[str, str], *, locale: str) -> dict[str, str]:
    """Every recipient field as a real string: missing ones are empty, greeting added.

    Raises ``ValueError`` for a field that does not exist (a typo would
    otherwise leave a placeholder unfilled in a customer's inbox).
    """
    unknown = set(values) - set(RECIPIENT_FIELDS)
    if unknown:
        raise ValueError(f"unknown recipient fields: {', '.join(sorted(unknown))}")
    filled = {name: values.get(name, "") for name in RECIPIENT_FIELDS}
    if "greeting" not in values:
        filled["greeting"] = greeting(filled["first_name"], locale)
    return filled


def recipient_substitutions(values: Mapping[str, str], *, locale: str = "en") -> dict[str, str]:
    """Placeholder token → value, both variants: ``-pulse_x-`` raw, ``-pulse_x_html-`` escaped.

    ``values`` holds the known fields (first_name, name, answer_url,
    unsubscribe_url); ``greeting`` is computed from the first name and locale
    unless given. Raises ``ValueError`` for an unknown field.
    """
    substitutions: dict[str, str] = {}
    for name, value in recipient_values(values, locale=locale).items():
        placeholder = Placeholder(name)
        substitutions[placeholder.text_token] = value
        substitutions[placeholder.html_token] = str(escape(value))
    return substitutions


def fill_recipient_text(text: str, values: Mapping[str, str], *, locale: str = "en") -> str:
    """``text`` with every placeholder token (either variant) replaced by the raw value.

    For text shown outside a message (the answer page, the in-app prompt), which
    is escaped where it is displayed: a campaign question that quotes a
    placeholder must never show the token itself. Missing fields become empty.
    """
    if "-pulse_" not in text:
        return text
    for name, value in recipient_values({k: v for k, v in values.items() if k in RECIPIENT_FIELDS}, locale=locale).items():
        placeholder = Placeholder(name)
        text = text.replace(placeholder.html_token, value).replace(placeholder.text_token, value)
    return text
