"""A request id for every request: the caller's ``X-Request-ID`` when sane, else a new one.

The id is echoed in the ``X-Request-ID`` response header and kept in the
contextvar ``request_id_var`` for the duration of the request, so error bodies
and log lines name it and an operator can find one request's trail.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from contextvars import ContextVar

from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("pulse.api")

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)

HEADER = b"x-request-id"
# A caller's id is kept only when it cannot smuggle anything into logs or headers.
_SAFE = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def current_request_id() -> str | None:
    """The id of the request being served in this context, if any."""
    return request_id_var.get()


def _from_caller(scope: Scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == HEADER:
            text = value.decode("latin-1")
            return text if _SAFE.fullmatch(text) else None
    return None


class RequestIdMiddleware:
    """Pure ASGI (no BaseHTTPMiddleware), so the contextvar is visible to the route and its handlers."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _from_caller(scope) or uuid.uuid4().hex
        token = request_id_var.set(request_id)

        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != HEADER]
                message = {**message, "headers": [*headers, (HEADER, request_id.encode())]}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            # The trace goes to the log under the request id; the caller gets the id and a sentence.
            log.exception("unhandled error in %s %s (request %s)", scope.get("method"), scope.get("path"), request_id)
            if started:
                raise
            await _internal_error(send_with_id, request_id)
        finally:
            request_id_var.reset(token)


async def _internal_error(send: Send, request_id: str) -> None:
    body = {"error": {
        "code": "internal_error", "request_id": request_id,
        "message": f"something went wrong on our side; nothing was half-written. Quote request id {request_id} to support",
    }}
    payload = json.dumps(body).encode()
    await send({"type": "http.response.start", "status": 500, "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]})
    await send({"type": "http.response.body", "body": payload})
