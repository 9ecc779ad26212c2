"""The FastAPI application. ``create_app`` builds it from settings; nothing happens at import."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api.console import install_console
from api.docs import OPENAPI_TAGS, install_docs
from api.edge import EdgeGuard
from api.errors import document_errors, install_error_handlers
from api.limits import BodySizeLimit
from api.observability import CountInFlight, WebhookMetrics
from api.request_id import RequestIdMiddleware, request_id_var
from api.routers import (
    accounts,
    answer_pages,
    campaigns,
    clock,
    contacts,
    fatigue,
    follow_ups,
    health,
    in_app,
    keys,
    outbox,
    results,
    status,
    surveys,
    team,
    templates,
    webhook_subscriptions,
    webhooks,
)
from dispatcher.runtime.core import Runtime, build_runtime
from dispatcher.runtime.inprocess import InProcessWorker
from dispatcher.runtime.logs import add_context_source
from dispatcher.runtime.queues import attach_queue
from dispatcher.runtime.settings import Settings, load_settings


def create_app(settings: Settings | None = None, *, runtime: Runtime | None = None, start_worker: bool | None = None) -> FastAPI:
    """The app; with the in-process worker (``PULSE_WORKER=inprocess``) it also runs the scheduler."""
    settings = settings or (runtime.settings if runtime else load_settings())
    runtime = runtime or build_runtime(settings)
    if runtime.queue is None:
        attach_queue(runtime)
    if start_worker is None:
        start_worker = settings.worker == "inprocess"

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        worker = InProcessWorker(runtime) if start_worker else None
        if worker:
            worker.start()
        _load_published_templates(runtime)
        yield
        if worker:
            worker.stop()
        runtime.close()

    app = FastAPI(
        title="Pulse",
        version="0.1.0",
        description="Multichannel survey dispatch: NPS, CSAT and CES over email, SMS and in-app.",
        lifespan=lifespan,
        openapi_tags=OPENAPI_TAGS,
        docs_url=None,  # served by install_docs from Pulse's own copy of Swagger UI
        redoc_url=None,
    )
    app.state.runtime = runtime
    runtime.extras["serves_api"] = True  # status: a worker thread, if any, is this process's own
    install_error_handlers(app)
    install_docs(app)
    add_context_source(_request_context)
    app.add_middleware(EdgeGuard)
    app.add_middleware(BodySizeLimit)  # outside the guard: an oversized body is refused before it is read
    app.add_middleware(WebhookMetrics)
    app.add_middleware(RequestIdMiddleware)  # every answer, 413 and 500 included, carries the id
    app.add_middleware(CountInFlight, counter=runtime.requests_in_flight)  # outermost: the embedded worker gives way to requests
    # Routes are matched in the order included, and matching walks every route before the
    # one that fits: the public answer endpoints (links, provider webhooks, in-app), which take
    # the load, come first. No two routers share a path, so the order changes nothing else.
    for module in (answer_pages, webhooks, in_app, fatigue, outbox, health, contacts, accounts, team, keys, campaigns, results, surveys, follow_ups, templates, webhook_subscriptions, clock, status):
        app.include_router(module.router)
    install_console(app)
    document_errors(app)
    return app


def _request_context() -> dict[str, str | None]:
    """The current request's id, for every log line written while it runs."""
    return {"request_id": request_id_var.get()}


def _load_published_templates(runtime: Runtime) -> None:
    """Load the published template edits before the first request: only that first load
    makes requests wait, and a burst of them must not all queue behind it for a connection."""
    try:
        runtime.published_templates.snapshot()
    except Exception:  # a database not reachable yet: the first request loads them
        logging.getLogger("pulse.api").warning("published template edits not loaded at start; the first render loads them", exc_info=True)
