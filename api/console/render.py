"""Rendering console pages: one autoescaping Jinja environment and the navigation."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from api.console.security import ConsoleUser
from campaigns.access.models import Role

TEMPLATES = Path(__file__).parent / "templates"


@dataclass(frozen=True)
class NavEntry:
    key: str
    label: str
    href: str
    roles: tuple[Role, ...]


_ALL = tuple(Role)
_READ = (Role.ADMIN, Role.OPS, Role.VIEWER)
# The console's menu. A new section adds its entry here; the base template shows
# each member only the entries their role may open.
NAV: tuple[NavEntry, ...] = (
    NavEntry("campaigns", "Campaigns", "/console/campaigns", _READ),
    NavEntry("follow_ups", "Follow-ups", "/console/follow-ups", _READ),
    NavEntry("templates", "Templates", "/console/templates", (Role.ADMIN, Role.OPS, Role.MARKETER)),
    NavEntry("status", "Status", "/console/status", (Role.ADMIN, Role.OPS)),
    NavEntry("sessions", "Sessions", "/console/sessions", (Role.ADMIN,)),
)


def _when(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M UTC") -> str:
    return value.strftime(fmt) if value else "—"


def _number(value: float | None, digits: int = 0) -> str:
    if value is None:
        return "—"
    return f"{value:,.{digits}f}"


environment = Environment(
    loader=FileSystemLoader(str(TEMPLATES)),
    autoescape=select_autoescape(default=True, default_for_string=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
environment.filters["when"] = _when
environment.filters["number"] = _number


def nav_for(user: ConsoleUser | None) -> list[NavEntry]:
    if user is None:
        return []
    return [entry for entry in NAV if user.may(*entry.roles)]


def page(
    request: Request, template: str, *, user: ConsoleUser | None, title: str, active: str = "",
    status_code: int = 200, csrf_token: str | None = None, **context: Any,
) -> HTMLResponse:
    """Render ``template`` (which extends ``base.html``) for ``user``; forms use ``csrf_token``."""
    html = environment.get_template(template).render(
        request=request, user=user, title=title, active=active, nav=nav_for(user),
        csrf_token=csrf_token if csrf_token is not None else (user.csrf_token if user else ""),
        flash=request.query_params.get("done"), failure=request.query_params.get("error"), **context,
    )
    return HTMLResponse(html, status_code=status_code, headers=SECURITY_HEADERS)


# Console pages: never cached, never framed, and only our own scripts (charts carry inline styles).
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
                               "frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
}
