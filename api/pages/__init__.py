"""The public web pages customers see (answer, thank-you, unsubscribe, in-app demo).

These are web pages, not message templates: one Jinja2 environment with
autoescape and ``StrictUndefined`` over the ``.html`` files beside this module,
their words from ``texts`` in the contact's language (en, de; English otherwise).
Each page gets a fresh CSP nonce for its inline style and script.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from api.pages.texts import texts_for

_environment = Environment(
    loader=FileSystemLoader(Path(__file__).parent),
    autoescape=True,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def render_page(name: str, *, lang: str, nonce: str | None = None, **context: Any) -> str:
    """``name``.html with ``t`` (the words in ``lang``) and ``nonce`` in its context."""
    return _environment.get_template(f"{name}.html").render(t=texts_for(lang), lang=lang, nonce=nonce or "", **context)


def new_nonce() -> str:
    return secrets.token_urlsafe(16)


def page_headers(nonce: str | None = None) -> dict[str, str]:
    """What every public page sends: no referrer (a link's token must not leak to other
    sites), never cached or indexed, and a CSP that allows only our own inline code."""
    script = f"'nonce-{nonce}'" if nonce else "'none'"
    style = f"'nonce-{nonce}'" if nonce else "'unsafe-inline'"
    return {
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-store",
        "X-Robots-Tag": "noindex, nofollow",
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": (
            f"default-src 'none'; style-src {style}; script-src {script}; img-src 'self' data:; "
            "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
        ),
    }
