"""/console/templates: the template studio page (marketers and admins edit; ops and viewers read).

The page is server-rendered; its editor talks to the JSON routes under
``/console/templates/api/…`` (session cookie plus ``X-CSRF-Token``), which call
the same ``dispatcher.studio.studio`` functions as ``/v1/templates``.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from sqlalchemy import select

from api import studio_actions as actions
from api.console.render import page
from api.console.security import ConsoleUser, form_user, require_console
from api.deps import RuntimeDep, SessionDep
from api.params import CampaignScope
from api.schemas.templates import ConsoleTestSendIn, DraftIn, PreviewIn, PublishIn, RollbackIn
from campaigns.access.models import Role
from campaigns.people.fields import FieldError
from campaigns.people.models import Contact
from campaigns.programs.models import Campaign
from campaigns.studio import service
from dispatcher.studio import studio
from templates import CHANNELS, KINDS
from templates.keys import normalize_locale

router = APIRouter(prefix="/console/templates", include_in_schema=False)

EDIT_ROLES = (Role.ADMIN, Role.MARKETER)
READ_ROLES = (Role.ADMIN, Role.MARKETER, Role.OPS, Role.VIEWER)
Reader = Annotated[ConsoleUser, require_console(*READ_ROLES)]
ReaderPost = Annotated[ConsoleUser, form_user(*READ_ROLES)]  # previews: read-only, but a POST
Editor = Annotated[ConsoleUser, form_user(*EDIT_ROLES)]
KEY = "/{channel}/{kind}/{step}/{locale}"
PUBLISHING = ("Publishing changes what Pulse renders from now on. Messages already queued keep the text "
              "they were rendered with; nothing already planned is rewritten.")


def author(user: ConsoleUser) -> str:
    return f"{user.name} <{user.email}> ({user.role})"


@router.get("", response_class=HTMLResponse)
def studio_list(
    request: Request, session: SessionDep, user: Reader, channel: str = "email", kind: str = "nps", locale: str = "",
) -> Response:
    channel = channel if channel in CHANNELS else "email"
    kind = kind if kind in KINDS else "nps"
    rows = studio.list_keys(session, channel=channel, kind=kind, locale=locale or None)
    return page(
        request, "studio_list.html", user=user, title="Templates", active="templates", rows=rows,
        channels=CHANNELS, kinds=KINDS, channel=channel, kind=kind, locale=locale,
        locales=studio.locale_report(session), may_edit=user.may(*EDIT_ROLES),
    )


@router.post("/locales", response_class=HTMLResponse)
def save_locale(
    runtime: RuntimeDep, session: SessionDep, user: Editor, locale: Annotated[str, Form(max_length=20)],
    company_name: Annotated[str, Form(max_length=200)] = "", sender_name: Annotated[str, Form(max_length=200)] = "",
    support_contact: Annotated[str, Form(max_length=320)] = "",
) -> Response:
    normal = normalize_locale(locale)
    if normal.lower() != locale.strip().lower().replace("_", "-"):
        raise FieldError("locale", f"{locale!r} is not a locale like en, de, de-AT or pt-BR")
    service.save_locale_profile(
        session, normal, company_name=company_name.strip() or None, sender_name=sender_name.strip() or None,
        support_contact=support_contact.strip() or None, author=author(user), now=runtime.clock.now(),
    )
    session.commit()
    return RedirectResponse(f"/console/templates?done=Saved+the+names+for+{normal}", status_code=303)


@router.get(KEY, response_class=HTMLResponse)
def editor(
    channel: str, kind: str, step: str, locale: str, request: Request, runtime: RuntimeDep, session: SessionDep, user: Reader,
    campaign_id: CampaignScope = None,
) -> Response:
    key, ref = studio.key_ref(session, channel, kind, step, locale, campaign_id)
    detail = studio.detail(runtime, session, key, ref)
    language = key.locale.split("-")[0]
    contacts = session.scalars(
        select(Contact).where(Contact.erased_at.is_(None), Contact.locale.like(f"{language}%")).order_by(Contact.id).limit(25)
    ).all()
    campaigns = session.execute(
        select(Campaign.id, Campaign.name).where(Campaign.kind == key.kind, Campaign.status.in_(("draft", "active", "paused"))).order_by(Campaign.id.desc()).limit(50)
    ).all()
    config = {
        "api": f"/console/templates/api/{key.channel}/{key.kind}/{key.step}/{key.locale}",
        "scope": f"campaign_id={campaign_id}" if campaign_id is not None else "",
        "csrf": user.csrf_token, "channel": key.channel, "parts": detail["parts"], "sources": detail["sources"],
        "defaults": detail["defaults"], "draft": detail["draft"], "mayEdit": user.may(*EDIT_ROLES), "me": user.email,
    }
    return page(
        request, "studio_editor.html", user=user, title=f"{key.step} · {key.channel} · {key.locale}", active="templates",
        key=key, detail=detail, contacts=contacts, config=json.dumps(config).replace("</", "<\\/"),
        publishing=PUBLISHING, may_edit=user.may(*EDIT_ROLES), campaigns=campaigns, campaign_id=campaign_id,
    )


def _key(session: Any, channel: str, kind: str, step: str, locale: str, campaign_id: int | None = None) -> Any:
    return studio.key_ref(session, channel, kind, step, locale, campaign_id)


@router.post("/api" + KEY + "/preview")
def preview(channel: str, kind: str, step: str, locale: str, body: PreviewIn, runtime: RuntimeDep, session: SessionDep, _: ReaderPost, campaign_id: CampaignScope = None) -> dict[str, Any]:
    key, ref = _key(session, channel, kind, step, locale, campaign_id)
    return actions.preview(runtime, session, key, ref, body.parts, body.contact_id)


@router.post("/api" + KEY + "/draft")
def save_draft(channel: str, kind: str, step: str, locale: str, body: DraftIn, runtime: RuntimeDep, session: SessionDep, user: Editor, campaign_id: CampaignScope = None) -> dict[str, Any]:
    key, ref = _key(session, channel, kind, step, locale, campaign_id)
    return actions.save_draft(runtime, session, key, ref, body.parts, author=author(user))


@router.post("/api" + KEY + "/discard")
def discard(channel: str, kind: str, step: str, locale: str, session: SessionDep, _: Editor, campaign_id: CampaignScope = None) -> dict[str, Any]:
    _, ref = _key(session, channel, kind, step, locale, campaign_id)
    actions.discard(session, ref)
    return {"discarded": True}


@router.post("/api" + KEY + "/publish")
def publish(channel: str, kind: str, step: str, locale: str, body: PublishIn, runtime: RuntimeDep, session: SessionDep, user: Editor, campaign_id: CampaignScope = None) -> Any:
    key, ref = _key(session, channel, kind, step, locale, campaign_id)
    return actions.publish(runtime, session, key, ref, author=author(user), note=body.note)


@router.post("/api" + KEY + "/revert")
def revert(channel: str, kind: str, step: str, locale: str, body: PublishIn, runtime: RuntimeDep, session: SessionDep, user: Editor, campaign_id: CampaignScope = None) -> dict[str, Any]:
    _, ref = _key(session, channel, kind, step, locale, campaign_id)
    return actions.revert(runtime, session, ref, author=author(user), note=body.note)


@router.post("/api" + KEY + "/rollback")
def rollback(channel: str, kind: str, step: str, locale: str, body: RollbackIn, runtime: RuntimeDep, session: SessionDep, user: Editor, campaign_id: CampaignScope = None) -> Any:
    key, ref = _key(session, channel, kind, step, locale, campaign_id)
    return actions.rollback(runtime, session, key, ref, body.version, author=author(user), note=body.note)


@router.post("/api" + KEY + "/test-send")
def test_send(channel: str, kind: str, step: str, locale: str, body: ConsoleTestSendIn, runtime: RuntimeDep, session: SessionDep, user: Editor, campaign_id: CampaignScope = None) -> Any:
    key, ref = _key(session, channel, kind, step, locale, campaign_id)
    # Email goes to the signed-in member's own address; an SMS to the number they type.
    to = user.email if key.channel == "email" else (body.to or "")
    return actions.test_send(runtime, session, key, ref, body.parts, to=to, contact_id=body.contact_id)


@router.get("/api" + KEY + "/history")
def history(channel: str, kind: str, step: str, locale: str, session: SessionDep, _: Reader, campaign_id: CampaignScope = None) -> dict[str, Any]:
    _, ref = _key(session, channel, kind, step, locale, campaign_id)
    return actions.history(session, ref)


@router.get("/api" + KEY + "/diff")
def diff(channel: str, kind: str, step: str, locale: str, runtime: RuntimeDep, session: SessionDep, _: Reader, before: str = "default", after: str = "current", campaign_id: CampaignScope = None) -> JSONResponse:
    key, ref = _key(session, channel, kind, step, locale, campaign_id)
    return JSONResponse({"parts": studio.diff(runtime, session, key, ref, before=before, after=after)})
