"""Request body size limits, enforced before and while the body is read.

A declared ``Content-Length`` over the limit is refused at once; a chunked body
is counted as it arrives and refused the moment it passes the limit, so an
oversized upload never reaches the parser or the database.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import error_body

UPLOAD_LIMIT = 1 << 30  # CSV imports: a million rows fit well within 1 GiB
JSON_LIMIT = 32 << 20  # 10,000 contacts with attributes fit within 32 MiB


def _limit_for(path: str) -> int:
    return UPLOAD_LIMIT if path.endswith("/import") else JSON_LIMIT


class BodySizeLimit:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = _limit_for(scope["path"])
        declared = dict(scope["headers"]).get(b"content-length")
        # Past 12 digits it is over any limit, and past 4,300 int() refuses to read it.
        if declared is not None and declared.isdigit() and (len(declared) > 12 or int(declared) > limit):
            await _refuse(send, limit)
            return
        received = 0
        refused = False

        async def counting_receive() -> Message:
            # Past the limit, answer 413 ourselves and tell the app the client left,
            # so it stops reading; whatever it tries to answer afterwards is dropped.
            nonlocal received, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    refused = True
                    await _refuse(send, limit)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            if not refused:
                await send(message)

        await self.app(scope, counting_receive, guarded_send)


async def _refuse(send: Send, limit: int) -> None:
    body: dict[str, Any] = error_body("body_too_large", f"the request body is larger than {limit >> 20} MiB; split it into smaller requests")
    payload = json.dumps(body).encode()
    await send({"type": "http.response.start", "status": 413, "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]})
    await send({"type": "http.response.body", "body": payload})
