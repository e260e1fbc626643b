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
from costtrail.ledger.usage_rollup import UsageRollup, token_columns
from costtrail.reports import run_outcome_cte, run_status_ctes

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
        return and_(cond, "NOT unpriced")
    if charge.metric in ("events", "calls"):
        return cond
    return and_(cond, f"{_QUANTITY_SQL[charge.metric]} > 0")


def customer_period_sql(dialect: Dialect, period: Period, customer: str | None = None) -> str:
    who = "customer_id IS NOT NULL" if customer is None else f"customer_id = {dialect.literal(customer)}"
    return f"{period.where('started_at', dialect.literal)} AND {who}"


def measure(store: LedgerStore, period: Period, charges: Iterable[Charge]) -> dict[str, CustomerUsage]:
    """Every customer's usage in ``period`` for every distinct measure of ``charges``.

    From the store's usage rollup when it keeps one (the events' sums by day and customer, and
    one row per run); from the events otherwise, and for runs narrowed by a ``where``.
    """
    unique = {measure_key(c): c for c in charges}
    rollup = store.usage_rollup()
    if rollup is None:
        customers = _event_measures(store, period, unique)
        _price_refs(store, period, customers)
    else:
        customers = rollup_measures(store, rollup, period, unique)
        narrowed = {k: c for k, c in unique.items() if c.metric == "runs" and c.where}
        if narrowed:
            for cid, scanned in _event_measures(store, period, narrowed).items():
                if cid in customers:
                    customers[cid].measures.update(scanned.measures)
    # Runs and successful runs with no ``where``: from the rollup's run rows, in one read.
    whole = {k: c for k, c in unique.items() if c.metric in RUN_METRICS and not c.where}
    if rollup is not None and whole:
        counted = rollup_runs(store, rollup, period, {c.metric for c in whole.values()})
        for key, charge in whole.items():
            _fill(customers, key, counted[charge.metric])
    for key, charge in unique.items():
        if rollup is not None and key in whole:
            continue
        if charge.metric == "successful_runs":
            _fill(customers, key, _successful_runs(store, period, charge))
        elif charge.outcome is not None:
            _fill(customers, key, _outcomes(store, period, charge.outcome, rollup))
    return customers


def _price_refs(store: LedgerStore, period: Period, customers: dict[str, CustomerUsage]) -> None:
    d = store.dialect
    refs = store.query(
        f"SELECT customer_id, price_ref, count(*) AS n FROM {d.final('events')} "
        f"WHERE {customer_period_sql(d, period)} AND price_ref IS NOT NULL GROUP BY customer_id, price_ref"
    )
    for r in refs:
        if r["customer_id"] in customers:
            customers[r["customer_id"]].price_refs[str(r["price_ref"])] = int(r["n"])


def dec(value: Any) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(value or 0)


def and_(*parts: str) -> str:
    """Conditions joined by AND, leaving out ``TRUE`` (so equal conditions read as equal SQL)."""
    kept = [p for p in parts if p != "TRUE"]
    return " AND ".join(kept) if kept else "TRUE"


def sum_if_sql(cond: str, value: str, otherwise: str = "") -> str:
    if cond == "TRUE":
        return f"sum({value})"
    return f"sum(CASE WHEN {cond} THEN {value}{otherwise} END)"


class Aggregates:
    """The SELECT list of one grouped scan; an aggregate asked twice is computed once."""

    def __init__(self) -> None:
        self.aliases: dict[str, str] = {}

    def add(self, sql: str) -> str:
        return self.aliases.setdefault(sql, f"a{len(self.aliases)}")

    def sum_if(self, cond: str, value: str, otherwise: str = "") -> str:
        return self.add(sum_if_sql(cond, value, otherwise))

    def select(self) -> str:
        return ", ".join(f"{sql} AS {alias}" for sql, alias in self.aliases.items())


def _event_measures(
    store: LedgerStore, period: Period, unique: dict[str, Charge]
) -> dict[str, CustomerUsage]:
    d = store.dialect
    agg = Aggregates()
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
            behind = and_(cond, "run_id IS NOT NULL")
            q = agg.add(f"count(DISTINCT CASE WHEN {behind} THEN run_id END)")
        else:
            behind = counted_sql(d, charge)
            q = agg.sum_if(behind, _QUANTITY_SQL[charge.metric], " ELSE 0")
        if charge.metric == "cost":
            behind = cond
        c = agg.sum_if(and_(behind, "NOT unpriced"), "cost_usd")
        u = agg.sum_if(and_(behind, "unpriced"), "1", " ELSE 0")
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
            str(r["customer_id"]), r[tier], events, priced_cost(r[cost], events, n_unpriced), n_unpriced
        )
        for key, (q, c, u) in names.items():
            usage.measures[key] = Measured(dec(r[q]), r[c], int(r[u] or 0))
        out[usage.customer_id] = usage
    return out


def priced_cost(value: Any, events: int, unpriced: int) -> Decimal | None:
    """The priced cost; ``None`` when every event is unpriced (never a $0 that looks real)."""
    if events and events == unpriced:
        return None
    return dec(value)


def _fill(customers: dict[str, CustomerUsage], key: str, rows: list[dict[str, Any]]) -> None:
    for r in rows:
        usage = customers.get(str(r["customer_id"]))
        if usage is not None:
            usage.measures[key] = Measured(dec(r["q"]), r["c"], int(r["u"] or 0))


def _successful_runs(
    store: LedgerStore, period: Period, charge: Charge | None, runs: str | None = None
) -> list[dict[str, Any]]:
    """Runs that succeeded per customer: the customer's runs (one row each, with their cost) joined
    to the run status, rather than every event to it. ``runs``: only these (a query of run ids)."""
    d = store.dialect
    time_where = period.where("started_at", d.literal)
    narrowed = "TRUE" if charge is None else where_sql(d, charge)
    cond = and_(customer_period_sql(d, period), narrowed, "run_id IS NOT NULL")
    scope = None
    if runs is not None:
        cond = and_(cond, d.in_select("run_id", runs))
        scope = and_(time_where, d.in_select("run_id", runs))
    return store.query(
        f"WITH {run_status_ctes(d, time_where, scope)}, customer_run AS ("
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


def _outcomes(
    store: LedgerStore, period: Period, outcome: str, rollup: UsageRollup | None = None
) -> list[dict[str, Any]]:
    """Successful outcomes of one name per customer; the cost behind them is their runs' cost
    (from the rollup's run rows for runs whole in the period, when the store keeps one)."""
    d = store.dialect
    where = outcome_where(d, period, outcome)
    counts = store.query(
        f"SELECT customer_id, count(*) AS q FROM {d.final('outcomes')} WHERE {where} GROUP BY customer_id"
    )
    runs = f"SELECT run_id FROM {d.final('outcomes')} WHERE {where}"
    if rollup is None:
        rows = _run_costs(store, period, runs)
    else:
        whole, undecided = _run_split(d, rollup, period)
        had = d.in_select("r.run_id", runs)
        rows = [
            {**r, "q": 0}
            for r in store.query(
                "SELECT r.customer_lo AS customer_id, sum(r.cost_usd) AS c, sum(r.unpriced_events) AS u "
                f"FROM {rollup.runs} AS r WHERE {whole} AND {had} GROUP BY r.customer_lo"
            )
        ]
        cut = f"{undecided} AND {had}"
        if int(store.query(f"SELECT count(*) AS n FROM ({cut}) AS x")[0]["n"]):
            rows = _added(rows, [{**r, "q": 0} for r in _run_costs(store, period, cut)])
    costs = {r["customer_id"]: r for r in rows}
    return [
        {
            "customer_id": r["customer_id"],
            "q": r["q"],
            **{k: costs.get(r["customer_id"], {}).get(k) for k in "cu"},
        }
        for r in counts
    ]


def _run_costs(store: LedgerStore, period: Period, runs: str) -> list[dict[str, Any]]:
    """The priced cost (``c``) and unpriced events (``u``) per customer of the runs ``runs`` selects."""
    d = store.dialect
    return store.query(
        f"SELECT e.customer_id AS customer_id, sum(CASE WHEN NOT e.unpriced THEN e.cost_usd END) AS c, "
        f"sum(CASE WHEN e.unpriced THEN 1 ELSE 0 END) AS u FROM {d.final('events')} AS e "
        f"WHERE {customer_period_sql(d, period)} AND {d.in_select('e.run_id', runs)} GROUP BY e.customer_id"
    )


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


def rollup_measures(
    store: LedgerStore, rollup: UsageRollup, period: Period, unique: dict[str, Charge]
) -> dict[str, CustomerUsage]:
    """The event measures of every customer from the daily rollup: one grouped read of small rows.

    Each measure's cost is ``NULL`` when no priced event is behind it, as over the events.
    """
    d = store.dialect
    agg = Aggregates()
    n, cost, unpriced = (
        agg.add("sum(events)"),
        agg.add(_priced_sum("TRUE", "events", "cost_usd")),
        agg.sum_if("unpriced", "events", " ELSE 0"),
    )
    names: dict[str, tuple[str, str, str]] = {}
    for key, charge in unique.items():
        if charge.metric not in _QUANTITY_SQL:
            continue
        cond = where_sql(d, charge)
        if charge.metric in TOKEN_METRICS:
            value, count, behind = token_columns(charge.metric)
        else:
            value, count, behind = _ROLLUP_VALUE[charge.metric], "events", "cost_usd"
        if charge.metric == "cost":
            q = agg.sum_if(and_(cond, "NOT unpriced"), value, " ELSE 0")
        else:
            q = agg.sum_if(cond, value, " ELSE 0")
        c = agg.add(_priced_sum(cond, count, behind))
        u = agg.sum_if(and_(cond, "unpriced"), count, " ELSE 0")
        names[key] = (q, c, u)
    days = _days_where(d, period, "day")
    rows = store.query(
        f"SELECT customer_id, {agg.select()} FROM {rollup.daily} WHERE {days} "
        f"GROUP BY customer_id HAVING sum(events) <> 0"
    )
    out: dict[str, CustomerUsage] = {}
    for r in rows:
        events, n_unpriced = int(r[n]), int(r[unpriced] or 0)
        usage = CustomerUsage(
            str(r["customer_id"]), None, events, priced_cost(r[cost], events, n_unpriced), n_unpriced
        )
        for key, (q, c, u) in names.items():
            usage.measures[key] = Measured(dec(r[q]), r[c], int(r[u] or 0))
        out[usage.customer_id] = usage
    # The plan tier and the price refs: the customer's rows that still hold events.
    for r in store.query(
        f"SELECT customer_id, plan_tier, price_ref, sum(events) AS n FROM {rollup.daily} WHERE {days} "
        "GROUP BY customer_id, plan_tier, price_ref HAVING sum(events) <> 0"
    ):
        found = out.get(str(r["customer_id"]))
        if found is None:
            continue
        tier = r["plan_tier"]
        if tier is not None and (found.plan_tier is None or tier > found.plan_tier):
            found.plan_tier = tier
        if r["price_ref"] is not None:
            ref = str(r["price_ref"])
            found.price_refs[ref] = found.price_refs.get(ref, 0) + int(r["n"])
    return out


_ROLLUP_VALUE = {"calls": "request_count", "events": "events", "cost": "cost_usd"}


def _priced_sum(cond: str, count: str, cost: str) -> str:
    """The cost of the priced events matching ``cond``; NULL when there are none."""
    priced = and_(cond, "NOT unpriced")
    return f"CASE WHEN {sum_if_sql(priced, count)} <> 0 THEN {sum_if_sql(priced, cost)} END"


def _days_where(dialect: Dialect, period: Period, column: str) -> str:
    lo, hi = dialect.date_literal(period.start.date()), dialect.date_literal(period.end.date())
    return f"{column} >= {lo} AND {column} < {hi}"


def rollup_runs(
    store: LedgerStore, rollup: UsageRollup, period: Period, metrics: set[str]
) -> dict[str, list[dict[str, Any]]]:
    """Runs and runs that succeeded per customer (by metric, each row ``q``, ``c``, ``u``).

    A run whose events all name one customer and fall inside the period counts from its rollup
    row, in one read for both metrics; the few others (cut by the period's edges, or shared by
    customers) from their events, as without the rollup.
    """
    d = store.dialect
    whole, undecided = _run_split(d, rollup, period)
    cols = ["count(*) AS q_runs", "sum(r.cost_usd) AS c_runs", "sum(r.unpriced_events) AS u_runs"]
    head = join = ""
    if "successful_runs" in metrics:
        head = f"WITH {run_outcome_cte(d)} "
        join = " LEFT JOIN run_outcome AS o ON r.run_id = o.run_id"
        ok = (
            "CASE WHEN coalesce(o.n, 0) > 0 THEN o.ok = 1 "
            "ELSE coalesce(r.last_model_status = 'success', FALSE) END"
        )
        cols += [
            f"sum(CASE WHEN {ok} THEN 1 ELSE 0 END) AS q_ok",
            f"sum(CASE WHEN {ok} THEN r.cost_usd END) AS c_ok",
            f"sum(CASE WHEN {ok} THEN r.unpriced_events ELSE 0 END) AS u_ok",
        ]
    rows = store.query(
        f"{head}SELECT r.customer_lo AS customer_id, {', '.join(cols)} FROM {rollup.runs} AS r{join} "
        f"WHERE {whole} GROUP BY r.customer_lo"
    )
    suffix = {"runs": "runs", "successful_runs": "ok"}
    out = {
        m: [{"customer_id": r["customer_id"], **{k: r[f"{k}_{suffix[m]}"] for k in "qcu"}} for r in rows]
        for m in metrics
    }
    cut = store.query(f"SELECT count(*) AS n FROM ({undecided}) AS x")
    if not cut or not int(cut[0]["n"]):
        return out
    if "successful_runs" in metrics:
        ok_rest = _successful_runs(store, period, None, runs=undecided)
        out["successful_runs"] = _added(out["successful_runs"], ok_rest)
    if "runs" in metrics:
        rest = store.query(
            "SELECT customer_id, count(DISTINCT run_id) AS q, "
            "sum(CASE WHEN NOT unpriced THEN cost_usd END) AS c, "
            f"sum(CASE WHEN unpriced THEN 1 ELSE 0 END) AS u FROM {d.final('events')} "
            f"WHERE {customer_period_sql(d, period)} AND {d.in_select('run_id', undecided)} "
            "GROUP BY customer_id"
        )
        out["runs"] = _added(out["runs"], rest)
    return out


def _run_split(dialect: Dialect, rollup: UsageRollup, period: Period) -> tuple[str, str]:
    """The condition on a run row for a run whole in ``period`` (one customer, inside it), and the
    query of the other runs that touch it (counted from their events)."""
    lo, hi = dialect.date_literal(period.start.date()), dialect.date_literal(period.end.date())
    whole = f"r.customer_lo = r.customer_hi AND NOT r.customer_null AND r.day_lo >= {lo} AND r.day_hi < {hi}"
    touching = f"r.day_hi >= {lo} AND r.day_lo < {hi}"
    return whole, f"SELECT r.run_id FROM {rollup.runs} AS r WHERE {touching} AND NOT ({whole})"


def _added(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per-customer ``q``, ``c``, ``u`` of two row sets added (a NULL cost stays NULL only if both are)."""
    out = {r["customer_id"]: dict(r) for r in a}
    for r in b:
        mine = out.setdefault(r["customer_id"], {"customer_id": r["customer_id"], "q": 0, "c": None, "u": 0})
        mine["q"] = int(mine["q"] or 0) + int(r["q"] or 0)
        mine["u"] = int(mine["u"] or 0) + int(r["u"] or 0)
        if r["c"] is not None:
            mine["c"] = dec(mine["c"]) + dec(r["c"])
    return list(out.values())
