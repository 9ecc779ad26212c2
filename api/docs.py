"""The API docs (/docs, /redoc) with every asset served by Pulse, and the tags in reading order.

FastAPI's own docs pages load Swagger UI from a CDN, so they are blank without
internet. ``fastapi-offline`` ships Swagger UI and ReDoc as package data; we
serve those files ourselves and build the pages with FastAPI's helpers.
"""

from __future__ import annotations

from importlib.resources import files

from fastapi import FastAPI
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS_URL = "/docs-assets"

# The order a reader meets Pulse in: who to ask, what to ask, what comes back,
# what follows, the rules, then the plumbing. Routes tagged otherwise come after.
OPENAPI_TAGS: list[dict[str, str]] = [
    {"name": "contacts", "description": "The people surveys go to: import by CSV or JSON, list, change, erase."},
    {"name": "accounts", "description": "The companies contacts belong to: segment, tier, renewal date and account owner."},
    {"name": "team", "description": "Your CS team: account owners who get detractor alerts and follow-up tasks."},
    {"name": "campaigns", "description": "An NPS, CSAT or CES plan as one object: create, preview who is in and why, launch, watch, pause, close."},
    {"name": "results", "description": "What customers said: the headline with its margin, segments, insights, CSV exports and read-only share links."},
    {"name": "surveys", "description": "Transactional surveys for one contact (a CSAT when a ticket closes), under the same fatigue budget."},
    {"name": "answers", "description": "The in-app prompt API your product calls; email answers arrive on Pulse's own pages, SMS replies on the Twilio webhook."},
    {"name": "templates", "description": "Every message Pulse sends, per channel, kind, step and language: drafts, checks, preview, test-send, publish, history and rollback."},
    {"name": "follow-ups", "description": "One task per answer, assigned to the account owner: open, contacted, resolved."},
    {"name": "fatigue", "description": "The one budget that keeps anybody from being asked too often, and each contact's ledger."},
    {"name": "webhooks", "description": "Provider webhooks (Twilio SMS, SendGrid events) and the webhooks Pulse sends you on every answer."},
    {"name": "keys", "description": "API keys and their roles: admin, ops, marketer, viewer."},
    {"name": "operations", "description": "What is waiting and why (status), and the staging clock."},
    {"name": "health", "description": "Liveness for load balancers and Prometheus metrics."},
]


def install_docs(app: FastAPI) -> None:
    """Serve /docs and /redoc from Pulse's own copy of Swagger UI and ReDoc (create the app with docs_url=None)."""
    assets = files("fastapi_offline") / "static"
    app.mount(ASSETS_URL, StaticFiles(directory=str(assets)), name="docs-assets")
    openapi_url = app.openapi_url or "/openapi.json"
    oauth_redirect = "/docs/oauth2-redirect"

    @app.get("/docs", include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url, title=f"{app.title} — API docs", oauth2_redirect_url=oauth_redirect,
            swagger_js_url=f"{ASSETS_URL}/swagger-ui-bundle.js", swagger_css_url=f"{ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS_URL}/favicon.png",
        )

    @app.get(oauth_redirect, include_in_schema=False)
    def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get("/redoc", include_in_schema=False)
    def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url=openapi_url, title=f"{app.title} — API reference", redoc_js_url=f"{ASSETS_URL}/redoc.standalone.js",
            redoc_favicon_url=f"{ASSETS_URL}/favicon.png", with_google_fonts=False,
        )
