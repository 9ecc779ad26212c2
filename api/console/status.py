"""/console/status: the operator's page: workers, what waits and why, what is due, provider errors (as GET /v1/status)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from api.console.render import page
from api.console.security import Operator
from api.deps import RuntimeDep, SessionDep
from dispatcher.runtime.status import operations_status

router = APIRouter(prefix="/console/status", include_in_schema=False)


@router.get("", response_class=HTMLResponse)
def status(request: Request, user: Operator, runtime: RuntimeDep, session: SessionDep) -> Response:
    report = operations_status(runtime, session)
    return page(request, "status.html", user=user, title="Status", active="status", report=report,
                waiting_total=sum(report.queue_by_step.values()))
