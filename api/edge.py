"""Input every operation refuses before any route sees it.

Whatever a route's schema says, a value the database cannot store makes no
sense anywhere: NUL characters and lone surrogates (PostgreSQL text and UTF-8
refuse them), ``NaN`` and infinities (JSON columns refuse them), integers
beyond the 64-bit range of a BIGINT column and documents nested deeper than
any Pulse body (a parser or validator recursing through a thousand levels
runs out of stack). They are refused here, in JSON bodies, query strings and
paths, and NUL in urlencoded forms (the console's), with a 422 naming the
field, so no operation answers 500 for them and nothing is half-written.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any
from urllib.parse import parse_qsl, unquote, unquote_plus

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import error_body
from campaigns.db import DB_INT_MAX

DB_INT_MIN = -DB_INT_MAX - 1
# Signed provider batches are judged event by event (one bad event must not
# refuse the batch, or the provider posts it again forever): not here.
PROVIDER_WEBHOOKS = "/webhooks/"
# A person's answer form: the route drops a NUL itself (as from an SMS reply) rather than
# answer a page with JSON; and the link answers are the load, not worth a second parse.
ANSWER_LINKS = "/r/"
_BAD_TEXT = re.compile("[\x00\ud800-\udfff]")
_FORM_NUL = re.compile(rb"\x00|%00")
# A Pulse body nests 6 levels at most (exclusions.custom[0].filter.attributes.x[0]);
# Python's JSON parser and pydantic give up, out of stack, near 1,000.
MAX_DEPTH = 32


class EdgeRefusal(ValueError):
    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def check_text(value: str, field: str) -> None:
    """Refuse NUL characters and lone surrogates."""
    if (bad := _BAD_TEXT.search(value)) is not None:
        what = "a NUL character" if bad.group() == "\x00" else "a lone surrogate (not valid Unicode)"
        raise EdgeRefusal(field, f"contains {what}")


def check_json(value: Any, field: str = "body", depth: int = 0) -> None:
    """Walk a parsed JSON document; raise ``EdgeRefusal`` naming the first value no column could hold."""
    if depth > MAX_DEPTH:
        raise EdgeRefusal(field, f"is nested more than {MAX_DEPTH} levels deep")
    if isinstance(value, str):
        check_text(value, field)
    elif isinstance(value, bool) or value is None:
        return
    elif isinstance(value, int):
        if not DB_INT_MIN <= value <= DB_INT_MAX:
            raise EdgeRefusal(field, "is beyond the 64-bit integer range")
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise EdgeRefusal(field, "must be a finite number")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            check_json(item, f"{field}[{index}]", depth + 1)
    elif isinstance(value, dict):
        for key, item in value.items():
            check_text(key, f"{field} (a key)")
            check_json(item, f"{field}.{key}" if field != "body" else key, depth + 1)


def _check_query_and_path(scope: Scope) -> None:
    raw_path = scope.get("raw_path") or scope["path"].encode()
    try:
        path = unquote(raw_path.decode("ascii", "strict"), errors="strict")
    except UnicodeError:
        raise EdgeRefusal("path", "is not valid UTF-8") from None
    check_text(path, "path")
    query = scope.get("query_string", b"")
    if not query:
        return
    try:
        pairs = parse_qsl(query.decode("ascii", "strict"), keep_blank_values=True, errors="strict")
    except UnicodeError:
        raise EdgeRefusal("query", "is not valid UTF-8") from None
    for name, value in pairs:
        check_text(name, "query")
        check_text(value, name)


def check_form(body: bytes) -> None:
    """Raise ``EdgeRefusal`` naming the first field of a urlencoded form with a NUL in it.

    Starlette reads the bytes as Latin-1 and the escapes as UTF-8 with replacement, so
    no lone surrogate survives and a NUL comes only from a raw 0 byte or ``%00``: one
    search, and only around a hit a field is parsed (32 MiB of empty fields would be
    millions of pairs).
    """
    if (found := _FORM_NUL.search(body)) is None:
        return
    start = body.rfind(b"&", 0, found.start()) + 1
    end = body.find(b"&", found.end())
    name = unquote_plus(body[start : end if end >= 0 else len(body)].partition(b"=")[0].decode("latin-1"))
    raise EdgeRefusal(name if name and "\x00" not in name else "form", "contains a NUL character")


def _body_kind(scope: Scope) -> str | None:
    """"json" where FastAPI will parse the body as JSON (``application/json`` or any
    ``application/*+json``), "form" for a urlencoded form, else None (not checked here)."""
    if scope["path"].startswith(PROVIDER_WEBHOOKS):
        return None
    for name, value in scope.get("headers", []):
        if name == b"content-type":
            media_type = value.split(b";")[0].strip().lower()
            main, _, sub = media_type.partition(b"/")
            if main == b"application" and (sub == b"json" or sub.endswith(b"+json")):
                return "json"
            if media_type == b"application/x-www-form-urlencoded" and not scope["path"].startswith(ANSWER_LINKS):
                return "form"
            return None
    return None


class EdgeGuard:
    """Pure ASGI: reads a JSON or form body once, checks it, and hands the same bytes on."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            _check_query_and_path(scope)
        except EdgeRefusal as refusal:
            await _refuse(send, refusal)
            return
        kind = _body_kind(scope)
        if kind is None:
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, _replay([message]), send)
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        try:
            if kind == "json":
                check_json(_parsed(body))
            else:
                check_form(body)
        except EdgeRefusal as refusal:
            await _refuse(send, refusal)
            return
        await self.app(scope, _replay([{"type": "http.request", "body": body, "more_body": False}], receive), send)


def _parsed(body: bytes) -> Any:
    """The JSON document, or None for a body that does not parse (the route's 400 to give).

    NaN and Infinity parse here and are refused by ``check_json``, by field; an integer too long
    for Python to read (over 4,300 digits) is refused here, as no field could hold it either."""
    try:
        return json.loads(body)
    except RecursionError:
        raise EdgeRefusal("body", f"is nested more than {MAX_DEPTH} levels deep") from None
    except ValueError as error:
        if "integer string conversion" in str(error):
            raise EdgeRefusal("body", "holds a number beyond the 64-bit integer range") from None
        return None


def _replay(messages: list[Message], then: Receive | None = None) -> Receive:
    pending = list(messages)

    async def receive() -> Message:
        if pending:
            return pending.pop(0)
        if then is not None:
            return await then()
        return {"type": "http.disconnect"}

    return receive


async def _refuse(send: Send, refusal: EdgeRefusal) -> None:
    payload = json.dumps(error_body("invalid_request", str(refusal), [{"field": refusal.field, "reason": refusal.reason}])).encode()
    await send({"type": "http.response.start", "status": 422, "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]})
    await send({"type": "http.response.body", "body": payload})
