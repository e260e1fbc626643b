"""Runs: the most expensive runs, every run's cost, and one run's steps in order."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from costtrail.ledger.store import LedgerStore
from costtrail.reports.dimensions import ReportError
from costtrail.reports.filters import NOT_NULL, FilterValue, TimeBound
from costtrail.reports.metrics import Metric
from costtrail.reports.rollup import ReportResult, report, unpriced_line

# Per-run columns; a run's events share its workflow and customer, so min() reads them.
_RUN_METRICS: tuple[Metric, ...] = (
    Metric("run_workflow", "min(workflow)", "text", "the run's workflow"),
    Metric("run_customer", "min(customer_id)", "text", "the run's customer"),
    Metric("run_started_at", "min(started_at)", "timestamp", "the run's first event"),
    Metric(
        "run_succeeded",
        "max(CASE WHEN run_ok THEN 1 ELSE 0 END)",
        "count",
        "1 when the run succeeded",
        needs_runs=True,
    ),
)
_RENAME = {
    "run_workflow": "workflow",
    "run_customer": "customer_id",
    "run_started_at": "started_at",
    "run_succeeded": "succeeded",
}


def run_costs(
    store: LedgerStore,
    filters: Mapping[str, FilterValue] | None = None,
    since: TimeBound = None,
    until: TimeBound = None,
    limit: int | None = None,
) -> ReportResult:
    """Every run's cost, most expensive first: ``run_id, workflow, customer_id, started_at,
    succeeded, total_cost, events, retries, unpriced_events``."""
    result = report(
        store,
        by=["run_id"],
        metrics=[*_RUN_METRICS, "total_cost", "events", "retries", "unpriced_events"],
        filters={"run_id": NOT_NULL, **(filters or {})},
        since=since,
        until=until,
        limit=limit,
        order_by=["-total_cost"],
    )
    rows = [{_RENAME.get(k, k): _run_value(k, v) for k, v in r.items()} for r in result]
    return ReportResult(
        rows,
        by=["run_id"],
        metrics=[_RENAME.get(m, m) for m in result.metrics],
        unpriced=result.unpriced,
        units={_RENAME.get(k, k): ("bool" if k == "run_succeeded" else u) for k, u in result.units.items()},
    )


def top_runs(
    store: LedgerStore,
    limit: int = 10,
    filters: Mapping[str, FilterValue] | None = None,
    since: TimeBound = None,
    until: TimeBound = None,
) -> ReportResult:
    """The ``limit`` most expensive runs (see :func:`run_costs` for the columns)."""
    return run_costs(store, filters, since, until, limit)


class AmbiguousRunId(ReportError):
    """A run id prefix that names more than one run; ``candidates`` are some of them."""

    def __init__(self, prefix: str, candidates: list[str]) -> None:
        shown = ", ".join(candidates[:MAX_CANDIDATES])
        more = " ..." if len(candidates) > MAX_CANDIDATES else ""
        super().__init__(f"run id {prefix!r} names more than one run: {shown}{more}; type more of it")
        self.prefix = prefix
        self.candidates = candidates[:MAX_CANDIDATES]


MAX_CANDIDATES = 10


def resolve_run_id(store: LedgerStore, given: str, tenant: str | None = None) -> str:
    """The run id ``given`` names: itself when a run has it, else the one run id that starts with it.

    Raises :class:`AmbiguousRunId` (with candidates) when several runs start with it and
    :class:`ReportError` when none does. ``tenant`` limits the search to that tenant's events.
    """
    d = store.dialect
    scope = f" AND tenant_id = {d.literal(tenant)}" if tenant is not None else ""
    events = d.final("events")
    if store.query(f"SELECT run_id FROM {events} WHERE run_id = {d.literal(given)}{scope} LIMIT 1"):
        return given
    rows = store.query(
        f"SELECT DISTINCT run_id FROM {events} "
        f"WHERE substr(run_id, 1, {len(given)}) = {d.literal(given)}{scope} "
        f"ORDER BY run_id LIMIT {MAX_CANDIDATES + 1}"
    ) if given else []  # fmt: skip
    if len(rows) == 1:
        return str(rows[0]["run_id"])
    if rows:
        raise AmbiguousRunId(given, [str(r["run_id"]) for r in rows])
    raise ReportError(f"no run {given!r} in the ledger: list runs with `costtrail runs --top 20`")


def _steps(store: LedgerStore, run_id: str) -> list[dict[str, Any]]:
    d = store.dialect
    return store.query(
        "SELECT started_at, step, agent, kind, provider, model, tool_name, status, retry_count, "
        "input_tokens, output_tokens, cache_read_tokens, latency_ms, cost_usd, unpriced "
        f"FROM {d.final('events')} WHERE run_id = {d.literal(run_id)} ORDER BY started_at ASC, event_uuid ASC"
    )


def run_steps(store: LedgerStore, run_id: str) -> dict[str, Any]:
    """One run (its id, or a prefix that names one run): its summary, outcomes and every event in time
    order with its cost and the running total.

    Returns ``{"run_id", "workflow", "customer_id", "succeeded", "total_cost", "unpriced_events",
    "outcomes": [...], "steps": [...], "unpriced": {...}, "incomplete": {...}}``; ``total_cost`` (and a step's
    ``cost_usd`` and ``cumulative_cost``) is ``None`` while nothing is priced.
    """
    d = store.dialect
    steps = _steps(store, run_id)
    if not steps:  # not a whole id: a unique prefix of one (or an error naming the candidates)
        run_id = resolve_run_id(store, run_id)
        steps = _steps(store, run_id)
    where = f"run_id = {d.literal(run_id)}"
    if not steps:
        raise ReportError(f"no run {run_id!r} in the ledger: list runs with `costtrail runs --top 20`")
    running: Decimal | None = None  # stays None (unpriced) until a step has a price
    for s in steps:
        if s["cost_usd"] is not None:
            running = s["cost_usd"] if running is None else running + s["cost_usd"]
        s["cumulative_cost"] = running
    summary = run_costs(store, filters={"run_id": run_id})[0]
    outcomes = store.query(
        f"SELECT outcome, success, value_usd, recorded_at FROM {d.final('outcomes')} "
        f"WHERE {where} ORDER BY recorded_at ASC"
    )
    line = unpriced_line(store, where)
    return {
        "run_id": run_id,
        "workflow": summary["workflow"],
        "customer_id": summary["customer_id"],
        "succeeded": summary["succeeded"],
        "total_cost": summary["total_cost"],
        "unpriced_events": summary["unpriced_events"],
        "outcomes": outcomes,
        "steps": steps,
        "unpriced": line.as_dict(),
        "incomplete": line.incomplete_dict(),
    }


def _run_value(key: str, value: Any) -> Any:
    return bool(value) if key == "run_succeeded" else value
