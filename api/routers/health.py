"""GET /healthz: 200 when the database and the broker answer, 503 when one does not.

Anyone (a load balancer) gets only ``ok`` or ``unavailable``; the checks, which
name internal hosts and ports, are shown to a caller with a valid API key.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials
from sqlalchemy.exc import SQLAlchemyError

from api.deps import RuntimeDep, bearer
from campaigns.access.service import verify_key
from dispatcher.runtime.health import run_checks

router = APIRouter(tags=["health"])


@router.get("/healthz", responses={503: {"description": "The database or the broker does not answer"}}, summary="ok or unavailable; with an API key, each check and its detail")
def healthz(runtime: RuntimeDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> JSONResponse:
    checks = run_checks(runtime)
    healthy = all(c.ok for c in checks)
    body: dict[str, object] = {"status": "ok" if healthy else "unavailable"}
    if credentials is not None and _is_staff(runtime, credentials.credentials):
        body["checks"] = {c.name: {"ok": c.ok, "detail": c.detail} for c in checks}
    return JSONResponse(body, status_code=200 if healthy else 503)


def _is_staff(runtime: RuntimeDep, token: str) -> bool:
    try:
        with runtime.sessions() as session:
            return verify_key(session, token) is not None
    except SQLAlchemyError:  # the database is what is down: no details without a verified key
        return False
