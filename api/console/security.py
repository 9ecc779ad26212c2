"""Who is signed in to the console, what their role lets them do, and CSRF tokens.

The session cookie holds a random secret (the database keeps its hash); it is
HttpOnly, SameSite=Lax (a link from an email still arrives signed in, a form
posted from another site does not) and Secure when Pulse is served over HTTPS.
Every form carries ``csrf_token``: an HMAC of the session secret (or, before
sign-in, of a random pre-session cookie) under the settings' secret key.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request, Response

from api.deps import RuntimeDep, SessionDep
from campaigns.access.console import SignedIn, signed_in
from campaigns.access.models import Role
from dispatcher.answers.tokens import signatures_match
from dispatcher.runtime.core import Runtime

SESSION_COOKIE = "pulse_console"
PRE_SESSION_COOKIE = "pulse_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"

ALL_ROLES = tuple(Role)
READ_ROLES = (Role.ADMIN, Role.OPS, Role.VIEWER)
WRITE_ROLES = (Role.ADMIN, Role.OPS)


class SignInRequired(Exception):
    """No live session: the handler redirects to the sign-in page, then back to ``next_url``."""

    def __init__(self, next_url: str) -> None:
        super().__init__(next_url)
        self.next_url = next_url


class ConsoleForbidden(Exception):
    """Signed in, but the member's role may not open this page or press this button."""

    def __init__(self, user: ConsoleUser, message: str) -> None:
        super().__init__(message)
        self.user = user
        self.message = message


class CsrfRefused(Exception):
    """A form arrived without the token this browser was given: refused, nothing changed."""


def csrf_for(runtime: Runtime, browser_secret: str) -> str:
    key = runtime.settings.secret_key.get_secret_value().encode()
    return hmac.new(key, f"console-csrf:{browser_secret}".encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class ConsoleUser:
    """The signed-in team member of this request, with the CSRF token their forms carry."""

    signed_in: SignedIn
    csrf_token: str

    @property
    def role(self) -> str:
        return self.signed_in.role

    @property
    def email(self) -> str:
        return self.signed_in.member.email

    @property
    def name(self) -> str:
        return self.signed_in.member.name

    def may(self, *roles: Role) -> bool:
        return self.role in {r.value for r in roles}


def current_user(request: Request, runtime: RuntimeDep, session: SessionDep) -> ConsoleUser | None:
    """The signed-in member, or None (no cookie, or a revoked or expired session)."""
    secret = request.cookies.get(SESSION_COOKIE)
    if not secret:
        return None
    found = signed_in(session, secret=secret, now=runtime.clock.now())
    return ConsoleUser(signed_in=found, csrf_token=csrf_for(runtime, secret)) if found else None


MaybeUser = Annotated["ConsoleUser | None", Depends(current_user)]


def _here(request: Request) -> str:
    path = request.url.path
    return path + (f"?{request.url.query}" if request.url.query else "")


def require_console(*roles: Role) -> Any:
    """A dependency for console pages: signed in (else a redirect to sign-in) with one of ``roles``."""
    allowed = roles or ALL_ROLES

    def check(request: Request, user: MaybeUser) -> ConsoleUser:
        if user is None:
            raise SignInRequired(_here(request))
        if not user.may(*allowed):
            names = ", ".join(sorted(r.value for r in allowed))
            raise ConsoleForbidden(user, f"Your role ({user.role}) may not do this; it needs one of: {names}.")
        return user

    return Depends(check)


Viewer = Annotated[ConsoleUser, require_console(*READ_ROLES)]
Operator = Annotated[ConsoleUser, require_console(*WRITE_ROLES)]
ConsoleAdmin = Annotated[ConsoleUser, require_console(Role.ADMIN)]
AnyMember = Annotated[ConsoleUser, require_console()]


async def _submitted_token(request: Request) -> str:
    header = request.headers.get(CSRF_HEADER)
    if header:
        return header
    form = await request.form()  # Starlette caches it: the route's Form() fields still read it
    value = form.get(CSRF_FIELD)
    return value if isinstance(value, str) else ""


def form_user(*roles: Role) -> Any:
    """Like ``require_console``, and the request must also carry the session's CSRF token
    (form field ``csrf_token`` or header ``X-CSRF-Token``)."""
    role_check = require_console(*roles)

    # A default, not Annotated: this module's annotations are strings and cannot name a local.
    async def check(request: Request, user: ConsoleUser = role_check) -> ConsoleUser:
        if not signatures_match(await _submitted_token(request), user.csrf_token):
            raise CsrfRefused()
        return user

    return Depends(check)


OperatorForm = Annotated[ConsoleUser, form_user(*WRITE_ROLES)]
AdminForm = Annotated[ConsoleUser, form_user(Role.ADMIN)]
MemberForm = Annotated[ConsoleUser, form_user(*ALL_ROLES)]


def pre_session_token(request: Request, response: Response, runtime: Runtime) -> str:
    """The CSRF token for forms shown before sign-in, setting the pre-session cookie if needed."""
    secret = request.cookies.get(PRE_SESSION_COOKIE)
    if not secret:
        secret = secrets.token_urlsafe(24)
        response.set_cookie(PRE_SESSION_COOKIE, secret, httponly=True, samesite="strict", secure=is_https(runtime), path="/console")
    return csrf_for(runtime, secret)


async def check_pre_session_token(request: Request, runtime: Runtime) -> None:
    secret = request.cookies.get(PRE_SESSION_COOKIE) or ""
    if not secret or not signatures_match(await _submitted_token(request), csrf_for(runtime, secret)):
        raise CsrfRefused()


def is_https(runtime: Runtime) -> bool:
    return runtime.settings.public_url.startswith("https://")


def set_session_cookie(response: Response, runtime: Runtime, secret: str) -> None:
    max_age = runtime.settings.console_session_hours * 3600
    response.set_cookie(SESSION_COOKIE, secret, max_age=max_age, httponly=True, samesite="lax", secure=is_https(runtime), path="/")


def clear_session_cookie(response: Response, runtime: Runtime) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=is_https(runtime))


def sign_in_redirect(next_url: str) -> str:
    return f"/console/sign-in?next={quote(next_url, safe='')}"


def safe_next(next_url: str | None) -> str:
    """Only paths of the console (and the staff outbox pages); anything else (another host, //evil) goes to the console's start."""
    if next_url and next_url.startswith(("/console", "/outbox")) and not next_url.startswith("//"):
        return next_url
    return "/console"
