"""The rollup: group the ledger's events by dimensions and compute metrics, in the database.

``report()`` resolves the request (dimensions, metrics, filters), lets the
plan that applies (``reports/plans/``) query the store through its dialect (so
it runs on DuckDB and ClickHouse alike), and returns a :class:`ReportResult`:
a list of row dicts (dimension and metric names as keys) that also carries
the unpriced line.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from costtrail.ledger.store import LedgerStore
from costtrail.reports.dimensions import Bands, Dimension, ReportError, resolve_dimension
from costtrail.reports.filters import FilterValue, TimeBound, where_clause
from costtrail.reports.metrics import METRICS, Metric, MetricDef, Ratio
from costtrail.reports.plan_sql import PlanRequest, run_status_ctes
from costtrail.reports.plans import choose_plan
from costtrail.reports.priced_on import priced_on
from costtrail.schema.events import Event

DEFAULT_METRICS: tuple[str, ...] = ("total_cost", "events", "runs", "unpriced_events")
_MONEY_PLACES = Decimal("1e-12")
_RESERVED = frozenset(Event.model_fields) | {"run_ok"}

__all__ = ["DEFAULT_METRICS", "ReportResult", "UnpricedLine", "report", "run_status_ctes", "unpriced_line"]


@dataclass(frozen=True)
class UnpricedLine:
    """How many events had no price, and for which models (present in every report)."""

    events: int
    models: tuple[dict[str, Any], ...]
    # Incomplete calls (usage unknown): counted beside the unpriced ones, with their estimated cost.
    incomplete: int = 0
    incomplete_estimate_usd: Decimal = Decimal(0)

    def as_dict(self) -> dict[str, Any]:
        return {"events": self.events, "models": [dict(m) for m in self.models]}

    def incomplete_dict(self) -> dict[str, Any]:
        """``{"events", "estimate_usd"}``: the estimate is never part of any total cost."""
        return {
            "events": self.incomplete,
            "estimate_usd": format(self.incomplete_estimate_usd.normalize(), "f"),
        }


class ReportResult(list[dict[str, Any]]):
    """The rows of a report (a list of dicts) plus ``by``, ``metrics`` and the ``unpriced`` line."""

    def __init__(
        self,
        rows: Iterable[dict[str, Any]],
        *,
        by: Sequence[str],
        metrics: Sequence[str],
        unpriced: UnpricedLine,
        units: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(rows)
        self.by = list(by)
        self.metrics = list(metrics)
        self.unpriced = unpriced
        self.units: dict[str, str] = dict(units or {})
        """Each metric's unit (usd, count, tokens, ms, ratio, text, timestamp)."""

    @property
    def columns(self) -> list[str]:
        return [*self.by, *self.metrics]

    def as_dict(self) -> dict[str, Any]:
        """The stable JSON shape: ``{"by", "metrics", "rows", "unpriced", "incomplete"}``."""
        return {
            "by": self.by,
            "metrics": self.metrics,
            "rows": [dict(r) for r in self],
            "unpriced": self.unpriced.as_dict(),
            "incomplete": self.unpriced.incomplete_dict(),
        }


def resolve_metrics(
    requested: Sequence[str | MetricDef], catalog: Mapping[str, MetricDef]
) -> tuple[list[MetricDef], list[Metric]]:
    """The requested definitions, and every SQL metric needed to compute them."""
    known: dict[str, MetricDef] = dict(catalog)
    wanted: list[MetricDef] = []
    for item in requested:
        if isinstance(item, Metric | Ratio):
            known[item.name] = item
            wanted.append(item)
        elif item in known:
            wanted.append(known[item])
        else:
            raise ReportError(f"unknown metric {item!r}: choose one of {', '.join(sorted(known))}")
    sql_metrics: dict[str, Metric] = {}

    def need(m: Metric) -> None:
        if m.name in _RESERVED:
            raise ReportError(f"metric name {m.name!r} is an event column: name it differently")
        sql_metrics.setdefault(m.name, m)

    for w in wanted:
        if isinstance(w, Metric):
            need(w)
            continue
        for part in (w.numerator, w.denominator):
            base = known.get(part)
            if not isinstance(base, Metric):
                raise ReportError(f"ratio {w.name!r} must divide two SQL metrics; {part!r} is not one")
            need(base)
    return wanted, list(sql_metrics.values())


def report(
    store: LedgerStore,
    by: Sequence[str] = ("workflow",),
    metrics: Sequence[str | MetricDef] | None = None,
    filters: Mapping[str, FilterValue] | None = None,
    since: TimeBound = None,
    until: TimeBound = None,
    limit: int | None = None,
    order_by: Sequence[str] | None = None,
    *,
    catalog: Mapping[str, MetricDef] = METRICS,
    payload_bands: Bands | None = None,
    input_bands: Bands | None = None,
    as_priced_on: date | None = None,
) -> ReportResult:
    """Roll the ledger's events up by ``by`` dimensions into ``metrics``.

    ``as_priced_on``: every event at the price it had at the end of that UTC day (before any
    later reprice; ``reports.priced_on``).

    ``filters`` maps a dimension to a value or a list of values (``None``
    matches missing values); ``since`` is inclusive, ``until`` exclusive.
    ``order_by`` names dimensions or metrics, ``-name`` for descending
    (default: the first money metric, descending). Money is ``Decimal``.

    >>> from decimal import Decimal
    >>> from costtrail.ledger.duckdb_store import DuckDBStore
    >>> from costtrail.schema import Event
    >>> store = DuckDBStore(":memory:")
    >>> calls = [Event(provider="openai", model="gpt-4o-mini", workflow="triage", run_id=f"r{i}",
    ...                cost_usd=Decimal("2.5")) for i in range(2)]
    >>> _ = store.append_events(calls)
    >>> rows = report(store, by=["workflow"], metrics=["total_cost", "runs", "cost_per_successful_run"])
    >>> rows[0]["workflow"], rows[0]["runs"], rows[0]["cost_per_successful_run"]
    ('triage', 2, Decimal('2.5...'))
    >>> store.close()
    """
    if as_priced_on is not None:
        store = priced_on(store, as_priced_on)
    dialect = store.dialect
    dims = [resolve_dimension(b, dialect, payload_bands, input_bands) for b in by]
    wanted, sql_metrics = resolve_metrics(list(metrics or DEFAULT_METRICS), catalog)
    names = [d.name for d in dims] + [m.name for m in wanted]
    if len(set(names)) != len(names):
        raise ReportError(f"a report column appears twice: {names}")
    where = where_clause(dialect, filters, since, until, payload_bands=payload_bands, input_bands=input_bands)
    time_where = where_clause(dialect, None, since, until)
    request = PlanRequest(
        store, dims, wanted, sql_metrics, filters, since, until, where, time_where, limit, order_by
    )
    raw = choose_plan(request).rows(request)
    rows = [_finish_row(r, dims, wanted, sql_metrics) for r in raw]
    return ReportResult(
        rows,
        by=[d.name for d in dims],
        metrics=[m.name for m in wanted],
        unpriced=unpriced_line(store, where),
        units={m.name: m.unit for m in wanted},
    )


def _finish_row(
    raw: dict[str, Any], dims: list[Dimension], wanted: list[MetricDef], sql_metrics: list[Metric]
) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for i, m in enumerate(sql_metrics):
        values[m.name] = _typed(raw[f"m{i}"], m)
    row: dict[str, Any] = {d.name: raw[f"d{i}"] for i, d in enumerate(dims)}
    for w in wanted:
        row[w.name] = values[w.name] if isinstance(w, Metric) else _ratio(w, values)
    return row


def _typed(value: Any, m: Metric) -> Any:
    if m.unit == "usd":
        if value is None and m.null_when_unpriced:
            return None  # no priced event in the group: unpriced, not $0
        if value is None or not value:
            return Decimal(0)  # a plain 0, not 0E-12
        return value if isinstance(value, Decimal) else Decimal(str(value))
    if m.unit == "count":
        return 0 if value is None else int(value)
    if m.unit in ("ms", "ratio") and value is not None:
        return float(value)
    return value


def _ratio(m: Ratio, values: dict[str, Any]) -> Any:
    num, den = values[m.numerator], values[m.denominator]
    if num is None or not den:
        return None
    if m.unit == "usd":
        amount = (Decimal(num) / Decimal(den)).quantize(_MONEY_PLACES)
        return amount if amount else Decimal(0)
    return float(num) / float(den)


def unpriced_line(store: LedgerStore, where: str = "TRUE") -> UnpricedLine:
    """Count unpriced events matching ``where`` and list their (kind, provider, model).

    Incomplete calls (``status = 'incomplete'``, unpriced because their usage is
    unknown) are counted apart, with the sum of their estimated costs.
    """
    narrow = store.dialect.candidates("events", "unpriced")
    rows = store.query(
        f"SELECT kind, provider, model, status = 'incomplete' AS incomplete, count(*) AS n, "
        f"sum(cost_estimate_usd) AS estimate FROM {store.dialect.final('events')} "
        f"WHERE unpriced AND {narrow} AND {where} GROUP BY kind, provider, model, incomplete "
        "ORDER BY n DESC, kind ASC, provider ASC NULLS LAST, model ASC NULLS LAST"
    )
    models = tuple(
        {"kind": r["kind"], "provider": r["provider"], "model": r["model"], "events": int(r["n"])}
        for r in rows
        if not r["incomplete"]
    )
    incomplete = [r for r in rows if r["incomplete"]]
    return UnpricedLine(
        sum(m["events"] for m in models),
        models,
        incomplete=sum(int(r["n"]) for r in incomplete),
        incomplete_estimate_usd=sum((Decimal(r["estimate"] or 0) for r in incomplete), Decimal(0)),
    )
