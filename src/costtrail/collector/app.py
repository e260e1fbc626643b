"""The collector's ASGI app: ``create_app(settings, store)`` builds it, routers add the endpoints.

Everything a request needs (store, pricer, keys, limits) hangs off
``app.state.collector``; nothing is global, so two apps in one process (tests,
a dashboard mounted beside the API) never share state.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from fastapi import APIRouter, FastAPI

from costtrail.auth import KeyRing
from costtrail.auth.throttle import AuthThrottle
from costtrail.billing import PricePlans, load_plans
from costtrail.collector.errors import install_error_handlers
from costtrail.collector.payload import Limits
from costtrail.collector.run_owners import RunOwners
from costtrail.export.prometheus import install_collector_metrics
from costtrail.ledger.store import LedgerStore
from costtrail.pricing import Pricer
from costtrail.settings import Settings


@dataclass
class Collector:
    """What the collector's routes work with."""

    settings: Settings
    store: LedgerStore
    keys: KeyRing
    pricer: Pricer
    limits: Limits
    workers: int = 0  # processes that prepare event batches (collector.workers); 0: all in this one
    run_owners: RunOwners | None = None  # refuses a tenant key's records for another tenant's run
    plans: PricePlans | None = None  # price plans for the invoice routes (settings.plans)


def default_pricer(settings: Settings) -> Pricer:
    """The pricer the settings ask for (with the user's rate card when one is set)."""
    if settings.rate_card is None:
        return Pricer()
    from costtrail.pricing.rate_card import RateCard

    return Pricer(RateCard.load(settings.rate_card))


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    collector: Collector = app.state.collector
    if collector.workers and getattr(app.state, "prepare_pool", None) is None:
        from costtrail.collector.workers import PreparePool

        # Started with the server, so the workers' imports are done before the first batch.
        app.state.prepare_pool = PreparePool(collector.workers, collector.pricer, collector.limits)
    yield
    # Finish what the workers hold, commit what the event writer holds and stop its thread before
    # the server lets the store go; the same app served again (a restart in one process) starts a
    # new pool and writer on first use.
    pool = getattr(app.state, "prepare_pool", None)
    app.state.prepare_pool = None
    if pool is not None:
        await asyncio.to_thread(pool.close)
    writer = getattr(app.state, "event_writer", None)
    app.state.event_writer = None
    if writer is not None:
        await asyncio.to_thread(writer.close)


def create_app(
    settings: Settings,
    store: LedgerStore,
    *,
    keys: KeyRing | None = None,
    pricer: Pricer | None = None,
    limits: Limits | None = None,
    workers: int = 0,
    routers: Iterable[APIRouter] = (),
) -> FastAPI:
    """The collector app: ingest (events, outcomes, cost lines, OTLP traces) and the read API.

    ``keys`` defaults to the key ring beside the settings' ledger. ``workers`` processes parse,
    validate and price event batches beside this one (0: all in this process; see
    :mod:`costtrail.collector.workers`); their pricer is ``Pricer(pricer.rate_card)``. More routers
    (the dashboard's pages) can be passed in or included afterwards.

    >>> from costtrail.ledger.duckdb_store import DuckDBStore
    >>> store = DuckDBStore(":memory:")
    >>> app = create_app(Settings(ledger=":memory:"), store)
    >>> store.close()
    """
    from costtrail.collector.ingest_routes import router as ingest_router
    from costtrail.collector.read_routes import router as read_router

    app = FastAPI(
        title="costtrail collector",
        summary="Ingest AI cost events, outcomes, cost lines and OTLP traces; read reports.",
        version="1",
        lifespan=_lifespan,
    )
    app.state.collector = Collector(
        settings=settings,
        store=store,
        keys=keys if keys is not None else KeyRing.for_ledger(settings.ledger),
        pricer=pricer or default_pricer(settings),
        limits=limits or Limits(),
        workers=workers,
        plans=load_plans(settings.plans),
        run_owners=RunOwners(store),
    )
    app.state.keys = app.state.collector.keys
    app.state.auth_throttle = AuthThrottle()  # 429 for a client that keeps sending wrong keys
    install_error_handlers(app)
    app.include_router(ingest_router)
    app.include_router(read_router)
    install_collector_metrics(app, store)  # GET /metrics
    for extra in routers:
        app.include_router(extra)
    from costtrail.web import KeyRingViewers, mount_dashboard

    mount_dashboard(
        app, settings, store, KeyRingViewers(app.state.collector.keys), plans=app.state.collector.plans
    )

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
