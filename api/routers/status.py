"""Operations: GET /v1/status (what waits and why) and GET /metrics (Prometheus)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from api.deps import Reader, RuntimeDep, SessionDep
from dispatcher.runtime import metrics
from dispatcher.runtime.status import operations_status

router = APIRouter(tags=["operations"])


@router.get("/v1/status", summary="Workers alive, queue depth, the oldest waiting message and why, steps due in 24 h, provider errors in the last hour")
def status(runtime: RuntimeDep, session: SessionDep, _: Reader) -> dict[str, Any]:
    return operations_status(runtime, session).as_dict()


@router.get(
    "/metrics", tags=["health"], summary="Prometheus metrics (text format); all processes' counters in multiprocess mode",
    response_class=Response, responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}, "description": "Prometheus text format 0.0.4"}},
)
def prometheus_metrics(runtime: RuntimeDep) -> Response:
    return Response(metrics.render(runtime), media_type=metrics.CONTENT_TYPE_LATEST)
