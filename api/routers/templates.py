"""/v1/templates: the template studio's API (marketers and admins edit; ops and viewers read).

A key is ``{channel}/{kind}/{step}/{locale}``; ``?campaign_id=`` scopes it to
one campaign's own text. Publishing changes what is rendered from then on:
messages already planned keep the content rendered for them.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from api import studio_actions as actions
from api.deps import RuntimeDep, SessionDep, StudioEditor, StudioReader
from api.params import CampaignScope, ObjectId
from api.schemas.templates import (
    DraftIn,
    LocaleProfileIn,
    PreviewIn,
    PublishIn,
    RollbackIn,
    TestSendIn,
)
from campaigns.access.models import ApiKey
from campaigns.people.fields import FieldError
from campaigns.studio import service
from dispatcher.studio import studio
from templates.keys import normalize_locale

router = APIRouter(prefix="/v1/templates", tags=["templates"])
KEY = "/{channel}/{kind}/{step}/{locale}"


def author(key: ApiKey) -> str:
    return f"{key.name} ({key.role})"


@router.get("", summary="Every template key with its status: default, edited, draft pending")
def list_templates(
    session: SessionDep, _: StudioReader, channel: str | None = None, kind: str | None = None,
    locale: str | None = None, campaign_id: CampaignScope = None,
) -> dict[str, Any]:
    return {"items": studio.list_keys(session, channel=channel, kind=kind, locale=locale, campaign_id=campaign_id)}


@router.get("/locales", summary="Locales in use, their fallback chains, names and missing-language warnings")
def locales(session: SessionDep, _: StudioReader) -> dict[str, Any]:
    return {"items": studio.locale_report(session)}


@router.put("/locales/{locale}", summary="Company, signature and support names for one locale")
def put_locale(locale: str, body: LocaleProfileIn, runtime: RuntimeDep, session: SessionDep, key: StudioEditor) -> dict[str, Any]:
    normal = normalize_locale(locale)
    if normal.lower() != locale.lower().replace("_", "-"):
        raise FieldError("locale", f"{locale!r} is not a locale like en, de, de-AT or pt-BR")
    profile = service.save_locale_profile(
        session, normal, company_name=body.company_name, sender_name=body.sender_name,
        support_contact=body.support_contact, author=author(key), now=runtime.clock.now(),
    )
    session.commit()
    return {"locale": profile.locale, "company_name": profile.company_name, "sender_name": profile.sender_name, "support_contact": profile.support_contact}


@router.get("/sent/{message_id}", summary="A sent message as stored, the template versions it came from, and that render repeated")
def as_sent(message_id: ObjectId, runtime: RuntimeDep, session: SessionDep, _: StudioReader) -> dict[str, Any]:
    return studio.as_sent(runtime, session, message_id)


def _key(session: Any, channel: str, kind: str, step: str, locale: str, campaign_id: int | None) -> Any:
    return studio.key_ref(session, channel, kind, step, locale, campaign_id)


@router.get(KEY, summary="One template: sources, defaults, draft, variables, fallback chain, findings")
def get_template(channel: str, kind: str, step: str, locale: str, runtime: RuntimeDep, session: SessionDep, _: StudioReader, campaign_id: CampaignScope = None) -> dict[str, Any]:
    key, ref = _key(session, channel, kind, step, locale, campaign_id)
    return studio.detail(runtime, session, key, ref)


@router.put(KEY + "/draft", summary="Save the draft (replaces the previous draft)")
def put_draft(channel: str, kind: str, step: str, locale: str, body: DraftIn, runtime: RuntimeDep, session: SessionDep, key: StudioEditor, campaign_id: CampaignScope = None) -> dict[str, Any]:
    template, ref = _key(session, channel, kind, step, locale, campaign_id)
    return actions.save_draft(runtime, session, template, ref, body.parts, author=author(key))


@router.delete(KEY + "/draft", status_code=204, summary="Throw the draft away")
def delete_draft(channel: str, kind: str, step: str, locale: str, session: SessionDep, _: StudioEditor, campaign_id: CampaignScope = None) -> None:
    _, ref = _key(session, channel, kind, step, locale, campaign_id)
    actions.discard(session, ref)


@router.post(KEY + "/validate", summary="Check text without saving it: each finding with its part, line and a sentence")
def validate(channel: str, kind: str, step: str, locale: str, body: DraftIn, runtime: RuntimeDep, session: SessionDep, _: StudioReader, campaign_id: CampaignScope = None) -> dict[str, Any]:
    template, ref = _key(session, channel, kind, step, locale, campaign_id)
    findings = studio.check(runtime, session, template, ref, actions.checked_parts(body.parts) or {})
    return {"ok": not any(f.severity == "error" for f in findings), "findings": [f.as_json() for f in findings]}


@router.post(KEY + "/preview", summary="Render with sample data or a real contact's name; nothing is stored or sent")
def preview(channel: str, kind: str, step: str, locale: str, body: PreviewIn, runtime: RuntimeDep, session: SessionDep, _: StudioReader, campaign_id: CampaignScope = None) -> dict[str, Any]:
    template, ref = _key(session, channel, kind, step, locale, campaign_id)
    return actions.preview(runtime, session, template, ref, body.parts, body.contact_id)


@router.post(KEY + "/publish", summary="Publish the draft as the next version (refused while a check fails)")
def publish(channel: str, kind: str, step: str, locale: str, body: PublishIn, runtime: RuntimeDep, session: SessionDep, key: StudioEditor, campaign_id: CampaignScope = None) -> Any:
    template, ref = _key(session, channel, kind, step, locale, campaign_id)
    return actions.publish(runtime, session, template, ref, author=author(key), note=body.note)


@router.get(KEY + "/history", summary="Published versions, newest first, with who and when")
def history(channel: str, kind: str, step: str, locale: str, session: SessionDep, _: StudioReader, campaign_id: CampaignScope = None) -> dict[str, Any]:
    _, ref = _key(session, channel, kind, step, locale, campaign_id)
    return actions.history(session, ref)


@router.get(KEY + "/diff", summary="Unified diff per part between default, current, draft or version numbers")
def diff(
    channel: str, kind: str, step: str, locale: str, runtime: RuntimeDep, session: SessionDep, _: StudioReader,
    before: Annotated[str, Query(alias="from")] = "default", after: Annotated[str, Query(alias="to")] = "current",
    campaign_id: CampaignScope = None,
) -> dict[str, Any]:
    template, ref = _key(session, channel, kind, step, locale, campaign_id)
    return {"from": before, "to": after, "parts": studio.diff(runtime, session, template, ref, before=before, after=after)}


@router.post(KEY + "/revert", summary="Publish the default text as a new version")
def revert(channel: str, kind: str, step: str, locale: str, body: PublishIn, runtime: RuntimeDep, session: SessionDep, key: StudioEditor, campaign_id: CampaignScope = None) -> dict[str, Any]:
    _, ref = _key(session, channel, kind, step, locale, campaign_id)
    return actions.revert(runtime, session, ref, author=author(key), note=body.note)


@router.post(KEY + "/rollback", summary="Publish an earlier version's text as a new version")
def rollback(channel: str, kind: str, step: str, locale: str, body: RollbackIn, runtime: RuntimeDep, session: SessionDep, key: StudioEditor, campaign_id: CampaignScope = None) -> Any:
    template, ref = _key(session, channel, kind, step, locale, campaign_id)
    return actions.rollback(runtime, session, template, ref, body.version, author=author(key), note=body.note)


@router.post(KEY + "/test-send", summary="Send the preview to yourself through the configured channel (the outbox in development)")
def test_send(channel: str, kind: str, step: str, locale: str, body: TestSendIn, runtime: RuntimeDep, session: SessionDep, _: StudioEditor, campaign_id: CampaignScope = None) -> Any:
    template, ref = _key(session, channel, kind, step, locale, campaign_id)
    return actions.test_send(runtime, session, template, ref, body.parts, to=body.to, contact_id=body.contact_id)

