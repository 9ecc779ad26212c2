"""The template studio's actions, once for both doors: ``/v1/templates`` (API keys) and the console's
studio page (signed-in members). The routers differ only in who may call and how the author is named.

Actions that change what is published commit and reload the runtime's published edits; a publish or
rollback refused by a check answers 422 with every finding.
"""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from api.errors import error_body
from api.schemas.templates import MAX_SOURCE
from campaigns.people.fields import FieldError
from campaigns.studio import service
from dispatcher.runtime.core import Runtime
from dispatcher.studio import studio
from templates import TemplateKey


def checked_parts(parts: dict[str, str] | None) -> dict[str, str] | None:
    for part, source in (parts or {}).items():
        if len(source) > MAX_SOURCE:
            raise FieldError(f"parts.{part}", f"longer than {MAX_SOURCE:,} characters")
    return parts


def draft_or(session: Session, ref: service.KeyRef, parts: dict[str, str] | None) -> dict[str, str] | None:
    """The text sent with the request, else the saved draft, else none (the published text)."""
    if parts is not None:
        return checked_parts(parts)
    draft = service.draft(session, ref)
    return dict(draft.parts) if draft else None


def checks_failed(exc: studio.ChecksFailed) -> JSONResponse:
    body = error_body("template_invalid", f"the template has {len(exc.findings)} error(s): {exc}",
                      [{"field": f"parts.{f.part}", "reason": f.message} for f in exc.findings])
    body["error"]["findings"] = [f.as_json() for f in exc.findings]
    return JSONResponse(body, status_code=422)


def preview(runtime: Runtime, session: Session, template: TemplateKey, ref: service.KeyRef, parts: dict[str, str] | None, contact_id: int | None) -> dict[str, Any]:
    result = studio.preview(runtime, session, template, ref, draft_or(session, ref, parts), contact_id=contact_id)
    message = result.message
    return {"subject": message.subject, "text": message.text, "html": message.html, "sms": result.sms, "findings": [f.as_json() for f in result.findings]}


def save_draft(runtime: Runtime, session: Session, template: TemplateKey, ref: service.KeyRef, parts: dict[str, str], *, author: str) -> dict[str, Any]:
    result = studio.save_draft(runtime, session, template, ref, checked_parts(parts) or {}, author=author)
    session.commit()
    return result


def discard(session: Session, ref: service.KeyRef) -> None:
    service.discard_draft(session, ref)
    session.commit()


def _published(runtime: Runtime, session: Session, version: Any) -> dict[str, Any]:
    session.commit()
    runtime.published_templates.invalidate()
    return studio.version_json(version)


def publish(runtime: Runtime, session: Session, template: TemplateKey, ref: service.KeyRef, *, author: str, note: str | None) -> Any:
    try:
        version = studio.publish(runtime, session, template, ref, author=author, note=note)
    except studio.ChecksFailed as exc:
        return checks_failed(exc)
    return _published(runtime, session, version)


def revert(runtime: Runtime, session: Session, ref: service.KeyRef, *, author: str, note: str | None) -> dict[str, Any]:
    return _published(runtime, session, studio.revert(runtime, session, ref, author=author, note=note))


def rollback(runtime: Runtime, session: Session, template: TemplateKey, ref: service.KeyRef, version: int, *, author: str, note: str | None) -> Any:
    try:
        chosen = studio.rollback(runtime, session, template, ref, version, author=author, note=note)
    except studio.ChecksFailed as exc:
        return checks_failed(exc)
    return _published(runtime, session, chosen)


def history(session: Session, ref: service.KeyRef) -> dict[str, Any]:
    return {"items": [studio.version_json(v) for v in service.published(session, ref)]}


def test_send(runtime: Runtime, session: Session, template: TemplateKey, ref: service.KeyRef, parts: dict[str, str] | None, *, to: str, contact_id: int | None) -> Any:
    try:
        return studio.test_send(runtime, session, template, ref, draft_or(session, ref, parts), to=to, contact_id=contact_id)
    except studio.ChecksFailed as exc:
        return checks_failed(exc)
