"""ASGI middleware that counts provider webhook requests by outcome."""

from __future__ import annotations

from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

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
