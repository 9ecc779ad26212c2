"""Render a message from its key and context: published edit over shipped default.

Each part (subject, txt, html, mrkdwn) is looked up along the locale chain
(``de-AT`` → ``de`` → ``en``); at each locale an edit from ``overrides`` wins
over the default file. Everything compiles into the one sandbox of
``templates.environment``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from jinja2 import Template

from templates.context import as_mapping
from templates.environment import compile_source, default_template
from templates.keys import CHANNEL_PARTS, LANGUAGES, TemplateKey, locale_chain, resolve_language
from templates.limits import render_limited
from templates.sources import default_keys, default_name, logical_name, read_default
from templates.validate import names_read, validate_source

# The database layer's lookup of a published edit: part name → source, or None
# when the key has no edit. Parts it leaves out come from the default files.
Overrides = Callable[[TemplateKey], Mapping[str, str] | None]


class TemplateMissing(LookupError):
    """No edit and no default file for a part of a key, in any locale of its chain."""

    def __init__(self, key: TemplateKey, part: str) -> None:
        super().__init__(
            f"no template for {key.channel}/{key.kind}/{key.step} {part} ({key.locale})"
        )
        self.key = key
        self.part = part


@dataclass(frozen=True)
class RenderedMessage:
    """A rendered message.

    email: ``subject``, ``text`` (plain-text part) and ``html``;
    sms and in_app: ``text`` only;
    slack: ``text`` is the JSON payload to POST to an incoming webhook
    (``{"text": "<mrkdwn>", "unfurl_links": false}``).
    Text may hold recipient placeholders (see ``templates.recipient``).
    """

    subject: str | None
    text: str
    html: str | None


def _clean_text(text: str) -> str:
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


class TemplateRenderer:
    """Renders Pulse messages; safe to share between threads."""

    def __init__(self, overrides: Overrides | None = None) -> None:
        self._overrides = overrides

    def render(self, key: TemplateKey, context: Mapping[str, Any] | object) -> RenderedMessage:
        """Render every part of ``key``'s channel with ``context`` (a context dataclass
        of ``templates.context`` or a mapping with its names).

        Raises ``TemplateMissing``, ``jinja2.UndefinedError`` for a name the context
        lacks, ``jinja2.sandbox.SecurityError`` for a template reaching for internals.
        """
        values = as_mapping(context)
        values["lang"] = resolve_language(key.locale)
        edits: dict[str, Mapping[str, str] | None] = {}
        out = {
            part: render_limited(self._template(key, part, edits), values)
            for part in CHANNEL_PARTS[key.channel]
        }
        if key.channel == "slack":
            payload = {"text": _clean_text(out["mrkdwn"]), "unfurl_links": False}
            return RenderedMessage(None, json.dumps(payload, ensure_ascii=False), None)
        subject = " ".join(out["subject"].split()) if "subject" in out else None
        html = out["html"].strip() if "html" in out else None
        return RenderedMessage(subject, _clean_text(out["txt"]), html)

    def source(self, key: TemplateKey) -> dict[str, str]:
        """The sources ``render`` would use for ``key``, part → text (for the editor)."""
        edits: dict[str, Mapping[str, str] | None] = {}
        sources: dict[str, str] = {}
        for part in CHANNEL_PARTS[key.channel]:
            edited, name = self._lookup(key, part, edits)
            sources[part] = edited if edited is not None else read_default(name)
        return sources

    def names_used(self, key: TemplateKey) -> frozenset[str] | None:
        """The context names ``render`` would read for ``key`` (None: not known), so a
        caller can skip looking up values the text never shows."""
        used: set[str] = set()
        for source in self.source(key).values():
            names = names_read(source)
            if names is None:
                return None
            used |= names
        return frozenset(used)

    def available_keys(self) -> list[TemplateKey]:
        """Every key with a shipped default (locales ``en`` and ``de``)."""
        return default_keys()

    def validate_source(
        self, part_sources: Mapping[str, str], *, key: TemplateKey | None = None
    ) -> list[str]:
        """Errors that should stop an edit being published; empty when fine.

        See ``templates.validate.validate_source``.
        """
        return validate_source(part_sources, key=key)

    def _template(
        self, key: TemplateKey, part: str, edits: dict[str, Mapping[str, str] | None]
    ) -> Template:
        edited, name = self._lookup(key, part, edits)
        if edited is not None:
            return compile_source(name, edited)
        return default_template(name)

    def _lookup(
        self, key: TemplateKey, part: str, edits: dict[str, Mapping[str, str] | None]
    ) -> tuple[str | None, str]:
        """For the first hit along the locale chain: (edited source, its logical name)
        or (None, the default file's name)."""
        for locale in locale_chain(key.locale):
            at = key.with_locale(locale)
            if self._overrides is not None:
                if locale not in edits:  # ask the database once per locale and render
                    edits[locale] = self._overrides(at)
                edited = edits[locale]
                if edited and part in edited:
                    return edited[part], logical_name(at, part)
            if locale in LANGUAGES:
                name = default_name(at, part, locale)
                if name:
                    return None, name
        raise TemplateMissing(key, part)
