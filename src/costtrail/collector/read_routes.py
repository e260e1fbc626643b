"""Read endpoints: ``GET /v1/report`` and ``GET /v1/runs/{run_id}`` (scope ``read``)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from costtrail.auth import ApiKey, Scope
from costtrail.collector.access import requires
from costtrail.collector.app import Collector
from costtrail.collector.errors import ApiError
from costtrail.collector.reading import ReadError, grouped_costs, parse_since, run_events

router = APIRouter(tags=["read"])
READ = Depends(requires(Scope.READ))


def _tenant_for(key: ApiKey, asked: str | None) -> str | None:
    if key.tenant is None:
        return asked
    if asked not in (None, key.tenant):
        raise ApiError(
            403,
            "unknown_tenant",
            f"unknown tenant '{asked}' for this key: it reads only tenant '{key.tenant}'",
            field="tenant",
        )
    return key.tenant


def _json(data: Any) -> JSONResponse:
    # Decimals go out as strings: money stays exact over the wire.
    return JSONResponse(jsonable_encoder(data, custom_encoder={Decimal: str}))


@router.get("/v1/report", summary="Cost report grouped by dimensions")
async def get_report(
    request: Request,
    by: str = Query("workflow", description="comma-separated dimensions, e.g. workflow,model"),
    since: str | None = Query(None, description="7d, 24h, or an ISO 8601 date"),
    until: str | None = Query(None, description="ISO 8601 date (exclusive)"),
    tenant: str | None = Query(None, description="only this tenant (a tenant key sees only its own)"),
    key: ApiKey = READ,
) -> JSONResponse:
    """Total cost, events, tokens, runs and failures per group."""
    collector: Collector = request.app.state.collector
    dims = [d.strip() for d in by.split(",") if d.strip()]
    scope = _tenant_for(key, tenant)
    try:
        lo, hi = parse_since(since), parse_since(until)
        rows = await run_in_threadpool(grouped_costs, collector.store, dims, scope, lo, hi)
    except ReadError as exc:
        raise ApiError(422, "invalid_parameter", str(exc), field=exc.field) from exc
    return _json({"by": dims, "tenant": scope, "rows": rows})


@router.get("/v1/runs/{run_id}", summary="One run: its events and total cost")
async def get_run(request: Request, run_id: str, key: ApiKey = READ) -> JSONResponse:
    """The events of one run in time order, with the run's total cost."""
    collector: Collector = request.app.state.collector
    events = await run_in_threadpool(run_events, collector.store, run_id, key.tenant)
    if not events:
        raise ApiError(404, "run_not_found", f"no events with run_id '{run_id}'", field="run_id")
    costs = [e["cost_usd"] for e in events if e["cost_usd"] is not None]
    return _json(
        {
            "run_id": run_id,
            "events": events,
            "total_cost_usd": sum(costs, Decimal(0)) if costs else None,
            "unpriced_events": sum(1 for e in events if e["unpriced"]),
        }
    )
