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
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, BackgroundTasks, Form, Header, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from api.deps import RuntimeDep, SessionDep
from api.pages import new_nonce, page_headers, render_page
from api.pages.texts import language_from_header, texts_for
from api.ratelimit import RateLimited, check_rate
from campaigns.people.fields import FieldError
from campaigns.programs.models import Episode
from dispatcher.answers.answering import kick
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

router = APIRouter(tags=["answer pages"], include_in_schema=False)

AcceptLanguage = Annotated[str | None, Header()]
FormText = Annotated[str | None, Form()]
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


def _score(value: str | None, view: SurveyView) -> int | None:
    """A score on the survey's scale, or None."""
    if value is None or not value.strip().lstrip("-").isdigit():
        return None
    score = int(value)
    return score if view.scale.min <= score <= view.scale.max else None


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
    selected = _score(score, view)
    return _answer_form(runtime, episode, view, token, selected=selected if selected is not None else view.current_score)


@router.post("/r/{token}")
def answer(
    token: str, request: Request, runtime: RuntimeDep, session: SessionDep, background: BackgroundTasks, accept_language: AcceptLanguage = None,
    score: FormText = None, comment: FormText = None, ticket: FormText = None, human: FormText = None,
) -> Response:
    """Record the answer once a person confirmed it; 303 to the thank-you page after commit.

    The answer and its outbox row in one transaction (the episode read and locked in one
    statement); the thank-you, alert, task and webhooks follow on a worker (``kick``)."""
    opened = _opened(runtime, request, token, accept_language, lambda now: target_for_link(runtime, session, token, now=now))
    if isinstance(opened, Response):
        return opened
    target, now = opened
    episode = target.episode
    view = view_for(runtime, session, episode, target.campaign, target.contact, current=target.current)
    t = texts_for(view.lang)
    chosen, text = _score(score, view), (comment or "")
    if not view.answerable:
        return _closed(runtime, view)
    if not ticket_accepted(runtime, episode.public_id, ticket=ticket, human=human):
        return _answer_form(runtime, episode, view, token, selected=chosen, comment=text, notice=t["confirm"], status=400)
    if chosen is None:
        return _answer_form(runtime, episode, view, token, selected=None, comment=text, notice=t["no_score"], status=422)
    if len(text) > COMMENT_MAX:
        return _answer_form(runtime, episode, view, token, selected=chosen, comment=text[:COMMENT_MAX], notice=t["too_long"].format(limit=COMMENT_MAX), status=422)
    try:
        answer_by_link(runtime, session, target=target, score=chosen, comment=text, now=now)
    except FieldError:
        session.rollback()
        return _closed(runtime, view)
    session.commit()
    background.add_task(kick, runtime)  # the thank-you, alert, task and webhooks, after the reply
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
