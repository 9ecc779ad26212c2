"""In-app answers: the prompt API the widget calls, the widget itself, and a demo page.

The widget runs on the product's own pages (another origin), so these
endpoints answer CORS preflights and put ``Access-Control-Allow-Origin: *`` on
every response, errors included. No cookies are involved: each request carries
the publishable key, the contact's external id and the product server's
signature of it (``X-Pulse-Key``, ``X-Pulse-Contact``, ``X-Pulse-Signature``).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, BackgroundTasks, Header, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field

from api.deps import RuntimeDep, SessionDep
from api.errors import ApiError, error_responses
from api.pages import page_headers, render_page
from api.pages.texts import language_from_header, texts_for
from api.ratelimit import RateLimited, check_rate
from dispatcher.answers.answering import kick
from dispatcher.answers.in_app_answers import (
    PromptNotFound,
    answer_prompt,
    dismiss_prompt,
    identity_signature,
    identity_valid,
    pending_prompt,
)
from dispatcher.answers.links import COMMENT_MAX
from dispatcher.runtime.core import Runtime

WIDGET = Path(__file__).resolve().parent.parent / "static" / "widget.js"
IDENTITY_HEADERS = "Content-Type, X-Pulse-Key, X-Pulse-Contact, X-Pulse-Signature"
CORS = {"Access-Control-Allow-Origin": "*", "Vary": "Origin"}


class _CorsRoute(APIRoute):
    """Adds the CORS headers to every answer, including the app's error answers."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def with_cors(request: Request) -> Response:
            try:
                response = await handler(request)
            except Exception as exc:
                error_handler = _handler_for(request, exc)
                if error_handler is None:
                    raise
                response = await error_handler(request, exc)
            response.headers.update(CORS)
            return response

        return with_cors


def _handler_for(request: Request, exc: Exception) -> Any:
    handlers = request.app.exception_handlers
    for cls in type(exc).__mro__:
        if cls in handlers:
            return handlers[cls]
    return None


# One router: the app includes one per module. The widget and the demo page get the
# CORS headers too, which is harmless (and lets a product page fetch the widget).
router = APIRouter(responses=error_responses(401, 403, 429, 503), tags=["answers"], route_class=_CorsRoute)

Key = Annotated[str, Header(alias="X-Pulse-Key", description="the workspace's in-app publishable key")]
ContactId = Annotated[str, Header(alias="X-Pulse-Contact", min_length=1, max_length=200, description="the contact's external id")]
Signature = Annotated[str, Header(alias="X-Pulse-Signature", description="hex HMAC-SHA256 of the external id with the in-app secret, made by the product's server")]


def _identify(runtime: Runtime, request: Request, key: str, contact: str, signature: str) -> str:
    """The verified external id; raises ApiError 503/401/403/429."""
    settings = runtime.settings
    if settings.in_app_publishable_key is None or settings.in_app_secret is None:
        raise ApiError(503, "in_app_not_configured", "in-app answers are off: set PULSE_IN_APP_PUBLISHABLE_KEY and PULSE_IN_APP_SECRET")
    if key != settings.in_app_publishable_key:
        raise ApiError(401, "invalid_publishable_key", "X-Pulse-Key: not this workspace's in-app publishable key")
    if not identity_valid(settings, external_id=contact, signature=signature):
        raise ApiError(403, "invalid_signature", "X-Pulse-Signature: not the HMAC-SHA256 of X-Pulse-Contact with the workspace's in-app secret")
    try:
        check_rate(runtime, request, token=f"in-app:{contact}")
    except RateLimited as limited:
        raise ApiError(429, "rate_limited", str(limited), headers={"Retry-After": str(limited.retry_after)}) from None
    return contact


class ScaleOut(BaseModel):
    min: int
    max: int
    low_label: str
    high_label: str


class PromptOut(BaseModel):
    id: str = Field(description="this prompt's own id (each step's prompt has its own): answer or dismiss it at /v1/in-app/prompts/{id}/...")
    message_id: int = Field(description="the message this prompt delivers (GET /v1/campaigns/{id}/messages)")
    created_at: str
    type: Literal["survey", "notice"] = Field(description="survey: ask the scale; notice: show the text with a close button")
    kind: str
    step: str
    text: str
    question: str
    follow_up_question: str
    scale: ScaleOut
    labels: dict[str, str] = Field(description="the widget's button words in the contact's language")
    expires_at: str


class PromptEnvelope(BaseModel):
    prompt: PromptOut | None


class AnswerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    score: int
    comment: str | None = Field(default=None, max_length=COMMENT_MAX)


class AnswerOut(BaseModel):
    status: Literal["recorded"]
    score: int
    category: str
    thank_you: str


class DismissOut(BaseModel):
    status: Literal["dismissed"]


@router.get("/v1/in-app/prompt", response_model=PromptEnvelope, summary="The contact's pending prompt, if any")
def get_prompt(request: Request, runtime: RuntimeDep, session: SessionDep, key: Key, contact: ContactId, signature: Signature) -> PromptEnvelope:
    external_id = _identify(runtime, request, key, contact, signature)
    found = pending_prompt(runtime, session, external_id=external_id)
    if found is None:
        return PromptEnvelope(prompt=None)
    session.commit()  # the prompt was shown: a signal for channel choice
    view, t = found.survey, texts_for(found.survey.lang)
    return PromptEnvelope(prompt=PromptOut(
        id=found.prompt_id, message_id=found.message_id, created_at=found.created_at.isoformat(), type=found.type, kind=view.kind, step=found.step, text=found.text or view.question,
        question=view.question, follow_up_question=view.follow_up_question,
        scale=ScaleOut(min=view.scale.min, max=view.scale.max, low_label=view.scale.low_label, high_label=view.scale.high_label),
        labels={"send": t["send"], "dismiss": t["dismiss"], "thanks": t["thanks_short"], "comment_hint": t["comment_hint"]},
        expires_at=found.expires_at.isoformat(),
    ))


@router.post("/v1/in-app/prompts/{prompt_id}/answer", response_model=AnswerOut, summary="Answer the prompt (a later answer replaces it)")
def post_answer(
    prompt_id: str, body: AnswerIn, request: Request, runtime: RuntimeDep, session: SessionDep, background: BackgroundTasks,
    key: Key, contact: ContactId, signature: Signature,
) -> AnswerOut:
    external_id = _identify(runtime, request, key, contact, signature)
    try:
        answered = answer_prompt(runtime, session, external_id=external_id, prompt_id=prompt_id, score=body.score, comment=body.comment)
    except PromptNotFound:
        raise ApiError(404, "prompt_not_found", "prompt_id: no prompt of this contact by that id, or it has expired") from None
    session.commit()
    response = answered.response
    background.add_task(kick, runtime)  # the task, the alert and webhooks follow on a worker
    return AnswerOut(status="recorded", score=response.score, category=response.category, thank_you=texts_for(answered.lang)["thanks_short"])


@router.post("/v1/in-app/prompts/{prompt_id}/dismiss", response_model=DismissOut, summary="Close the prompt unanswered (counts as a fatigue touch)")
def post_dismiss(prompt_id: str, request: Request, runtime: RuntimeDep, session: SessionDep, key: Key, contact: ContactId, signature: Signature) -> DismissOut:
    external_id = _identify(runtime, request, key, contact, signature)
    try:
        dismiss_prompt(runtime, session, external_id=external_id, prompt_id=prompt_id)
    except PromptNotFound:
        raise ApiError(404, "prompt_not_found", "prompt_id: no prompt of this contact by that id, or it has expired") from None
    session.commit()
    return DismissOut(status="dismissed")


@router.options("/v1/in-app/{path:path}", include_in_schema=False)
def preflight() -> Response:
    return Response(status_code=204, headers={
        "Access-Control-Allow-Methods": "GET, POST, OPTIONS", "Access-Control-Allow-Headers": IDENTITY_HEADERS,
        "Access-Control-Max-Age": "86400",
    })


def _browser_lang(request: Request) -> str:
    return language_from_header(request.headers.get("accept-language"))


@router.get("/widget.js", include_in_schema=False)
def widget() -> Response:
    return Response(WIDGET.read_bytes(), media_type="application/javascript; charset=utf-8", headers={"Cache-Control": "public, max-age=300", **CORS})


@router.get("/in-app/demo", include_in_schema=False)
def demo(runtime: RuntimeDep, request: Request, contact: str = "") -> HTMLResponse:
    """A pretend product page showing the widget for ``contact`` (development only: it signs
    any external id, which only the product's own server may do in production)."""
    settings = runtime.settings
    if settings.environment != "development":
        raise ApiError(404, "not_found", "the in-app demo runs only with PULSE_ENVIRONMENT=development")
    lang = _browser_lang(request)
    configured = settings.in_app_publishable_key is not None and settings.in_app_secret is not None
    signature = identity_signature(settings.in_app_secret.get_secret_value(), contact) if configured and contact and settings.in_app_secret else ""
    html = render_page("in_app_demo", lang=lang, contact=contact, configured=configured, key=settings.in_app_publishable_key or "", signature=signature)
    headers = page_headers()
    headers["Content-Security-Policy"] = "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'unsafe-inline'; form-action 'self'; base-uri 'none'"
    return HTMLResponse(html, headers=headers)

