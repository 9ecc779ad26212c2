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
from api.deps import RuntimeDep, SessionDep
from api.errors import ApiError
from campaigns.access.models import Role
from channels.outbox import OutboxEntry, list_outbox, read_outbox_entry
from dispatcher.runtime.outbox_facts import OutboxFact, message_facts

router = APIRouter(tags=["outbox"], include_in_schema=False)

STYLE = """<style>body{font-family:system-ui,sans-serif;margin:2rem;color:#1f2933}table{border-collapse:collapse;width:100%}
td,th{padding:.4rem .6rem;border-bottom:1px solid #e4e7eb;text-align:left}a{color:#2563eb}
.scroll{overflow-x:auto}.headers td{overflow-wrap:anywhere}@media (max-width:40rem){body{margin:1rem}}
iframe{width:100%;height:75vh;border:1px solid #e4e7eb}.filters{margin:1rem 0}.filters label{margin-right:.8rem}pre{white-space:pre-wrap;background:#f8f9fb;padding:1rem}</style>"""


def _page(title: str, body: str) -> HTMLResponse:
    return HTMLResponse(f"<!doctype html><html><head><meta charset=utf-8><meta name=viewport content='width=device-width,initial-scale=1'><title>{escape(title)}</title>{STYLE}</head><body>{body}</body></html>")


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
def outbox(
    directory: OutboxDir, session: SessionDep, campaign: int | None = None, step: str | None = None, kind: str | None = None,
) -> HTMLResponse:
    """The newest messages, with their campaign, step and survey kind; filtered by any of them."""
    entries = list_outbox(directory, limit=500)
    facts = message_facts(session, entries)
    shown = [e for e in entries if _matches(facts.get(e.name), campaign=campaign, step=step, kind=kind)]
    rows = "".join(_row(e, facts.get(e.name)) for e in shown)
    # The demo writes to an outbox of its own (./demo/outbox/, on its own port), never to this one.
    empty = ("<p>Nothing sent yet. Launch a campaign (the README's <em>A first campaign</em>); "
             "<code>make demo</code> shows a whole plan in an outbox of its own, at the address it prints.</p>") if not entries else ""
    filtered = campaign is not None or step or kind
    summary = f"{len(shown)} of the newest {len(entries)} messages" if filtered else f"The newest {len(entries)} messages"
    return _page("Pulse outbox", f"<h1>Outbox</h1><p>{summary} Pulse wrote instead of sending.</p>{empty}{_filters(facts, campaign, step, kind)}"
                 "<div class=scroll><table><tr><th>subject</th><th>to</th><th>written</th><th>medium</th><th>campaign</th><th>step</th><th>kind</th></tr>"
                 f"{rows}</table></div>")


def _matches(fact: OutboxFact | None, *, campaign: int | None, step: str | None, kind: str | None) -> bool:
    if campaign is None and not step and not kind:
        return True
    if fact is None:
        return False
    return (campaign is None or fact.campaign_id == campaign) and (not step or fact.step == step) and (not kind or fact.kind == kind)


def _row(entry: OutboxEntry, fact: OutboxFact | None) -> str:
    campaign = (f"<a href='/outbox?campaign={fact.campaign_id}'>{fact.campaign_id} {escape(fact.campaign_name or '')}</a>"
                if fact and fact.campaign_id is not None else "")
    step = f"<a href='/outbox?step={escape(fact.step)}'>{escape(fact.step)}</a>" if fact else ""
    kind = f"<a href='/outbox?kind={escape(fact.kind)}'>{escape(fact.kind)}</a>" if fact and fact.kind else ""
    # The subject (the link to open) comes first: on a phone the columns after it scroll.
    return (f"<tr><td><a href='/outbox/{escape(entry.name)}'>{escape(entry.subject or '(SMS)')}</a></td><td>{escape(entry.to)}</td>"
            f"<td>{entry.created:%Y-%m-%d %H:%M:%S}</td><td>{entry.medium}</td><td>{campaign}</td><td>{step}</td><td>{kind}</td></tr>")


def _filters(facts: dict[str, OutboxFact], campaign: int | None, step: str | None, kind: str | None) -> str:
    def select(name: str, label: str, options: dict[str, str], chosen: str | None) -> str:
        items = "".join(f"<option value='{escape(v)}'{' selected' if v == chosen else ''}>{escape(t)}</option>" for v, t in sorted(options.items()))
        return f"<label>{label} <select name='{name}'><option value=''>all</option>{items}</select></label> "

    campaigns = {str(f.campaign_id): f"{f.campaign_id} {f.campaign_name or ''}" for f in facts.values() if f.campaign_id is not None}
    steps = {f.step: f.step for f in facts.values()}
    kinds = {f.kind: f.kind for f in facts.values() if f.kind}
    return ("<form method='get' action='/outbox' class='filters'>"
            + select("campaign", "campaign", campaigns, str(campaign) if campaign is not None else None)
            + select("step", "step", steps, step) + select("kind", "kind", kinds, kind)
            + "<button type='submit'>Filter</button> <a href='/outbox'>clear</a></form>")


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
    return _page(document.entry.subject or "SMS", f"<p><a href='/outbox'>&larr; outbox</a></p><table class=headers>{headers}</table>{content}")
