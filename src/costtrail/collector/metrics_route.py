"""``GET /metrics``: the ledger's spend, tokens and requests for Prometheus.

The figures sum every tenant's spend, so scraping needs a read (or admin) key
that is not scoped to a tenant (``Authorization: Bearer <key>``; Prometheus:
``authorization: {credentials: <key>}``): 401 without one, 403 for a tenant's key.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response
from starlette.concurrency import run_in_threadpool

from costtrail.auth import ApiKey, Scope
from costtrail.collector.access import requires
from costtrail.collector.errors import ApiError
from costtrail.collector.service import Collector
from costtrail.export.prometheus import CONTENT_TYPE

router = APIRouter()

READ = Depends(requires(Scope.READ))


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request, key: ApiKey = READ) -> Response:
    if key.tenant is not None:
        raise ApiError(
            403,
            "tenant_scoped_key",
            f"/metrics sums every tenant's spend; this key is scoped to tenant '{key.tenant}': "
            "scrape with a read key created without --tenant",
        )
    collector: Collector = request.app.state.collector
    body = await run_in_threadpool(collector.metrics.render)
    return Response(body, media_type=CONTENT_TYPE)
