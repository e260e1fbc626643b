"""Ingest endpoints: each reads the body, authorizes, and hands the batch to :mod:`intake`.

Parsing and validation run in worker threads. Event batches then go to the
app's single event writer (:mod:`group_commit`), which merges the batches
waiting at that moment into one append; outcomes and cost lines are appended
directly. Either way the response is sent only after the append returned (for
DuckDB: the transaction committed), so an acknowledged batch is durable.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from costtrail.auth import ApiKey, Scope
from costtrail.collector.access import requires
from costtrail.collector.errors import ApiError
from costtrail.collector.group_commit import UnstorableBatch
from costtrail.collector.intake import (
    BatchResult,
    PreparedEvents,
    accept_cost_lines,
    accept_outcomes,
    count_appended,
    keep_own_runs,
    prepare_events,
)
from costtrail.collector.payload import parse_records, read_request_body
from costtrail.collector.service import Collector
from costtrail.otlp import OtlpDecodeError, add_own_prices, decode_traces, encode_response, traces_to_events

router = APIRouter(tags=["ingest"])
log = logging.getLogger("costtrail.collector")

_BATCH_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "A JSON array of records, one JSON object, or NDJSON; may be gzip-compressed "
        "(Content-Encoding: gzip).",
        "content": {
            "application/json": {"schema": {"type": "array", "items": {"type": "object"}}},
            "application/x-ndjson": {"schema": {"type": "string"}},
        },
    }
}
_OTLP_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "An OTLP ExportTraceServiceRequest (OTLP/HTTP).",
        "content": {
            "application/x-protobuf": {"schema": {"type": "string", "format": "binary"}},
            "application/json": {"schema": {"type": "object"}},
        },
    }
}

INGEST = Depends(requires(Scope.INGEST))


def _collector(request: Request) -> Collector:
    collector: Collector = request.app.state.collector
    return collector


def batch_response(result: BatchResult, received: int) -> JSONResponse:
    """200 with counts; 422 when every record of a non-empty batch was refused."""
    body = result.as_dict()
    if (
        received
        and not result.accepted
        and not result.duplicates
        and result.forbidden == len(result.problems)
    ):
        first = result.problems[0]
        body["error"] = {
            "code": "run_of_another_tenant",
            "message": f"no record was accepted; record {first.index}: {first.field}: {first.reason}",
            "field": first.field,
        }
        return JSONResponse(body, status_code=403)
    if received and not result.accepted and not result.duplicates:
        first = result.problems[0]
        body["error"] = {
            "code": "invalid_records",
            "message": f"no record was accepted; record {first.index}: {first.field}: {first.reason}",
            "field": first.field,
        }
        return JSONResponse(body, status_code=422)
    return JSONResponse(body)


async def _ingest(
    request: Request, key: ApiKey, accept: Callable[[list[Any], ApiKey, Collector], BatchResult]
) -> JSONResponse:
    collector = _collector(request)
    body = await read_request_body(request, collector.limits)
    content_type = request.headers.get("content-type", "")

    def work() -> tuple[BatchResult, int]:
        records = parse_records(body, content_type, collector.limits)
        return stored_or_503(lambda: accept(records, key, collector)), len(records)

    result, received = await run_in_threadpool(work)
    return batch_response(result, received)


def stored_or_503(append: Callable[[], BatchResult]) -> BatchResult:
    """Run an append; a store that fails (locked, disk full, gone) is a 503: nothing was acknowledged."""
    try:
        return append()
    except ApiError:
        raise
    except Exception as exc:
        raise _unavailable(exc) from exc


def _unavailable(exc: Exception) -> ApiError:
    log.error("the ledger could not store a batch", exc_info=exc)
    return ApiError(
        503,
        "ledger_unavailable",
        f"the ledger could not store this batch ({type(exc).__name__}: {str(exc)[:200]}); nothing was "
        "stored from it: send it again later",
        headers={"Retry-After": "1"},
    )


async def commit_events(request: Request, prepared: PreparedEvents, key: ApiKey) -> BatchResult:
    """Hand a prepared batch to the event writer; returns once its rows are committed.

    A tenant key's rows naming another tenant's run are refused first (``run_owners``).
    """
    owners = _collector(request).run_owners
    if key.tenant is not None and owners is not None and prepared.table.num_rows:
        prepared = await run_in_threadpool(keep_own_runs, prepared, key, owners)
    if not prepared.table.num_rows:
        return prepared.result
    future = _collector(request).writer.submit(prepared.table)
    try:
        appended = await asyncio.wrap_future(future)
    except UnstorableBatch as exc:
        log.error("the ledger refused a batch that other batches were stored beside", exc_info=exc.cause)
        raise ApiError(
            422,
            "unstorable_records",
            f"the ledger could not store this batch ({exc}) while it stored others: nothing was stored "
            "from it; do not send it again unchanged (find the record with values out of range)",
            field="(batch)",
        ) from exc
    except Exception as exc:
        raise _unavailable(exc) from exc
    return count_appended(prepared, appended)


@router.post("/v1/events", openapi_extra=_BATCH_BODY, summary="Ingest a batch of events")
async def post_events(request: Request, key: ApiKey = INGEST) -> JSONResponse:
    """Validate, price and store events; answers once they are durable in the ledger."""
    collector = _collector(request)
    body = await read_request_body(request, collector.limits)
    content_type = request.headers.get("content-type", "")
    pool = collector.pool
    if pool is not None:
        prepared, received = await pool.prepare(body, content_type, key)
    else:

        def work() -> tuple[PreparedEvents, int]:
            records = parse_records(body, content_type, collector.limits)
            return prepare_events(records, key, collector.pricer), len(records)

        prepared, received = await run_in_threadpool(work)
    return batch_response(await commit_events(request, prepared, key), received)


@router.post("/v1/outcomes", openapi_extra=_BATCH_BODY, summary="Ingest outcome events")
async def post_outcomes(request: Request, key: ApiKey = INGEST) -> JSONResponse:
    """Store what runs achieved (defines cost per successful completion)."""
    return await _ingest(request, key, lambda r, k, c: accept_outcomes(r, k, c.store, c.run_owners))


@router.post("/v1/cost-lines", openapi_extra=_BATCH_BODY, summary="Ingest FOCUS-aligned cost lines")
async def post_cost_lines(request: Request, key: ApiKey = INGEST) -> JSONResponse:
    """Store cost lines (billing exports, shared costs); needs a key not bound to a tenant."""
    return await _ingest(request, key, lambda r, k, c: accept_cost_lines(r, k, c.store))


@router.post("/v1/traces", openapi_extra=_OTLP_BODY, summary="OTLP/HTTP trace export")
async def post_traces(request: Request, key: ApiKey = INGEST) -> Response:
    """Map GenAI spans to events (see docs/otlp.md); answers with an OTLP ExportTraceServiceResponse."""
    collector = _collector(request)
    body = await read_request_body(request, collector.limits)
    content_type = request.headers.get("content-type", "application/x-protobuf")

    def work() -> PreparedEvents:
        try:
            export = decode_traces(body, content_type)
        except OtlpDecodeError as exc:
            raise ApiError(400, "malformed_otlp", str(exc), field="(body)") from exc
        records = traces_to_events(export).records
        add_own_prices(records, collector.pricer)
        return prepare_events(records, key, collector.pricer)

    result = await commit_events(request, await run_in_threadpool(work), key)
    message = "; ".join(f"mapped event {p.index}: {p.field}: {p.reason}" for p in result.problems[:5])
    payload, media_type = encode_response(content_type, len(result.problems), message)
    return Response(payload, media_type=media_type)
