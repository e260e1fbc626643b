"""The collector's ASGI app: ``create_app(settings, store)`` builds the :class:`Collector` and its routes.

Everything a request needs (store, pricer, keys, limits, the event writer and the
worker pool) hangs off ``app.state.collector``; nothing is global, so two apps in
one process (tests, a dashboard mounted beside the API) never share state.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import APIRouter, FastAPI

from costtrail.auth import KeyRing
from costtrail.auth.throttle import AuthThrottle
from costtrail.billing import load_plans
from costtrail.collector.errors import install_error_handlers
from costtrail.collector.ingest_routes import router as ingest_router
from costtrail.collector.metrics_route import router as metrics_router
from costtrail.collector.payload import Limits
from costtrail.collector.read_routes import router as read_router
from costtrail.collector.run_owners import RunOwners
from costtrail.collector.service import Collector
from costtrail.ledger.store import LedgerStore
from costtrail.pricing import Pricer
from costtrail.settings import Settings
from costtrail.web import KeyRingViewers, mount_dashboard


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    collector: Collector = app.state.collector
    collector.start()
    yield
    # Before the server lets the store go: the workers finish, the writer commits and stops.
    await asyncio.to_thread(collector.stop)


def create_app(
    settings: Settings,
    store: LedgerStore,
    *,
    keys: KeyRing | None = None,
    pricer: Pricer | None = None,
    limits: Limits | None = None,
    workers: int = 0,
    throttle: AuthThrottle | None = None,
    controls_file: Path | None = None,
    routers: Iterable[APIRouter] = (),
) -> FastAPI:
    """The collector app: ingest (events, outcomes, cost lines, OTLP traces), the read API,
    ``/metrics`` and the dashboard.

    ``keys`` defaults to the key ring beside the settings' ledger. ``workers`` processes parse,
    validate and price event batches beside this one (0: all in this process; see
    :mod:`costtrail.collector.workers`); their pricer is ``Pricer(pricer.rate_card)``.
    ``throttle`` answers 429 to a client that keeps sending wrong keys (default: ``AuthThrottle()``).
    ``controls_file`` (the budgets YAML) adds budget gauges to the dashboard. More routers can be
    passed in or included afterwards.

    >>> from costtrail.ledger.duckdb_store import DuckDBStore
    >>> store = DuckDBStore(":memory:")
    >>> app = create_app(Settings(ledger=":memory:"), store)
    >>> store.close()
    """
    collector = Collector(
        settings=settings,
        store=store,
        keys=keys if keys is not None else KeyRing.for_ledger(settings.ledger),
        pricer=pricer or Pricer.from_rate_card(settings.rate_card),
        limits=limits or Limits(),
        workers=workers,
        plans=load_plans(settings.plans),
        run_owners=RunOwners(store),
        throttle=throttle or AuthThrottle(),
    )
    app = FastAPI(
        title="costtrail collector",
        summary="Ingest AI cost events, outcomes, cost lines and OTLP traces; read reports.",
        version="1",
        lifespan=_lifespan,
    )
    app.state.collector = collector
    # What the shared parts (key checks, the dashboard's sign-in) read from any app they serve.
    app.state.keys = collector.keys
    app.state.auth_throttle = collector.throttle
    install_error_handlers(app)
    for router in (ingest_router, read_router, metrics_router, *routers):
        app.include_router(router)
    mount_dashboard(
        app,
        settings,
        store,
        KeyRingViewers(collector.keys),
        plans=collector.plans,
        controls_file=controls_file,
    )

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
