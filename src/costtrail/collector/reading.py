"""The read API's queries: one run's events, and a cost report grouped by dimensions.

A tenant-bound key sees only its tenant: the filter is added here, not left
to the caller.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from costtrail.ledger.rows import restore_event_id
from costtrail.ledger.store import LedgerStore
from costtrail.schema import DIMENSIONS

_RUN_COLUMNS = (
    "event_uuid, event_id, kind, started_at, ended_at, latency_ms, workflow, run_id, agent, step, status, "
    "error_type, "
    "provider, model, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens, "
    "tool_calls, tool_name, feature, customer_id, tenant_id, environment, cost_usd, cost_source, price_ref, "
    "unpriced"
)


class ReadError(ValueError):
    """A read parameter is wrong; ``field`` names it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def parse_since(value: str | None, *, now: datetime | None = None) -> datetime | None:
    """``7d``/``24h``/``30m`` before now, or an ISO 8601 date or time (UTC when no zone)."""
    if not value:
        return None
    now = now or datetime.now(UTC)
    units = {"d": "days", "h": "hours", "m": "minutes"}
    if value[-1:] in units and value[:-1].isdigit():
        return now - timedelta(**{units[value[-1]]: int(value[:-1])})
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise ReadError("since", f"since='{value}' is not a duration (7d, 24h) or an ISO 8601 date") from exc
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _where(store: LedgerStore, tenant: str | None, since: datetime | None, until: datetime | None) -> str:
    lit = store.dialect.literal
    clauses = ["TRUE"]
    if tenant is not None:
        clauses.append(f"tenant_id = {lit(tenant)}")
    if since is not None:
        clauses.append(f"started_at >= {lit(since.replace(tzinfo=None))}")
    if until is not None:
        clauses.append(f"started_at < {lit(until.replace(tzinfo=None))}")
    return " AND ".join(clauses)


def run_events(store: LedgerStore, run_id: str, tenant: str | None) -> list[dict[str, Any]]:
    """Every event of one run, in time order (only the tenant's when ``tenant`` is set)."""
    where = _where(store, tenant, None, None) + f" AND run_id = {store.dialect.literal(run_id)}"
    table = store.dialect.final("events")
    rows = store.query(f"SELECT {_RUN_COLUMNS} FROM {table} WHERE {where} ORDER BY started_at")
    for row in rows:
        row["event_id"] = restore_event_id(row.pop("event_uuid"), row["event_id"])
    return rows


def grouped_costs(
    store: LedgerStore,
    by: list[str],
    tenant: str | None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[dict[str, Any]]:
    """Cost, calls, tokens and failures grouped by ``by`` (envelope dimensions), most expensive first."""
    for name in by:
        if name not in DIMENSIONS:
            raise ReadError("by", f"cannot group by '{name}': choose from {', '.join(DIMENSIONS)}")
    keys = ", ".join(by)
    select = f"{keys}, " if by else ""
    group = f"GROUP BY {keys}" if by else ""
    sql = f"""
        SELECT {select}
            count(*) AS events,
            sum(cost_usd) AS cost_usd,
            sum(CASE WHEN unpriced THEN 1 ELSE 0 END) AS unpriced,
            sum(input_tokens) AS input_tokens,
            sum(output_tokens) AS output_tokens,
            count(DISTINCT run_id) AS runs,
            sum(CASE WHEN status IN ('failure', 'error', 'timeout') THEN 1 ELSE 0 END) AS failures
        FROM {store.dialect.final("events")}
        WHERE {_where(store, tenant, since, until)}
        {group}
        ORDER BY cost_usd DESC NULLS LAST
    """
    return store.query(sql)
