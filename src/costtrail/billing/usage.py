"""Measuring what a plan's charges price: one quantity per customer and charge, in few queries.

Every charge is a *measure*: a metric over the customer's events (or runs, or
outcomes) in the period, narrowed by the charge's ``where``. All event
measures of all customers come from one grouped scan of the period; runs that
succeeded and outcomes add one query each when a plan prices them. The same
definitions list the rows behind a line (:func:`behind_sql`), so a line's rows
always sum to its quantity.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from costtrail.billing.plans import RUN_METRICS, TOKEN_METRICS, Charge
from costtrail.finance.period import Period
from costtrail.ledger.store import Dialect, LedgerStore
from costtrail.reports import run_status_ctes

_QUANTITY_SQL: dict[str, str] = {
    **{m: m for m in TOKEN_METRICS},
    "calls": "request_count",
    "events": "1",
    "cost": "cost_usd",
}


@dataclass(frozen=True)
class Measured:
    """One customer's quantity of one measure, the ledger cost behind it and its unpriced events."""

    quantity: Decimal = Decimal(0)
    cost: Decimal | None = None
    unpriced_events: int = 0


@dataclass
class CustomerUsage:
    """What the ledger holds for one customer in a period."""

    customer_id: str
    plan_tier: str | None
    events: int
    cost: Decimal | None
    unpriced_events: int
    measures: dict[str, Measured] = field(default_factory=dict)
    price_refs: dict[str, int] = field(default_factory=dict)


def measure_key(charge: Charge) -> str:
    """Charges with the same metric and filter share one measure."""
    where = ";".join(f"{k}={','.join(v)}" for k, v in sorted(charge.where.items()))
    return f"{charge.metric}|{where}"


def where_sql(dialect: Dialect, charge: Charge) -> str:
    """The charge's ``where`` as SQL over the events table (``TRUE`` when it has none)."""
    parts = [
        f"{column} IN ({', '.join(dialect.literal(v) for v in values)})"
        for column, values in sorted(charge.where.items())
    ]
    return " AND ".join(parts) if parts else "TRUE"


def counted_sql(dialect: Dialect, charge: Charge) -> str:
    """The events that count towards an event charge: matching its where, with a quantity."""
    cond = where_sql(dialect, charge)
    if charge.metric == "cost":
        return _and(cond, "NOT unpriced")
    if charge.metric in ("events", "calls"):
        return cond
    return _and(cond, f"{_QUANTITY_SQL[charge.metric]} > 0")


def customer_period_sql(dialect: Dialect, period: Period, customer: str | None = None) -> str:
    who = "customer_id IS NOT NULL" if customer is None else f"customer_id = {dialect.literal(customer)}"
    return f"{period.where('started_at', dialect.literal)} AND {who}"


def measure(store: LedgerStore, period: Period, charges: Iterable[Charge]) -> dict[str, CustomerUsage]:
    """Every customer's usage in ``period`` for every distinct measure of ``charges``."""
    d = store.dialect
    unique = {measure_key(c): c for c in charges}
    customers = _event_measures(store, period, unique)
    for key, charge in unique.items():
        if charge.metric == "successful_runs":
            _fill(customers, key, _successful_runs(store, period, charge))
        elif charge.outcome is not None:
            _fill(customers, key, _outcomes(store, period, charge.outcome))
    refs = store.query(
        f"SELECT customer_id, price_ref, count(*) AS n FROM {d.final('events')} "
        f"WHERE {customer_period_sql(d, period)} AND price_ref IS NOT NULL GROUP BY customer_id, price_ref"
    )
    for r in refs:
        if r["customer_id"] in customers:
            customers[r["customer_id"]].price_refs[str(r["price_ref"])] = int(r["n"])
    return customers


def _dec(value: Any) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(value or 0)


def _and(*parts: str) -> str:
    """Conditions joined by AND, leaving out ``TRUE`` (so equal conditions read as equal SQL)."""
    kept = [p for p in parts if p != "TRUE"]
    return " AND ".join(kept) if kept else "TRUE"


class _Aggregates:
    """The SELECT list of one grouped scan; an aggregate asked twice is computed once."""

    def __init__(self) -> None:
        self.aliases: dict[str, str] = {}

    def add(self, sql: str) -> str:
        return self.aliases.setdefault(sql, f"a{len(self.aliases)}")

    def sum_if(self, cond: str, value: str, otherwise: str = "") -> str:
        if cond == "TRUE":
            return self.add(f"sum({value})")
        return self.add(f"sum(CASE WHEN {cond} THEN {value}{otherwise} END)")

    def select(self) -> str:
        return ", ".join(f"{sql} AS {alias}" for sql, alias in self.aliases.items())


def _event_measures(
    store: LedgerStore, period: Period, unique: dict[str, Charge]
) -> dict[str, CustomerUsage]:
    d = store.dialect
    agg = _Aggregates()
    base = (
        agg.add("max(plan_tier)"),
        agg.add("count(*)"),
        agg.sum_if("NOT unpriced", "cost_usd"),
        agg.sum_if("unpriced", "1", " ELSE 0"),
    )
    names: dict[str, tuple[str, str, str]] = {}
    for key, charge in unique.items():
        if charge.metric == "successful_runs" or charge.outcome is not None:
            continue
        cond = where_sql(d, charge)
        if charge.metric == "runs":
            behind = _and(cond, "run_id IS NOT NULL")
            q = agg.add(f"count(DISTINCT CASE WHEN {behind} THEN run_id END)")
        else:
            behind = counted_sql(d, charge)
            q = agg.sum_if(behind, _QUANTITY_SQL[charge.metric], " ELSE 0")
        if charge.metric == "cost":
            behind = cond
        c = agg.sum_if(_and(behind, "NOT unpriced"), "cost_usd")
        u = agg.sum_if(_and(behind, "unpriced"), "1", " ELSE 0")
        names[key] = (q, c, u)
    rows = store.query(
        f"SELECT customer_id, {agg.select()} FROM {d.final('events')} "
        f"WHERE {customer_period_sql(d, period)} GROUP BY customer_id"
    )
    out: dict[str, CustomerUsage] = {}
    tier, n, cost, unpriced = base
    for r in rows:
        events, n_unpriced = int(r[n]), int(r[unpriced] or 0)
        usage = CustomerUsage(
            str(r["customer_id"]), r[tier], events, _cost(r[cost], events, n_unpriced), n_unpriced
        )
        for key, (q, c, u) in names.items():
            usage.measures[key] = Measured(_dec(r[q]), r[c], int(r[u] or 0))
        out[usage.customer_id] = usage
    return out


def _cost(value: Any, events: int, unpriced: int) -> Decimal | None:
    """The priced cost; ``None`` when every event is unpriced (never a $0 that looks real)."""
    if events and events == unpriced:
        return None
    return _dec(value)


def _fill(customers: dict[str, CustomerUsage], key: str, rows: list[dict[str, Any]]) -> None:
    for r in rows:
        usage = customers.get(str(r["customer_id"]))
        if usage is not None:
            usage.measures[key] = Measured(_dec(r["q"]), r["c"], int(r["u"] or 0))


def _successful_runs(store: LedgerStore, period: Period, charge: Charge) -> list[dict[str, Any]]:
    """Runs that succeeded per customer: the customer's runs (one row each, with their cost) joined
    to the run status, rather than every event to it."""
    d = store.dialect
    time_where = period.where("started_at", d.literal)
    cond = _and(customer_period_sql(d, period), where_sql(d, charge), "run_id IS NOT NULL")
    return store.query(
        f"WITH {run_status_ctes(d, time_where)}, customer_run AS ("
        "SELECT customer_id, run_id, sum(CASE WHEN NOT unpriced THEN cost_usd END) AS c, "
        "sum(CASE WHEN unpriced THEN 1 ELSE 0 END) AS u "
        f"FROM {d.final('events')} WHERE {cond} GROUP BY customer_id, run_id) "
        "SELECT cr.customer_id AS customer_id, count(*) AS q, sum(cr.c) AS c, sum(cr.u) AS u "
        "FROM customer_run AS cr JOIN run_status AS s ON cr.run_id = s.run_id "
        "WHERE s.run_ok GROUP BY cr.customer_id"
    )


def outcome_where(dialect: Dialect, period: Period, outcome: str, customer: str | None = None) -> str:
    who = "customer_id IS NOT NULL" if customer is None else f"customer_id = {dialect.literal(customer)}"
    return (
        f"{period.where('recorded_at', dialect.literal)} AND {who} AND success "
        f"AND outcome = {dialect.literal(outcome)}"
    )


def _outcomes(store: LedgerStore, period: Period, outcome: str) -> list[dict[str, Any]]:
    """Successful outcomes of one name per customer; the cost behind them is their runs' cost."""
    d = store.dialect
    where = outcome_where(d, period, outcome)
    counts = store.query(
        f"SELECT customer_id, count(*) AS q FROM {d.final('outcomes')} WHERE {where} GROUP BY customer_id"
    )
    costs = {
        r["customer_id"]: r
        for r in store.query(
            f"SELECT e.customer_id AS customer_id, sum(CASE WHEN NOT e.unpriced THEN e.cost_usd END) AS c, "
            f"sum(CASE WHEN e.unpriced THEN 1 ELSE 0 END) AS u FROM {d.final('events')} AS e "
            f"WHERE {customer_period_sql(d, period)} AND e.run_id IN "
            f"(SELECT run_id FROM {d.final('outcomes')} WHERE {where}) GROUP BY e.customer_id"
        )
    }
    return [
        {
            "customer_id": r["customer_id"],
            "q": r["q"],
            **{k: costs.get(r["customer_id"], {}).get(k) for k in "cu"},
        }
        for r in counts
    ]


def behind_sql(dialect: Dialect, charge: Charge, period: Period, customer: str) -> str:
    """The rows behind one customer's line, each with its ``quantity``: they sum to the line's quantity."""
    events = dialect.final("events")
    own = customer_period_sql(dialect, period, customer)
    cond = where_sql(dialect, charge)
    if charge.outcome is not None:
        return (
            "SELECT 'outcome' AS row_kind, outcome_id AS id, run_id, recorded_at AS occurred_at, "
            f"outcome AS detail, 1 AS quantity FROM {dialect.final('outcomes')} "
            f"WHERE {outcome_where(dialect, period, charge.outcome, customer)} "
            "ORDER BY recorded_at, outcome_id"
        )
    if charge.metric in RUN_METRICS:
        ok = ""
        if charge.metric == "successful_runs":
            status = run_status_ctes(dialect, period.where("started_at", dialect.literal))
            ok = f" AND run_id IN (WITH {status} SELECT run_id FROM run_status WHERE run_ok)"
        return (
            "SELECT 'run' AS row_kind, run_id AS id, run_id, min(started_at) AS occurred_at, "
            "min(workflow) AS detail, 1 AS quantity, count(*) AS events, "
            "sum(CASE WHEN NOT unpriced THEN cost_usd END) AS cost, "
            "sum(CASE WHEN unpriced THEN 1 ELSE 0 END) AS unpriced_events "
            f"FROM {events} WHERE {own} AND {cond} AND run_id IS NOT NULL{ok} "
            "GROUP BY run_id ORDER BY occurred_at, run_id"
        )
    return (
        "SELECT 'event' AS row_kind, event_uuid, event_id, run_id, started_at AS occurred_at, "
        f"model AS detail, {_QUANTITY_SQL[charge.metric]} AS quantity, cost_usd AS cost, unpriced "
        f"FROM {events} WHERE {own} AND {counted_sql(dialect, charge)} ORDER BY started_at, event_uuid"
    )
