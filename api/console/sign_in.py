"""/console sign-in by emailed link, sign-out, and the admins' list of sessions."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.console.render import page
from api.console.security import (
    SESSION_COOKIE,
    AdminForm,
    ConsoleAdmin,
    MaybeUser,
    MemberForm,
    check_pre_session_token,
    clear_session_cookie,
    pre_session_token,
    safe_next,
    set_session_cookie,
)
from api.deps import RuntimeDep, SessionDep
from api.params import ObjectId
from campaigns.access.console import end_session, live_sessions, open_session, redeem_sign_in_link
from dispatcher.loop.console_mail import email_sign_in_link

router = APIRouter(prefix="/console", include_in_schema=False)


@router.get("", response_class=HTMLResponse)
def start(user: MaybeUser) -> Response:
    if user is None:
        return RedirectResponse("/console/sign-in", status_code=303)
    return RedirectResponse("/console/campaigns" if user.role != "marketer" else "/console/templates", status_code=303)


@router.get("/sign-in", response_class=HTMLResponse)
def sign_in_form(request: Request, runtime: RuntimeDep, user: MaybeUser, next: str = "/console") -> Response:
    if user is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    response = HTMLResponse("")
    token = pre_session_token(request, response, runtime)
    rendered = page(request, "sign_in.html", user=None, title="Sign in", csrf_token=token, sent=False, next=safe_next(next))
    rendered.raw_headers.extend(h for h in response.raw_headers if h[0] == b"set-cookie")
    return rendered


@router.post("/sign-in", response_class=HTMLResponse)
async def request_link(request: Request, runtime: RuntimeDep, email: Annotated[str, Form(max_length=320)]) -> Response:
    await check_pre_session_token(request, runtime)
    email_sign_in_link(runtime, email=email)
    # The same answer whether or not the address is a member's: nobody learns who is on the team.
    return page(request, "sign_in.html", user=None, title="Check your email", sent=True, email=email,
                minutes=runtime.settings.console_link_minutes, next="/console")


@router.get("/sign-in/{secret}", response_class=HTMLResponse)
def confirm_sign_in(secret: str, request: Request, runtime: RuntimeDep, next: str = "/console") -> Response:
    # A GET only shows a button: mail scanners open links, and must not spend the one use.
    response = HTMLResponse("")
    token = pre_session_token(request, response, runtime)
    rendered = page(request, "sign_in_confirm.html", user=None, title="Sign in", csrf_token=token, secret=secret, next=safe_next(next))
    rendered.raw_headers.extend(h for h in response.raw_headers if h[0] == b"set-cookie")
    return rendered


@router.post("/sign-in/{secret}", response_class=HTMLResponse)
async def finish_sign_in(
    secret: str, request: Request, runtime: RuntimeDep, session: SessionDep, next: Annotated[str, Form()] = "/console",
) -> Response:
    await check_pre_session_token(request, runtime)
    now = runtime.clock.now()
    member = redeem_sign_in_link(session, secret=secret, now=now)
    if member is None:
        session.rollback()
        return page(request, "message.html", user=None, title="This link does not work", status_code=400, tone="error",
                    message="This sign-in link is unknown, expired or already used. Ask for a new one.",
                    back="/console/sign-in", back_label="Email me a new link")
    cookie = open_session(session, member=member, user_agent=request.headers.get("user-agent"), now=now,
                          ttl=timedelta(hours=runtime.settings.console_session_hours))
    session.commit()
    response = RedirectResponse(safe_next(next), status_code=303)
    set_session_cookie(response, runtime, cookie)
    return response


@router.post("/sign-out")
def sign_out(user: MemberForm, runtime: RuntimeDep, session: SessionDep) -> Response:
    end_session(session, session_id=user.signed_in.session.id, now=runtime.clock.now())
    session.commit()
    response = RedirectResponse("/console/sign-in?signed_out=1", status_code=303)
    clear_session_cookie(response, runtime)
    return response


@router.get("/sessions", response_class=HTMLResponse)
def sessions(request: Request, user: ConsoleAdmin, runtime: RuntimeDep, session: SessionDep) -> Response:
    rows = live_sessions(session, now=runtime.clock.now())
    return page(request, "sessions.html", user=user, title="Sessions", active="sessions", sessions=rows,
                current_id=user.signed_in.session.id)


@router.post("/sessions/{session_id}/revoke")
def revoke(session_id: ObjectId, user: AdminForm, runtime: RuntimeDep, session: SessionDep) -> Response:
    end_session(session, session_id=session_id, now=runtime.clock.now())
    session.commit()
    return RedirectResponse("/console/sessions?done=Session+revoked", status_code=303)


__all__ = ["SESSION_COOKIE", "router"]
