"""GET /healthz: 200 when the database and the broker answer, 503 naming what does not."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.deps import RuntimeDep
from dispatcher.health import run_checks

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz(runtime: RuntimeDep) -> JSONResponse:
    checks = run_checks(runtime)
    healthy = all(c.ok for c in checks)
    body = {"status": "ok" if healthy else "unavailable", "checks": {c.name: {"ok": c.ok, "detail": c.detail} for c in checks}}
    return JSONResponse(body, status_code=200 if healthy else 503)
