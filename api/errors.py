"""One error shape for every 4xx and 5xx: a machine-readable code, a sentence and the request id.

    {"error": {"code": "invalid_field", "message": "email: not a valid email address",
               "request_id": "5f0c...", "fields": [{"field": "items[3].email", "reason": "..."}]}}

A 500 has the same shape (code ``internal_error``, written by ``api.request_id``), never a trace.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.request_id import request_id_var
from campaigns.paging import BadCursor
from campaigns.people.fields import FieldError
from campaigns.people.service import NotFound
from campaigns.programs.service import StateConflict


class FieldProblem(BaseModel):
    field: str = Field(description="where: `items[3].email`, `cursor`, `contact_id`")
    reason: str


class ErrorDetail(BaseModel):
    code: str = Field(description="machine-readable: invalid_request, invalid_field, not_found, state_conflict, internal_error, ...")
    message: str = Field(description="a sentence a person understands, naming the field or the rule")
    request_id: str | None = Field(default=None, description="the X-Request-ID of the request; quote it to support")
    fields: list[FieldProblem] | None = None


class ErrorBody(BaseModel):
    """The body of every 4xx and 5xx answer."""

    error: ErrorDetail


_MEANING = {
    400: "The body could not be parsed (not JSON, or not the declared content type)",
    401: "No API key, or an unknown or revoked one",
    403: "The key's role may not do this",
    404: "No such object",
    409: "The object's state does not allow this",
    413: "The request body is too large",
    422: "The request is invalid; `fields` names each problem",
    429: "Too many requests; retry after `Retry-After` seconds",
    500: "Something failed on our side; nothing was half-written. The body carries the request id, never a trace",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` entries for the error statuses an operation really answers."""
    return {status: {"model": ErrorBody, "description": _MEANING.get(status, "Error")} for status in statuses}


def document_errors(app: FastAPI) -> None:
    """Every operation's OpenAPI lists the error answers it can give, all in the ``ErrorBody`` shape.

    Routes declare their own particular statuses with ``responses=``; the ones
    every operation shares are added here: 422 (FastAPI documents its own body
    shape, which we replace) and 500 everywhere, 401/403 where a key is needed,
    404 where the path names an object, 413 where there is a body.
    """

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes, tags=app.openapi_tags)
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        for model in (FieldProblem, ErrorDetail, ErrorBody):
            components[model.__name__] = model.model_json_schema(ref_template="#/components/schemas/{model}")
            components[model.__name__].pop("$defs", None)
        components.pop("HTTPValidationError", None)
        components.pop("ValidationError", None)
        for methods in schema.get("paths", {}).values():
            for operation in methods.values():
                statuses = [422, 500]
                if operation.get("security"):
                    statuses += [401, 403]
                if any(p.get("in") == "path" for p in operation.get("parameters", [])):
                    statuses.append(404)
                if "requestBody" in operation:
                    statuses += [400, 413]
                responses = operation.setdefault("responses", {})
                for status in statuses:
                    responses[str(status)] = {
                        "description": _MEANING[status],
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
                    }
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, *, fields: list[dict[str, str]] | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.fields = fields or []
        self.headers = headers


def error_body(code: str, message: str, fields: list[dict[str, str]] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code, "message": message}
    if (request_id := request_id_var.get()) is not None:
        body["request_id"] = request_id
    if fields:
        body["fields"] = fields
    return {"error": body}


def _location(loc: tuple[Any, ...]) -> str:
    parts = [p for p in loc if p not in ("body", "query", "path", "header")]
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or ".".join(map(str, loc))


def _field_error(error: Any) -> dict[str, str]:
    """One of pydantic's errors as {field, reason}, worded for someone fixing the request."""
    loc = tuple(error["loc"])
    if error["type"] == "json_invalid":  # loc is ("body", character offset)
        detail = (error.get("ctx") or {}).get("error", "")
        at = f" at character {loc[-1]}" if len(loc) > 1 and isinstance(loc[-1], int) else ""
        return {"field": "body", "reason": f"not valid JSON{at}: {detail}" if detail else f"not valid JSON{at}"}
    if loc == ("body",) and error["type"] in ("model_attributes_type", "dict_type"):
        return {"field": "body", "reason": f"{error['msg']} (send a JSON object with Content-Type: application/json)"}
    return {"field": _location(loc), "reason": error["msg"]}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(error_body(exc.code, exc.message, exc.fields), status_code=exc.status, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        fields = [_field_error(e) for e in exc.errors()]
        message = "; ".join(f"{f['field']}: {f['reason']}" for f in fields[:5])
        return JSONResponse(error_body("invalid_request", message, fields), status_code=422)

    @app.exception_handler(FieldError)
    async def _field(_: Request, exc: FieldError) -> JSONResponse:
        return JSONResponse(
            error_body("invalid_field", str(exc), [{"field": exc.field, "reason": exc.reason}]), status_code=422
        )

    @app.exception_handler(NotFound)
    async def _not_found(_: Request, exc: NotFound) -> JSONResponse:
        return JSONResponse(error_body("not_found", str(exc)), status_code=404)

    @app.exception_handler(StateConflict)
    async def _conflict(_: Request, exc: StateConflict) -> JSONResponse:
        return JSONResponse(error_body("state_conflict", str(exc)), status_code=409)

    @app.exception_handler(BadCursor)
    async def _cursor(_: Request, exc: BadCursor) -> JSONResponse:
        return JSONResponse(error_body("invalid_cursor", str(exc), [{"field": "cursor", "reason": str(exc)}]), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {400: "invalid_body", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return JSONResponse(error_body(code, str(exc.detail)), status_code=exc.status_code, headers=getattr(exc, "headers", None))
