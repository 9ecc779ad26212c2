"""The console: the team's web app under ``/console``, server-rendered in the API process.

How a page plugs in (issue 11's template studio and the ops status page do this):

1. **Router.** Write ``api/console/<section>.py`` with
   ``router = APIRouter(prefix="/console/<section>", include_in_schema=False)`` and add the
   module to ``CONSOLE_ROUTERS`` below; ``install_console`` includes every one.
2. **Role check.** Take the member as a parameter typed with one of the aliases of
   ``api.console.security``: ``Viewer`` (admin, ops, viewer), ``Operator`` (admin, ops),
   ``ConsoleAdmin``, ``AnyMember``, or ``Annotated[ConsoleUser, require_console(Role.MARKETER, ...)]``.
   Without a session the visitor is redirected to sign-in and back; a wrong role gets a 403 page.
3. **CSRF.** Every state-changing route (POST) takes its member through a *form* alias instead:
   ``OperatorForm``, ``AdminForm``, ``MemberForm`` or ``form_user(*roles)``. These also refuse the
   request (403) unless it carries the session's token as the form field ``csrf_token`` or the
   header ``X-CSRF-Token`` (for fetch/htmx). Templates put it in every form:
   ``<input type="hidden" name="csrf_token" value="{{ csrf_token }}">``.
4. **Template.** Put ``<section>.html`` in ``api/console/templates/`` starting with
   ``{% extends "base.html" %}`` and filling ``{% block content %}``; render it with
   ``api.console.render.page(request, "<section>.html", user=user, title=..., active="<nav key>", **context)``.
   The navigation lives in ``render.NAV`` (entries "templates" and "status" are already there).
5. **Assets.** CSS and JS go in ``api/console/static/`` (served at ``/console/static/``); no CDN.
   ``console.css`` has the shared components (``.card``, ``table``, ``.badge``, ``button.secondary``,
   ``.notice``/``.error``) and ``console.js`` asks before ``data-confirm`` buttons submit.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from api.console import campaigns, follow_ups, results_pages, sign_in, status, studio
from api.console.render import page
from api.console.security import ConsoleForbidden, CsrfRefused, SignInRequired, sign_in_redirect

STATIC = Path(__file__).parent / "static"

CONSOLE_ROUTERS = (sign_in, campaigns, results_pages, follow_ups, studio, status)


def install_console(app: FastAPI) -> None:
    """Mount the console's pages, its static files and its error pages on ``app``."""
    app.mount("/console/static", StaticFiles(directory=str(STATIC)), name="console-static")
    for module in CONSOLE_ROUTERS:
        app.include_router(module.router)

    @app.get("/", include_in_schema=False)
    def _home() -> RedirectResponse:
        """`pulse run` prints the bare address: opened in a browser, it leads to the console, not a JSON 404."""
        return RedirectResponse("/console", status_code=303)

    @app.exception_handler(SignInRequired)
    async def _sign_in(_: Request, exc: SignInRequired) -> Response:
        return RedirectResponse(sign_in_redirect(exc.next_url), status_code=303)

    @app.exception_handler(ConsoleForbidden)
    async def _forbidden(request: Request, exc: ConsoleForbidden) -> HTMLResponse:
        return page(request, "message.html", user=exc.user, title="Not allowed", status_code=403, tone="error",
                    message=exc.message, back="/console", back_label="Back to the console")

    @app.exception_handler(CsrfRefused)
    async def _csrf(request: Request, _: CsrfRefused) -> HTMLResponse:
        return page(request, "message.html", user=None, title="Form refused", status_code=403, tone="error",
                    message="This form was refused: it did not carry this browser's security token (csrf_token). "
                            "Reload the page and try again.", back="/console", back_label="Back to the console")
