"""The rollup: group the ledger's events by dimensions and compute metrics, in the database.

``report()`` builds one SQL query through the store's dialect (so it runs on
DuckDB and ClickHouse alike), lets the database aggregate, and returns a
:class:`ReportResult`: a list of row dicts (dimension and metric names as
keys) that also carries the unpriced line.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from costtrail.ledger.store import Dialect, LedgerStore
from costtrail.reports.dimensions import (
    Bands,
    Dimension,
    ReportError,
    canonical_dimension,
    resolve_dimension,
)
from costtrail.reports.filters import FilterValue, TimeBound, where_clause
from costtrail.reports.metrics import METRICS, MODEL_KINDS_SQL, Metric, MetricDef, Ratio
from costtrail.reports.run_counts import index_run_counts, key_of
from costtrail.schema.events import Event

DEFAULT_METRICS: tuple[str, ...] = ("total_cost", "events", "runs", "unpriced_events")
_MONEY_PLACES = Decimal("1e-12")
_QUANTILE = re.compile(r"QUANTILE\(\s*([A-Za-z_][A-Za-z0-9_]*)\s*,\s*([0-9.]+)\s*\)")
_RESERVED = frozenset(Event.model_fields) | {"run_ok"}


@dataclass(frozen=True)
class UnpricedLine:
    """How many events had no price, and for which models (present in every report)."""

    events: int
    models: tuple[dict[str, Any], ...]

    def as_dict(self) -> dict[str, Any]:
        return {"events": self.events, "models": [dict(m) for m in self.models]}


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
        """The stable JSON shape: ``{"by", "metrics", "rows", "unpriced"}``."""
        return {
            "by": self.by,
            "metrics": self.metrics,
            "rows": [dict(r) for r in self],
            "unpriced": self.unpriced.as_dict(),
        }


def last_model_status_sql(dialect: Dialect) -> str:
    """The status of a run's last model event (by started_at), as an aggregate."""
    return dialect.arg_max("status", "started_at", MODEL_KINDS_SQL)


def last_model_at_sql(dialect: Dialect) -> str:
    """When a run's last model event started, as an aggregate (NULL or epoch when none)."""
    return dialect.max_where("started_at", MODEL_KINDS_SQL)


def _run_outcome_cte(dialect: Dialect) -> str:
    return f"""run_outcome AS (
    SELECT run_id, count(*) AS n, max(CASE WHEN success THEN 1 ELSE 0 END) AS ok
    FROM {dialect.final("outcomes")} GROUP BY run_id
)"""


def _run_status_tail(dialect: Dialect) -> str:
    return f"""{_run_outcome_cte(dialect)}, run_status AS (
    SELECT r.run_id AS run_id,
           CASE WHEN coalesce(o.n, 0) > 0 THEN o.ok = 1
                ELSE coalesce(r.last_status = 'success', FALSE) END AS run_ok
    FROM run_last r LEFT JOIN run_outcome o ON r.run_id = o.run_id
)"""


def run_status_ctes(dialect: Dialect, time_where: str, scope_where: str | None = None) -> str:
    """CTEs ending in ``run_status(run_id, run_ok)``: a run succeeded if it has a
    successful outcome; with outcomes that are all unsuccessful it failed; with
    none, it succeeded when its last model event did.

    ``scope_where`` (the report's own filters) limits the work to runs that have
    a matching event: a report on one workflow or one run then groups only those
    runs instead of every run in the time range (a semi-join, ~10x faster for
    one run on a 10M-event ledger). A run's status still comes from all of its
    events in the time range."""
    events = dialect.final("events")
    scope = ""
    if scope_where and scope_where != time_where:
        runs = f"SELECT run_id FROM {events} WHERE run_id IS NOT NULL AND {scope_where}"
        scope = f" AND {dialect.in_select('run_id', runs)}"
    return f"""run_last AS (
    SELECT run_id, {last_model_status_sql(dialect)} AS last_status
    FROM {events} WHERE run_id IS NOT NULL AND {time_where}{scope} GROUP BY run_id
), {_run_status_tail(dialect)}"""


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


def _metric_sql(dialect: Dialect, m: Metric) -> str:
    return _spelled(dialect, m.sql)


def _spelled(dialect: Dialect, sql: str) -> str:
    return _QUANTILE.sub(lambda g: dialect.quantile(g.group(1), float(g.group(2))), sql)


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
) -> ReportResult:
    """Roll the ledger's events up by ``by`` dimensions into ``metrics``.

    ``filters`` maps a dimension to a value or a list of values (``None``
    matches missing values); ``since`` is inclusive, ``until`` exclusive.
    ``order_by`` names dimensions or metrics, ``-name`` for descending
    (default: the first money metric, descending). Money is ``Decimal``.

    >>> rows = report(store, by=["workflow"], metrics=["total_cost", "runs",
    ...               "cost_per_successful_run"])  # doctest: +SKIP
    >>> rows[0]["cost_per_successful_run"]  # doctest: +SKIP
    Decimal('6.250000000000')
    """
    dialect = store.dialect
    dims = [resolve_dimension(b, dialect, payload_bands, input_bands) for b in by]
    wanted, sql_metrics = resolve_metrics(list(metrics or DEFAULT_METRICS), catalog)
    names = [d.name for d in dims] + [m.name for m in wanted]
    if len(set(names)) != len(names):
        raise ReportError(f"a report column appears twice: {names}")
    where = where_clause(dialect, filters, since, until, payload_bands=payload_bands, input_bands=input_bands)
    time_where = where_clause(dialect, None, since, until)
    raw = _index_plan(store, dims, wanted, sql_metrics, filters, (since, until), where, limit, order_by)
    if raw is None:
        raw = _run_plan(store, dims, wanted, sql_metrics, where, time_where, limit, order_by)
    rows = [_finish_row(r, dims, wanted, sql_metrics) for r in raw]
    return ReportResult(
        rows,
        by=[d.name for d in dims],
        metrics=[m.name for m in wanted],
        unpriced=unpriced_line(store, where),
        units={m.name: m.unit for m in wanted},
    )


def _index_plan(
    store: LedgerStore,
    dims: list[Dimension],
    wanted: list[MetricDef],
    sql_metrics: list[Metric],
    filters: Mapping[str, FilterValue] | None,
    window: tuple[TimeBound, TimeBound],
    where: str,
    limit: int | None,
    order_by: Sequence[str] | None,
) -> list[dict[str, Any]] | None:
    """Distinct runs from the store's run index, the other metrics from one plain query, merged by group.

    Only for the built-in ``runs`` count without run success, when the index can
    answer (``run_counts.index_run_counts``); ``None`` sends the report down the
    ordinary plans.
    """
    per_run = [i for i, m in enumerate(sql_metrics) if m.per_run or m.needs_runs]
    if len(per_run) != 1 or sql_metrics[per_run[0]] != METRICS["runs"]:
        return None
    counts = index_run_counts(store, dims, filters, window[0], window[1], where)
    if counts is None:
        return None
    runs = per_run[0]
    others = [(i, m) for i, m in enumerate(sql_metrics) if i != runs]
    rows = store.query(_plain_sql(store.dialect, dims, others, where, sort_columns=True))
    for row in rows:
        row[f"m{runs}"] = counts.get(key_of(row, len(dims)), 0)
    rows = _sort_rows(rows, _order_keys(dims, wanted, sql_metrics, order_by))
    return rows[: int(limit)] if limit is not None else rows


def _plain_sql(
    dialect: Dialect,
    dims: list[Dimension],
    metrics: list[tuple[int, Metric]],
    where: str,
    *,
    sort_columns: bool,
) -> str:
    """The metrics (``m<i>``) over the matching events by group, no run join (``count(*)`` keeps groups)."""
    select = [f"{d.sql} AS d{i}" for i, d in enumerate(dims)]
    if sort_columns:
        select += [f"{d.sort_sql} AS s{i}" for i, d in enumerate(dims) if d.sort_sql]
    select += [f"{_metric_sql(dialect, m)} AS m{i}" for i, m in metrics]
    group = f" GROUP BY {', '.join(d.sql for d in dims)}" if dims else ""
    return (
        f"SELECT {', '.join([*select, 'count(*) AS _n'])} FROM {dialect.final('events')} WHERE {where}{group}"
    )


def _run_plan(
    store: LedgerStore,
    dims: list[Dimension],
    wanted: list[MetricDef],
    sql_metrics: list[Metric],
    where: str,
    time_where: str,
    limit: int | None,
    order_by: Sequence[str] | None,
) -> list[dict[str, Any]]:
    """Query the store for the raw rows (``d<i>``, ``s<i>``, ``m<i>`` columns).

    Without run success or a distinct count of runs, one query. With them, the metrics that split into per-run
    partials go through the two-stage query (:func:`_staged_sql`); any others
    (quantiles, distinct counts of other columns) are computed by a plain
    query of their own, without the run join, and the two are merged by group.
    A custom run metric without ``combine`` keeps the single-stage join.
    """
    dialect = store.dialect
    # A distinct count of runs alone is staged on DuckDB only: ClickHouse's uniqExact
    # already counts 2.5M runs as fast as a second grouping stage would.
    per_run = [m for m in sql_metrics if m.needs_runs or (m.per_run and dialect.stage_run_counts)]
    if not per_run or any(m.combine is None for m in per_run):
        sql = _rollup_sql(dialect, dims, wanted, sql_metrics, where, time_where, limit, order_by)
        return store.query(sql)
    staged = [(i, m) for i, m in enumerate(sql_metrics) if m.combine is not None]
    rest = [(i, m) for i, m in enumerate(sql_metrics) if m.combine is None]
    head, inner = _staged_sql(dialect, dims, staged, where, time_where)
    if not rest:
        return store.query(_ordered(head, inner, dims, wanted, sql_metrics, limit, order_by))
    rows = store.query(head + inner)
    others = store.query(_plain_sql(dialect, dims, rest, where, sort_columns=False))
    dim_keys = [f"d{i}" for i in range(len(dims))]
    by_group = {tuple(r[k] for k in dim_keys): r for r in others}
    for row in rows:
        extra = by_group.get(tuple(row[k] for k in dim_keys), {})
        for i, _ in rest:
            row[f"m{i}"] = extra.get(f"m{i}")
    rows = _sort_rows(rows, _order_keys(dims, wanted, sql_metrics, order_by))
    return rows[: int(limit)] if limit is not None else rows


def _rollup_sql(
    dialect: Dialect,
    dims: list[Dimension],
    wanted: list[MetricDef],
    sql_metrics: list[Metric],
    where: str,
    time_where: str,
    limit: int | None,
    order_by: Sequence[str] | None,
) -> str:
    """One single-stage query: every metric over the matching events (joined to run status if needed)."""
    events = dialect.final("events")
    needs_runs = any(m.needs_runs for m in sql_metrics)
    select = [f"{d.sql} AS d{i}" for i, d in enumerate(dims)]
    select += [f"{d.sort_sql} AS s{i}" for i, d in enumerate(dims) if d.sort_sql]
    select += [f"{_metric_sql(dialect, m)} AS m{i}" for i, m in enumerate(sql_metrics)]
    group = f" GROUP BY {', '.join(d.sql for d in dims)}" if dims else ""
    if needs_runs:
        head = f"WITH {run_status_ctes(dialect, time_where, where)}, ev AS (\n"
        head += "    SELECT e.*, CASE WHEN e.run_id IS NULL THEN NULL ELSE s.run_ok END AS run_ok\n"
        head += f"    FROM (SELECT * FROM {events} WHERE {where}) AS e\n"
        head += "    LEFT JOIN run_status s ON e.run_id = s.run_id\n)\n"
        inner = f"SELECT {', '.join(select)} FROM ev{group}"
    else:
        head = ""
        inner = f"SELECT {', '.join(select)} FROM {events} WHERE {where}{group}"
    return _ordered(head, inner, dims, wanted, sql_metrics, limit, order_by)


def _ordered(
    head: str,
    inner: str,
    dims: list[Dimension],
    wanted: list[MetricDef],
    sql_metrics: list[Metric],
    limit: int | None,
    order_by: Sequence[str] | None,
) -> str:
    order = _order_sql(dims, wanted, sql_metrics, order_by)
    tail = f" LIMIT {int(limit)}" if limit is not None else ""
    return f"{head}SELECT * FROM ({inner}) AS t ORDER BY {order}{tail}"


def _staged_sql(
    dialect: Dialect,
    dims: list[Dimension],
    staged: list[tuple[int, Metric]],
    where: str,
    time_where: str,
) -> tuple[str, str]:
    """Per-run metrics in two stages: group the matching events by the report's
    dimensions and ``run_id`` into partial aggregates, join each partial row (not
    each event) to its run's status, then combine the partials per group.

    A run is counted with ``count(run_id)`` over partial rows instead of a
    ``count(DISTINCT ...)`` over events, and the join touches one row per run
    and group: on 10M events in 2.5M runs this is ~2x faster than joining every
    event. With no filter besides time (DuckDB), the first stage also yields each
    group's last model event, so run status needs no second pass over the events.
    Without run success (``runs`` alone) there is no join at all.
    Returns the ``WITH`` head and the final ``SELECT``.
    """
    events = dialect.final("events")
    status = any(m.needs_runs for _, m in staged)
    parts: dict[str, str] = {}
    for _, m in staged:
        for p in m.parts:
            parts.setdefault(p, f"q{len(parts)}")
    whole_runs = where == time_where  # every event of a run in the window is in the first stage
    # With no dimension besides the run, the first stage has one row per run: its last model
    # event is the run's, so status needs neither a regrouping nor a second pass (any store).
    per_run_rows = status and whole_runs and all(d.name == "run_id" for d in dims)
    reuse = status and whole_runs and dialect.status_from_first_stage and not per_run_rows
    first = [f"{d.sql} AS d{i}" for i, d in enumerate(dims)]
    first += [f"{d.sort_sql} AS _s{i}" for i, d in enumerate(dims) if d.sort_sql]
    first += ["run_id AS _run", *(f"{_spelled(dialect, sql)} AS {alias}" for sql, alias in parts.items())]
    if reuse or per_run_rows:
        first += [f"{last_model_at_sql(dialect)} AS _la", f"{last_model_status_sql(dialect)} AS _ls"]
    group = ", ".join([*(d.sql for d in dims), "run_id"])
    part = f"part AS (\n    SELECT {', '.join(first)}\n"
    part += f"    FROM {events} WHERE {where} GROUP BY {group}\n)"
    if not status:
        return f"WITH {part}, staged AS (SELECT p.*, p._run AS run_id FROM part AS p)\n", _second_stage(
            dims, staged, parts
        )
    if per_run_rows:
        head = f"""WITH {part}, {_run_outcome_cte(dialect)}, staged AS (
    SELECT p.*, p._run AS run_id,
           CASE WHEN p._run IS NULL THEN NULL WHEN coalesce(o.n, 0) > 0 THEN o.ok = 1
                ELSE coalesce(p._ls = 'success', FALSE) END AS run_ok
    FROM part AS p LEFT JOIN run_outcome AS o ON p._run = o.run_id
)
"""
        return head, _second_stage(dims, staged, parts)
    if reuse:
        runs = f"""run_last AS (
    SELECT _run AS run_id, {dialect.arg_max("_ls", "_la")} AS last_status
    FROM part WHERE _run IS NOT NULL GROUP BY _run
), {_run_status_tail(dialect)}"""
    else:
        runs = run_status_ctes(dialect, time_where, where)
    head = f"""WITH {part}, {runs}, staged AS (
    SELECT p.*, p._run AS run_id, CASE WHEN p._run IS NULL THEN NULL ELSE s.run_ok END AS run_ok
    FROM part AS p LEFT JOIN run_status AS s ON p._run = s.run_id
)
"""
    return head, _second_stage(dims, staged, parts)


def _second_stage(dims: list[Dimension], staged: list[tuple[int, Metric]], parts: dict[str, str]) -> str:
    second = [f"d{i}" for i in range(len(dims))]
    second += [f"min(_s{i}) AS s{i}" for i, d in enumerate(dims) if d.sort_sql]
    for i, m in staged:
        combine = m.combine or ""
        for k, p in enumerate(m.parts):
            combine = combine.replace(f"${k}", parts[p])
        second.append(f"{combine} AS m{i}")
    regroup = f" GROUP BY {', '.join(f'd{i}' for i in range(len(dims)))}" if dims else ""
    return f"SELECT {', '.join(second)} FROM staged{regroup}"


OrderKey = tuple[str | tuple[str, str], bool]
"""A column alias (or a ratio's numerator and denominator aliases) and whether descending."""


def _order_keys(
    dims: list[Dimension], wanted: list[MetricDef], sql_metrics: list[Metric], order_by: Sequence[str] | None
) -> list[OrderKey]:
    col: dict[str, str | tuple[str, str]] = {m.name: f"m{i}" for i, m in enumerate(sql_metrics)}
    for i, d in enumerate(dims):
        col[d.name] = f"s{i}" if d.sort_sql else f"d{i}"
    for m in wanted:
        if isinstance(m, Ratio):
            num, den = col[m.numerator], col[m.denominator]
            assert isinstance(num, str) and isinstance(den, str)
            col[m.name] = (num, den)
    if order_by is None:
        money = [m.name for m in wanted if m.unit == "usd"]
        order_by = [f"-{money[0]}"] if money else ([f"-{wanted[0].name}"] if wanted else [])
    keys: list[OrderKey] = []
    for item in order_by:
        name, desc = (item[1:], True) if item.startswith("-") else (item, False)
        name = name if name in col else canonical_dimension(name)
        if name not in col:
            raise ReportError(f"cannot order by {name!r}: order by one of {', '.join(col)}")
        keys.append((col[name], desc))
    keys += [(col[d.name], False) for d in dims]
    return keys


def _order_sql(
    dims: list[Dimension], wanted: list[MetricDef], sql_metrics: list[Metric], order_by: Sequence[str] | None
) -> str:
    keys = []
    for column, desc in _order_keys(dims, wanted, sql_metrics, order_by):
        if isinstance(column, str):
            expr = column
        else:
            expr = f"(CAST({column[0]} AS DOUBLE) / NULLIF({column[1]}, 0))"
        keys.append(f"{expr} {'DESC' if desc else 'ASC'} NULLS LAST")
    return ", ".join(keys) if keys else "1"


def _sort_rows(rows: list[dict[str, Any]], keys: list[OrderKey]) -> list[dict[str, Any]]:
    """Python's spelling of :func:`_order_sql` (NULLS LAST both ways), for merged results."""

    def value(row: dict[str, Any], column: str | tuple[str, str]) -> Any:
        if isinstance(column, str):
            return row[column]
        num, den = row[column[0]], row[column[1]]
        return None if num is None or not den else float(num) / float(den)

    ordered = list(rows)
    for column, desc in reversed(keys):  # stable sorts, least significant key first
        values = [value(r, column) for r in ordered]
        # (present, value) sorted descending, or (missing, value) ascending: NULLs last either way.
        flagged = [((v is not None) if desc else (v is None), 0 if v is None else v) for v in values]
        # reverse=True keeps equal keys in their order too: Python's sort stays stable.
        order = sorted(range(len(ordered)), key=flagged.__getitem__, reverse=desc)
        ordered = [ordered[i] for i in order]
    return ordered


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
    """Count unpriced events matching ``where`` and list their (kind, provider, model)."""
    narrow = store.dialect.candidates("events", "unpriced")
    rows = store.query(
        f"SELECT kind, provider, model, count(*) AS n FROM {store.dialect.final('events')} "
        f"WHERE unpriced AND {narrow} AND {where} GROUP BY kind, provider, model "
        "ORDER BY n DESC, kind ASC, provider ASC NULLS LAST, model ASC NULLS LAST"
    )
    models = tuple(
        {"kind": r["kind"], "provider": r["provider"], "model": r["model"], "events": int(r["n"])}
        for r in rows
    )
    return UnpricedLine(sum(m["events"] for m in models), models)
