"""Read endpoints: ``GET /v1/report`` and ``GET /v1/runs/{run_id}`` (scope ``read``)."""

from __future__ import annotations

import math
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from costtrail.auth import ApiKey, Scope
from costtrail.collector.access import requires
from costtrail.collector.errors import ApiError
from costtrail.collector.reading import (
    ReadError,
    RunNotFound,
    cost_report,
    invoice_line,
    invoices,
    run_detail,
)
from costtrail.collector.service import Collector
from costtrail.reports import AmbiguousRunId
from costtrail.reports.money import money_json
from costtrail.web.paths import text_param

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
    # Decimals go out as plain decimal strings: money stays exact over the wire.
    return JSONResponse(finite(jsonable_encoder(data, custom_encoder={Decimal: money_json})))


def finite(data: Any) -> Any:
    """``data`` with every non-finite float (a mean over rows stored before bounds) as null.

    JSON has no Infinity or NaN: one such value in a report would otherwise fail the whole answer.
    """
    if isinstance(data, float):
        return data if math.isfinite(data) else None
    if isinstance(data, dict):
        return {k: finite(v) for k, v in data.items()}
    if isinstance(data, list):
        return [finite(v) for v in data]
    return data


def _names(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


@router.get("/v1/report", summary="Cost report grouped by dimensions")
async def get_report(
    request: Request,
    by: str = Query("workflow", description="comma-separated dimensions, e.g. workflow,model"),
    metrics: str | None = Query(None, description="comma-separated metrics (default: the standard set)"),
    view: str | None = Query(None, description="a built-in view instead of by/metrics, e.g. workflow"),
    where: list[str] = Query([], description="filters as DIMENSION:VALUE, repeatable"),
    since: str | None = Query(None, description="7d, 24h, or an ISO 8601 date (inclusive)"),
    until: str | None = Query(None, description="ISO 8601 date (exclusive)"),
    limit: int | None = Query(None, ge=1, le=100_000, description="at most this many rows"),
    tenant: str | None = Query(None, description="only this tenant (a tenant key sees only its own)"),
    as_priced_on: str | None = Query(
        None, description="YYYY-MM-DD: each event at the price it had at the end of that UTC day"
    ),
    key: ApiKey = READ,
) -> JSONResponse:
    """Rows of ``{dimensions..., metrics...}`` plus the unpriced line (``costtrail.reports.report``)."""
    collector: Collector = request.app.state.collector
    scope = _tenant_for(key, tenant)
    try:
        body = await run_in_threadpool(
            lambda: cost_report(
                collector.store,
                by=_names(by),
                metrics=_names(metrics) or None,
                view=view,
                where=where,
                since=since,
                until=until,
                limit=limit,
                tenant=scope,
                as_priced_on=as_priced_on,
            )
        )
    except ReadError as exc:
        raise ApiError(422, "invalid_parameter", str(exc), field=exc.field) from exc
    return _json({**body, "tenant": scope})


@router.get(f"/v1/runs/{text_param('run_id')}", summary="One run: its steps, outcomes and total cost")
async def get_run(request: Request, run_id: str, key: ApiKey = READ) -> JSONResponse:
    """The events of one run in time order with the running total (``costtrail.reports.run_steps``).

    ``run_id`` may be a unique prefix; one shared by several runs answers 409 with the candidates.
    """
    collector: Collector = request.app.state.collector
    try:
        body = await run_in_threadpool(run_detail, collector.store, run_id, key.tenant)
    except RunNotFound as exc:
        raise ApiError(404, "run_not_found", f"no run with run_id '{run_id}'", field="run_id") from exc
    except AmbiguousRunId as exc:
        raise ApiError(
            409, "ambiguous_run_id", str(exc), field="run_id", extra={"candidates": exc.candidates}
        ) from exc
    return _json(body)


async def _billing(
    request: Request, key: ApiKey, answer: Callable[..., dict[str, Any]], *args: Any
) -> JSONResponse:
    """An invoice question for a key of every tenant (invoices span tenants), with the server's plans."""
    if key.tenant is not None:
        raise ApiError(
            403, "forbidden", "invoices span tenants: use a read key of every tenant", field="authorization"
        )
    collector: Collector = request.app.state.collector
    try:
        body = await run_in_threadpool(answer, collector.store, collector.plans, *args)
    except ReadError as exc:
        raise ApiError(422, "invalid_parameter", str(exc), field=exc.field) from exc
    return _json(body)


@router.get("/v1/invoices", summary="Invoice previews of a period from the price plans")
async def get_invoices(
    request: Request,
    period: str = Query(..., description="a month (2026-11) or days (2026-11-01..2026-11-15)"),
    customer: str | None = Query(None, description="only this customer's invoice"),
    key: ApiKey = READ,
) -> JSONResponse:
    """Each customer's invoice: lines with quantity, unit price, amount, cost, margin (costtrail.billing)."""
    return await _billing(request, key, invoices, period, customer)


@router.get(
    f"/v1/invoices/lines/{text_param('line_id')}",
    summary="The events, runs or outcomes behind an invoice line",
)
async def get_invoice_line(
    request: Request,
    line_id: str,
    limit: int | None = Query(None, ge=1, le=100_000, description="at most this many rows"),
    key: ApiKey = READ,
) -> JSONResponse:
    """Rows whose ``quantity`` sums to the line's (``costtrail.billing.line_rows``)."""
    return await _billing(request, key, invoice_line, line_id, limit)


@router.post("/v1/read/{question}", summary="Answer a read question as the CLI asks it (--endpoint)")
async def post_read(request: Request, question: str, key: ApiKey = READ) -> Response:
    """The questions of ``costtrail.reader.questions`` (report, runs, run, budgets, alerts, forecast,
    drift, whatif, cheapest, audit, reconcile, unit-cost, cost-to-serve, margins), with the same
    answers as on a local ledger. Arguments and answer are JSON with exact decimals and times
    tagged (``costtrail.reader.codec``). A tenant key reads through ``/v1/report`` and ``/v1/runs``.
    """
    from costtrail.reader import codec
    from costtrail.reader.base import ReadFailed
    from costtrail.reader.questions import answer

    if key.tenant is not None:
        raise ApiError(
            403,
            "tenant_key",
            f"this key reads only tenant '{key.tenant}': use GET /v1/report and /v1/runs, "
            "or a read key for all tenants",
        )
    try:
        args = codec.loads(await request.body() or b"{}")
    except ValueError as exc:
        raise ApiError(400, "invalid_json", f"the body is not JSON: {exc}") from exc
    if not isinstance(args, dict):
        raise ApiError(400, "invalid_json", "the body is a JSON object of the question's arguments")
    collector: Collector = request.app.state.collector
    try:
        body = await run_in_threadpool(answer, collector.store, question, args)
    except ReadFailed as exc:
        status = {"not_found": 404, "input": 422}.get(exc.kind, 503)
        raise ApiError(status, f"read_{exc.kind}", str(exc), field=exc.field) from exc
    return Response(codec.dumps(body), media_type="application/json")
