"""ASGI middleware that counts: provider webhook requests by outcome, the requests in flight."""

from __future__ import annotations

from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dispatcher.runtime.in_flight import RequestsInFlight
from dispatcher.runtime.metrics import WEBHOOK_EVENTS

ENDPOINTS = frozenset({"twilio/sms", "twilio/status", "sendgrid/events"})


class WebhookMetrics:
    """``pulse_webhook_events_total{endpoint, outcome}``: 2xx accepted, anything else rejected."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if not path.startswith("/webhooks/"):
            await self.app(scope, receive, send)
            return
        status: dict[str, Any] = {"code": 500}

        async def remember(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, remember)
        finally:
            endpoint = "/".join(path.strip("/").split("/")[1:3])
            endpoint = endpoint if endpoint in ENDPOINTS else "other"  # a label per unknown path would grow without end
            WEBHOOK_EVENTS.labels(endpoint, "accepted" if 200 <= status["code"] < 300 else "rejected").inc()


class CountInFlight:
    """Keeps ``runtime.requests_in_flight``: each HTTP request from its start until its response
    is sent (its background tasks, such as the kick that runs the embedded worker, not included)."""

    def __init__(self, app: ASGIApp, counter: RequestsInFlight) -> None:
        self.app = app
        self.counter = counter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        counter = self.counter
        counter.enter()
        counting = True

        async def sent(message: Message) -> None:
            nonlocal counting
            if counting and message["type"] == "http.response.body" and not message.get("more_body", False):
                counting = False
                counter.leave()
            await send(message)

        try:
            await self.app(scope, receive, sent)
        finally:
            if counting:
                counter.leave()
