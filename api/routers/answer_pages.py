"""The pages behind the links in survey emails: answer (/r/{token}) and unsubscribe (/u/{token}).

GET and HEAD only ever show a page; only a POST records (mail scanners fetch
every link, and some submit forms: see ``dispatcher.answers.links`` for the form ticket).
An answer is acknowledged (303 to the thank-you page) only after it is
committed. An expired, tampered or unknown token gets one page with 404,
byte for byte the same in each case. Every page says ``Referrer-Policy: no-referrer``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, NamedTuple, TypeVar

from fastapi import APIRouter, BackgroundTasks, Depends, Form, Header, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.deps import RuntimeDep, SessionDep
from api.pages import new_nonce, page_headers, render_page
from api.pages.texts import language_from_header, texts_for
from api.ratelimit import RateLimited, check_rate
from campaigns.people.fields import FieldError
from campaigns.programs.answers import ANSWERABLE_BEFORE
from campaigns.programs.models import Episode
from dispatcher.answers.answering import kick_from_loop
from dispatcher.answers.links import (
    COMMENT_MAX,
    MIN_DWELL,
    SurveyView,
    answer_by_link,
    episode_for_link,
    form_ticket,
    human_proof,
    link_unsubscribed,
    survey_view,
    target_for_link,
    ticket_accepted,
    unsubscribe_by_link,
    view_for,
)
from dispatcher.answers.tokens import BadToken
from dispatcher.runtime.core import Runtime
from templates import Scale, default_scale

router = APIRouter(tags=["answer pages"], include_in_schema=False)

AcceptLanguage = Annotated[str | None, Header()]
T = TypeVar("T")


def _page(html: str, status: int = 200, nonce: str | None = None, headers: dict[str, str] | None = None) -> HTMLResponse:
    return HTMLResponse(html, status_code=status, headers={**page_headers(nonce), **(headers or {})})


def _notice(lang: str, title: str, paragraphs: list[str], *, status: int, company: str = "", link: tuple[str, str] | None = None, headers: dict[str, str] | None = None) -> HTMLResponse:
    html = render_page("notice", lang=lang, title=title, paragraphs=paragraphs, company=company,
                       link_url=link[0] if link else "", link_text=link[1] if link else "")
    return _page(html, status, headers=headers)


def _invalid_link(runtime: Runtime, accept_language: str | None) -> HTMLResponse:
    """The one page for every bad token: nothing in it depends on why."""
    lang = language_from_header(accept_language)
    t = texts_for(lang)
    return _notice(lang, t["invalid_title"], [t["invalid_body"].format(support=runtime.settings.support_contact)], status=404)


def _busy(accept_language: str | None, limited: RateLimited) -> HTMLResponse:
    lang = language_from_header(accept_language)
    t = texts_for(lang)
    return _notice(lang, t["busy_title"], [t["busy_body"]], status=429, headers={"Retry-After": str(limited.retry_after)})


def _closed(runtime: Runtime, view: SurveyView) -> HTMLResponse:
    t = texts_for(view.lang)
    return _notice(view.lang, t["closed_title"], [t["closed_body"].format(support=runtime.settings.support_contact)], status=410, company=view.company_name)


def _answer_form(runtime: Runtime, episode: Episode, view: SurveyView, token: str, *, selected: int | None, comment: str = "", notice: str = "", status: int = 200) -> HTMLResponse:
    nonce = new_nonce()
    ticket = form_ticket(runtime, episode.public_id)
    html = render_page(
        "answer", lang=view.lang, nonce=nonce, view=view, action=token, selected=selected, comment=comment, notice=notice,
        ticket=ticket, proof=human_proof(runtime, ticket), dwell_ms=int(MIN_DWELL.total_seconds() * 1000) + 300, comment_max=COMMENT_MAX,
    )
    return _page(html, status, nonce)


def _open_link(runtime: Runtime, session: Session, request: Request, token: str, *, purpose: str, accept_language: str | None, lock: bool = False) -> tuple[Episode, datetime] | Response:
    """The link's episode and the time, or the page to answer with (429, or 404 for any bad token)."""
    return _opened(runtime, request, token, accept_language, lambda now: episode_for_link(runtime, session, token, purpose=purpose, now=now, lock=lock))


def _opened(runtime: Runtime, request: Request, token: str, accept_language: str | None, read: Callable[[datetime], T]) -> tuple[T, datetime] | Response:
    """What ``read`` finds for the token at this time, or the page to answer with (429, or 404 for any bad token)."""
    now = runtime.clock.now()  # before the session takes a connection: one per request at a time
    try:
        check_rate(runtime, request, token=token)
        return read(now), now
    except RateLimited as limited:
        return _busy(accept_language, limited)
    except BadToken:
        return _invalid_link(runtime, accept_language)


def _score(value: str | None, scale: Scale) -> int | None:
    """A score on the survey's scale, or None (for "²" and thousand-digit runs too, which
    ``str.isdigit`` passes and ``int`` refuses)."""
    text = (value or "").strip()
    if not text.isascii() or not text.lstrip("-").isdigit() or len(text) > 4:
        return None
    score = int(text)
    return score if scale.min <= score <= scale.max else None


@router.api_route("/r/{token}", methods=["GET", "HEAD"])
def answer_page(token: str, request: Request, runtime: RuntimeDep, session: SessionDep, accept_language: AcceptLanguage = None, score: str | None = None) -> Response:
    """The answer form with ``score`` preselected. Records nothing."""
    opened = _open_link(runtime, session, request, token, purpose="answer", accept_language=accept_language)
    if isinstance(opened, Response):
        return opened
    episode, _ = opened
    view = survey_view(runtime, session, episode)
    if not view.answerable:
        return _closed(runtime, view)
    selected = _score(score, view.scale)
    return _answer_form(runtime, episode, view, token, selected=selected if selected is not None else view.current_score)


class AnswerForm(NamedTuple):
    score: str | None
    comment: str | None
    ticket: str | None
    human: str | None


_ANSWER_FIELDS = AnswerForm._fields


async def answer_form(request: Request) -> AnswerForm:
    """The answer form's four fields, as four ``Form()`` parameters would give them (the same
    parser; a repeated field's last value; an empty one is None; a file where text belongs is
    422, a body that does not parse 400) without FastAPI's validation per field, which cost
    about a tenth of a link answer's CPU. NUL characters are dropped, as from an SMS reply:
    no text column stores them, and no person types one."""
    try:
        form = await request.form()
    except StarletteHTTPException:  # the parser's own 400s ("Missing boundary in multipart.", too many fields) as they are
        raise
    except Exception as error:
        raise HTTPException(status_code=400, detail="There was an error parsing the body") from error
    try:
        values = [form.get(name) for name in _ANSWER_FIELDS]
        wrong = [{"type": "string_type", "loc": ("body", name), "msg": "Input should be a valid string", "input": value}
                 for name, value in zip(_ANSWER_FIELDS, values) if value is not None and not isinstance(value, str)]
    finally:
        await form.close()
    if wrong:
        raise RequestValidationError(wrong)
    return AnswerForm(*(value.replace("\x00", "") or None if isinstance(value, str) else None for value in values))  # "": as a default


@router.post("/r/{token}")
def answer(
    token: str, request: Request, runtime: RuntimeDep, form: Annotated[AnswerForm, Depends(answer_form)], background: BackgroundTasks,
) -> Response:
    """Record the answer once a person confirmed it; 303 to the thank-you page after commit.

    The answer and its outbox row in one transaction (the episode read and locked in one
    statement); the thank-you, alert, task and webhooks follow on a worker (``kick_from_loop``,
    after the reply). The session is the route's own, not a dependency's: a sync dependency
    with ``yield`` costs two more hops to the thread pool per request. ``Accept-Language`` is
    read as a ``Header()`` parameter would read it (the first), without its validation."""
    with runtime.sessions() as session:
        return _answer(token, request, runtime, session, background, request.headers.get("accept-language"), form)


def _answer(token: str, request: Request, runtime: Runtime, session: Session, background: BackgroundTasks, accept_language: str | None, form: AnswerForm) -> Response:
    opened = _opened(runtime, request, token, accept_language, lambda now: target_for_link(runtime, session, token, now=now))
    if isinstance(opened, Response):
        return opened
    target, now = opened
    episode = target.episode

    def view() -> SurveyView:  # the texts only a page shows: not built for an answer that is recorded
        return view_for(runtime, session, episode, target.campaign, target.contact, current=target.current)

    scale = default_scale(target.campaign.kind, target.contact.locale)  # the view's scale
    chosen, text = _score(form.score, scale), (form.comment or "")
    if episode.state not in ANSWERABLE_BEFORE:  # the view's ``answerable``
        return _closed(runtime, view())
    if not ticket_accepted(runtime, episode.public_id, ticket=form.ticket, human=form.human):
        shown = view()
        return _answer_form(runtime, episode, shown, token, selected=chosen, comment=text, notice=texts_for(shown.lang)["confirm"], status=400)
    if chosen is None:
        shown = view()
        return _answer_form(runtime, episode, shown, token, selected=None, comment=text, notice=texts_for(shown.lang)["no_score"], status=422)
    if len(text) > COMMENT_MAX:
        shown = view()
        return _answer_form(runtime, episode, shown, token, selected=chosen, comment=text[:COMMENT_MAX],
                            notice=texts_for(shown.lang)["too_long"].format(limit=COMMENT_MAX), status=422)
    try:
        answer_by_link(runtime, session, target=target, score=chosen, comment=text, now=now)
    except FieldError:  # raised before anything is written: the view reads the rows as they were
        closed = _closed(runtime, view())
        session.rollback()
        return closed
    session.commit()
    background.add_task(kick_from_loop, runtime)  # the thank-you, alert, task and webhooks, after the reply
    return RedirectResponse(f"{token}/thanks", status_code=303, headers=page_headers())


@router.api_route("/r/{token}/thanks", methods=["GET", "HEAD"])
def thanks(token: str, request: Request, runtime: RuntimeDep, session: SessionDep, accept_language: AcceptLanguage = None) -> Response:
    opened = _open_link(runtime, session, request, token, purpose="answer", accept_language=accept_language)
    if isinstance(opened, Response):
        return opened
    episode, _ = opened
    view = survey_view(runtime, session, episode)
    if view.current_score is None:
        return _answer_form(runtime, episode, view, token, selected=None) if view.answerable else _closed(runtime, view)
    t = texts_for(view.lang)
    paragraphs = [t["thanks_body"].format(score=view.current_score)]
    link = (f"../{token}", t["change"]) if view.answerable else None
    return _notice(view.lang, t["thanks_title"], paragraphs, status=200, company=view.company_name, link=link)


@router.api_route("/u/{token}", methods=["GET", "HEAD"])
def unsubscribe_page(token: str, request: Request, runtime: RuntimeDep, session: SessionDep, accept_language: AcceptLanguage = None) -> Response:
    """The confirm page behind the footer link. Records nothing."""
    opened = _open_link(runtime, session, request, token, purpose="unsubscribe", accept_language=accept_language)
    if isinstance(opened, Response):
        return opened
    episode, _ = opened
    view = survey_view(runtime, session, episode)
    if link_unsubscribed(session, episode=episode):  # opened again later: say so, offer no button
        return _unsubscribed(runtime, view)
    return _page(render_page("unsubscribe", lang=view.lang, company=view.company_name, action=token))


@router.post("/u/{token}")
def unsubscribe(
    token: str, request: Request, runtime: RuntimeDep, session: SessionDep, accept_language: AcceptLanguage = None,
    one_click: Annotated[str | None, Form(alias="List-Unsubscribe")] = None,
) -> Response:
    """RFC 8058 one-click (``List-Unsubscribe=One-Click``) and the confirm page's button:
    no cookie or key needed, 200 without a redirect, the same answer when repeated."""
    opened = _open_link(runtime, session, request, token, purpose="unsubscribe", accept_language=accept_language, lock=True)
    if isinstance(opened, Response):
        return opened
    episode, now = opened
    source = "list-unsubscribe one-click" if one_click == "One-Click" else "unsubscribe page"
    unsubscribe_by_link(runtime, session, episode=episode, source=f"{source} (episode {episode.public_id})", now=now)
    session.commit()
    return _unsubscribed(runtime, survey_view(runtime, session, episode))


def _unsubscribed(runtime: RuntimeDep, view: Any) -> Response:
    t = texts_for(view.lang)
    body = t["unsubscribed_body"].format(company=view.company_name, support=runtime.settings.support_contact)
    return _notice(view.lang, t["unsubscribed_title"], [body], status=200, company=view.company_name)
