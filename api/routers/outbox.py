"""/outbox: the development outbox as pages, so a new user can open a survey email and click it.

Only there while a medium uses the outbox channel (the embedded default); the
email HTML is shown in a sandboxed frame, since it is a template's output.
Outside development the pages are off unless ``PULSE_OUTBOX_PAGES=true``, and then
only console admins see them (the outbox holds every message, sign-in links included).
"""

from __future__ import annotations

from html import escape

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from api.console.security import ConsoleForbidden, MaybeUser, SignInRequired
from api.deps import RuntimeDep
from campaigns.access.models import Role
from api.errors import ApiError
from channels.outbox import list_outbox, read_outbox_entry

router = APIRouter(tags=["outbox"], include_in_schema=False)

STYLE = """<style>body{font-family:system-ui,sans-serif;margin:2rem;color:#1f2933}table{border-collapse:collapse;width:100%}
td,th{padding:.4rem .6rem;border-bottom:1px solid #e4e7eb;text-align:left}a{color:#2563eb}
iframe{width:100%;height:75vh;border:1px solid #e4e7eb}pre{white-space:pre-wrap;background:#f8f9fb;padding:1rem}</style>"""


def _page(title: str, body: str) -> HTMLResponse:
    return HTMLResponse(f"<!doctype html><html><head><meta charset=utf-8><title>{escape(title)}</title>{STYLE}</head><body>{body}</body></html>")


def _outbox_dir(request: Request, runtime: RuntimeDep, user: MaybeUser) -> str:
    settings = runtime.settings
    if settings.environment != "development":
        if not settings.outbox_pages:
            raise ApiError(404, "not_found", "the outbox pages are off outside development (PULSE_OUTBOX_PAGES)")
        if user is None:
            raise SignInRequired(request.url.path)
        if not user.may(Role.ADMIN):
            raise ConsoleForbidden(user, "Only console admins may read the outbox.")
    if "outbox" not in (settings.email_channel, settings.sms_channel):
        raise ApiError(404, "not_found", "the outbox is off: messages go to real providers")
    return str(settings.outbox_dir)


OutboxDir = Annotated[str, Depends(_outbox_dir)]


@router.get("/outbox", response_class=HTMLResponse)
def outbox(directory: OutboxDir) -> HTMLResponse:
    entries = list_outbox(directory, limit=500)
    rows = "".join(
        f"<tr><td>{e.created:%Y-%m-%d %H:%M:%S}</td><td>{e.medium}</td><td>{escape(e.to)}</td>"
        f"<td><a href='/outbox/{escape(e.name)}'>{escape(e.subject or '(SMS)')}</a></td></tr>"
        for e in entries
    )
    empty = "<p>Nothing sent yet. Launch a campaign, or run <code>pulse run --demo</code>.</p>" if not entries else ""
    return _page("Pulse outbox", f"<h1>Outbox</h1><p>The newest {len(entries)} messages Pulse wrote instead of sending.</p>{empty}"
                 f"<table><tr><th>written</th><th>medium</th><th>to</th><th>subject</th></tr>{rows}</table>")


@router.get("/outbox/{name}", response_class=HTMLResponse)
def outbox_message(name: str, directory: OutboxDir) -> HTMLResponse:
    try:
        document = read_outbox_entry(directory, name)
    except (ValueError, FileNotFoundError):
        raise ApiError(404, "not_found", f"no outbox message named {name!r}") from None
    headers = "".join(f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in document.headers)
    if document.html:
        content = f"<iframe sandbox='allow-popups allow-popups-to-escape-sandbox' srcdoc='{escape(document.html, quote=True)}'></iframe>"
    else:
        content = f"<pre>{escape(document.text or '')}</pre>"
    return _page(document.entry.subject or "SMS", f"<p><a href='/outbox'>&larr; outbox</a></p><table>{headers}</table>{content}")
