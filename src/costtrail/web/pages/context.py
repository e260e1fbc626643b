"""What every page builder gets, and the few look-ups shared by all pages."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

from costtrail.billing import PricePlans
from costtrail.finance.period import Period
from costtrail.finance.targets import UnitTargets
from costtrail.ledger.store import LedgerStore
from costtrail.reports import UnpricedLine
from costtrail.settings import Settings
from costtrail.web.blocks import Notice
from costtrail.web.filters import DIMENSIONS, Filters
from costtrail.web.sessions import Viewer

OPTION_LIMIT = 200


@dataclass(frozen=True)
class PageContext:
    """The request as a page builder sees it: store, filters (tenant already forced), viewer."""

    store: LedgerStore
    settings: Settings
    filters: Filters
    viewer: Viewer
    path_params: Mapping[str, str]
    controls_file: Path | None = None
    query: Mapping[str, str] = field(default_factory=dict)
    targets: UnitTargets | None = None
    plans: PricePlans | None = None

    def link(self, path: str, **changes: str | None) -> str:
        """A URL to ``path`` that keeps the reader's filters (with some changed)."""
        return path + self.filters.query(**changes)


def always(store: LedgerStore) -> bool:
    return True


def segment(value: Any) -> str:
    """A value as one URL path segment (run ids and workflow names may hold any character)."""
    return quote(str(value), safe="")


def _tenant_clause(store: LedgerStore, tenant: str | None) -> str:
    return f" WHERE tenant_id = {store.dialect.literal(tenant)}" if tenant else ""


def latest_event(store: LedgerStore, tenant: str | None) -> datetime | None:
    """The newest event's time: presets such as "last 30 days" count back from it."""
    rows = store.query(
        f"SELECT max(started_at) AS latest FROM {store.dialect.final('events')}"
        + _tenant_clause(store, tenant)
    )
    latest = rows[0]["latest"] if rows else None
    if not isinstance(latest, datetime):
        return None
    return latest if latest.tzinfo else latest.replace(tzinfo=UTC)


def filter_options(store: LedgerStore, filters: Filters) -> dict[str, list[str]]:
    """The values each filter offers, limited to what the viewer may see."""
    tenant = filters.values.get("tenant") if "tenant" in filters.locked else None
    events = store.dialect.final("events")
    parts = [
        f"SELECT * FROM (SELECT {store.dialect.literal(name)} AS dim, {column} AS value, count(*) AS n "
        f"FROM {events}{_tenant_clause(store, tenant)} GROUP BY {column} "
        f"ORDER BY n DESC LIMIT {OPTION_LIMIT}) AS t_{name}"
        for name, column in DIMENSIONS.items()
    ]
    options: dict[str, list[str]] = {name: [] for name in DIMENSIONS}
    for row in store.query(" UNION ALL ".join(parts)):
        if row["value"] is not None:
            options[row["dim"]].append(str(row["value"]))
    return {name: sorted(values) for name, values in options.items()}


def window(ctx: PageContext, **extra: str) -> dict[str, Any]:
    """The report API's keyword arguments for the reader's filters (plus extra dimension filters)."""
    return {
        "filters": {**ctx.filters.where(), **extra},
        "since": ctx.filters.since,
        "until": ctx.filters.until,
    }


def previous_window(ctx: PageContext) -> dict[str, Any] | None:
    """The same filters over the period just before (None for an open time range)."""
    prev = ctx.filters.previous()
    if prev is None:
        return None
    return {"filters": prev.where(), "since": prev.since, "until": prev.until}


def unpriced_notice(line: UnpricedLine) -> list[Notice]:
    """A warning when events had no price (their cost is missing from every total, never $0)."""
    if not line.events:
        return []
    models = ", ".join(
        f"{m['provider'] or '?'}/{m['model'] or m['kind']} ({m['events']})" for m in line.models[:5]
    )
    return [
        Notice(
            "warning",
            f"{line.events:,} events have no price and are not in these totals: {models}. "
            "Add them to a rate card, then run costtrail reprice.",
        )
    ]


def period_of(ctx: PageContext) -> Period:
    """The reader's time range as a finance :class:`Period` (an open range runs to now)."""
    start = ctx.filters.since or datetime(2000, 1, 1, tzinfo=UTC)
    end = ctx.filters.until or datetime.now(UTC)
    # the label in the finance package's own "first..last" day form (it parses it back)
    label = f"{start.date().isoformat()}..{(end - timedelta(microseconds=1)).date().isoformat()}"
    return Period(label, start, end)
