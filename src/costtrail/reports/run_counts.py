"""Distinct runs per group from the store's run index, exact, without grouping every event by run.

A report's ``runs`` metric is ``count(DISTINCT run_id)`` over the matching
events. When the report groups and filters only by run-level attribution
(:data:`~costtrail.ledger.run_index.RUN_INDEX_DIMS`) and ``day``, the count
splits into two disjoint sets of runs:

* **decided** runs: every event of the run has one value of each dimension
  the report uses, and one day, fully inside the time window. Each counts
  once, in the group its values name: ``count(*)`` over index rows.
* **undecided** runs (the run crossed midnight, changed workflow, or its day
  is cut by a window that does not start or end at midnight): counted from
  their own events with ``count(DISTINCT run_id)``, the report's ordinary
  definition, over the few runs concerned.

Because the index only ever over-states a run's spread (see
``ledger/run_index.py``), a run it calls decided is; the sum is the same
number the events give. ``tests/contract/test_contract_run_index.py`` checks
that on both stores.

A store that keeps an index by run and day (``RunIndex.by_day``, ClickHouse)
answers reports grouped by day from it: the unit is then a (run, day) pair,
decided when its events of that day share each value the report uses.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, time, timedelta
from typing import Any

from costtrail.ledger.run_index import RUN_INDEX_DIMS, RunIndex, single_sql
from costtrail.ledger.store import Dialect, LedgerStore
from costtrail.reports.dimensions import Dimension, canonical_dimension
from costtrail.reports.filters import FilterValue, TimeBound, filter_sql, utc_naive

GroupKey = tuple[Any, ...]
_INLINE_RUNS = 10_000  # undecided runs sent back as a literal list (ClickHouse), beyond: a subquery


def index_answers(
    store: LedgerStore, dims: list[Dimension], filters: Mapping[str, FilterValue] | None, since: TimeBound
) -> RunIndex | None:
    """The store's run index when it can count a report's runs: it keeps one, the report groups
    and filters by run-level dimensions (and day) only, and its window starts where the index is
    exact. ``None`` otherwise (no query is made)."""
    index = store.run_index()
    if index is None:
        return None
    if any(d.name != "day" and d.name not in RUN_INDEX_DIMS for d in dims):
        return None
    if any(canonical_dimension(k) not in RUN_INDEX_DIMS for k in (filters or {})):
        return None
    lo = utc_naive(since)
    if index.complete_since is not None and (lo is None or lo.date() < index.complete_since):
        return None
    return index


def index_run_counts(
    store: LedgerStore,
    dims: list[Dimension],
    filters: Mapping[str, FilterValue] | None,
    since: TimeBound,
    until: TimeBound,
    where: str,
) -> dict[GroupKey, int] | None:
    """Runs per group (keyed by the dimension values in order), or ``None`` when the index cannot answer.

    ``where`` is the report's own WHERE clause (window and filters) for the
    undecided runs' events.
    """
    index = index_answers(store, dims, filters, since)
    if index is None:
        return None
    names = [d.name for d in dims]
    lo, hi = utc_naive(since), utc_naive(until)
    if index.by_day is not None and "day" in names:
        return _by_day_counts(store, index.by_day, dims, filters, lo, hi, where)
    dialect = store.dialect
    decided, touching = _window(dialect, lo, hi, "day_lo", "day_hi")
    decided = [*_single_valued(names, filters), "day_lo = day_hi", *decided]
    matching = _matching(dialect, filters)
    select = [f"{'day_lo' if n == 'day' else f'{n}_lo'} AS d{i}" for i, n in enumerate(names)]
    group = f" GROUP BY {', '.join(f'd{i}' for i in range(len(names)))}" if names else ""
    decided_sql = " AND ".join(decided)
    from_index = (
        f"SELECT {', '.join([*select, 'count(*) AS n'])} FROM {index.relation} AS x "
        f"WHERE {' AND '.join([decided_sql, *matching])}{group}"
    )
    undecided = " AND ".join([f"NOT ({decided_sql})", *touching])
    events = dialect.final("events")
    ev_select = [f"{d.sql} AS d{i}" for i, d in enumerate(dims)]
    ev_group = f" GROUP BY {', '.join(d.sql for d in dims)}" if dims else ""

    def from_events(runs: str) -> str:
        return (
            f"SELECT {', '.join([*ev_select, 'count(DISTINCT run_id) AS n'])} FROM {events} "
            f"WHERE {where} AND {dialect.in_select('run_id', runs)}{ev_group}"
        )

    counts: dict[GroupKey, int] = {}

    def add(rows: list[dict[str, Any]]) -> None:
        _add(counts, rows, len(names))

    undecided_runs = f"SELECT run_id FROM {index.relation} AS x WHERE {undecided}"
    if not index.read_once:
        # One round trip; DuckDB reads its index (or index + delta) twice at little cost.
        both = (
            f"SELECT * FROM ({from_index}) AS a UNION ALL SELECT * FROM ({from_events(undecided_runs)}) AS b"
        )
        add(store.query(both))
        return counts
    # ClickHouse reads the index through FINAL, which costs more while parts are unmerged: read it
    # once, returning the decided counts and (when few) the undecided runs' ids themselves.
    dec = f"({' AND '.join([decided_sql, *matching])})"
    picked = [f"if(dec, {'day_lo' if n == 'day' else f'{n}_lo'}, NULL) AS d{i}" for i, n in enumerate(names)]
    inner = ", ".join([f"{dec} AS dec", *picked, "run_id"])
    keys = ", ".join(["dec", *(f"d{i}" for i in range(len(names)))])
    rows = store.query(
        f"SELECT {keys}, count() AS n, groupArrayIf({_INLINE_RUNS + 1})(run_id, NOT dec) AS ids "
        f"FROM (SELECT {inner} FROM {index.relation} AS x WHERE {dec} OR ({undecided})) GROUP BY {keys}"
    )
    add([r for r in rows if r["dec"]])
    rest = [r for r in rows if not r["dec"]]
    if rest and int(rest[0]["n"]):
        ids = rest[0]["ids"]
        runs = ", ".join(dialect.literal(i) for i in ids) if len(ids) <= _INLINE_RUNS else undecided_runs
        add(store.query(from_events(runs)))
    return counts


def _by_day_counts(
    store: LedgerStore,
    relation: str,
    dims: list[Dimension],
    filters: Mapping[str, FilterValue] | None,
    lo: datetime | None,
    hi: datetime | None,
    where: str,
) -> dict[GroupKey, int]:
    """Runs per group of a report grouped by day, from the by-day index (one row per run and day).

    The groups hold the day, so a run counts once per day it has events on and its (run, day)
    pairs are disjoint: a pair whose events share each value the report uses, on a day wholly
    inside the window, counts once in the group those values name; the other pairs are counted
    from their own events. Read once, as ClickHouse's ``read_once``.
    """
    dialect = store.dialect
    names = [d.name for d in dims]
    decided, touching = _window(dialect, lo, hi, "day", "day")
    decided = [*_single_valued(names, filters), *decided]
    matching = _matching(dialect, filters)
    dec = f"({' AND '.join([*decided, *matching]) or 'TRUE'})"
    undecided = " AND ".join([f"NOT ({' AND '.join(decided) or 'TRUE'})", *touching])
    picked = [f"if(dec, {'day' if n == 'day' else f'{n}_lo'}, NULL) AS d{i}" for i, n in enumerate(names)]
    keys = ", ".join(["dec", *(f"d{i}" for i in range(len(names)))])
    rows = store.query(
        f"SELECT {keys}, count() AS n, groupArrayIf({_INLINE_RUNS + 1})((run_id, day), NOT dec) AS ids "
        f"FROM (SELECT {', '.join([f'{dec} AS dec', *picked, 'run_id', 'day'])} FROM {relation} AS x "
        f"WHERE {dec} OR ({undecided})) GROUP BY {keys}"
    )
    counts: dict[GroupKey, int] = {}

    def add(found: list[dict[str, Any]]) -> None:
        _add(counts, found, len(names))

    add([r for r in rows if r["dec"]])
    rest = [r for r in rows if not r["dec"]]
    if rest and int(rest[0]["n"]):
        ids = rest[0]["ids"]
        if len(ids) <= _INLINE_RUNS:
            pairs = ", ".join(f"({dialect.literal(run)}, {dialect.date_literal(day)})" for run, day in ids)
        else:
            pairs = f"SELECT run_id, day FROM {relation} AS x WHERE {undecided}"
        day_sql = next(d.sql for d in dims if d.name == "day")
        select = [f"{d.sql} AS d{i}" for i, d in enumerate(dims)]
        events = dialect.final("events")
        add(
            store.query(
                f"SELECT {', '.join([*select, 'count(DISTINCT run_id) AS n'])} FROM {events} "
                f"WHERE {where} AND {dialect.in_select(f'(run_id, {day_sql})', pairs)} "
                f"GROUP BY {', '.join(d.sql for d in dims)}"
            )
        )
    return counts


def _single_valued(names: list[str], filters: Mapping[str, FilterValue] | None) -> list[str]:
    """Conditions: one value of each dimension the report groups or filters by (day aside)."""
    used = {n for n in [*names, *(canonical_dimension(k) for k in (filters or {}))] if n != "day"}
    return [single_sql(n) for n in sorted(used)]


def _window(
    dialect: Dialect, lo: datetime | None, hi: datetime | None, first: str, last: str
) -> tuple[list[str], list[str]]:
    """Conditions on index rows whose days run from ``first`` to ``last``: wholly inside the
    window (decided), and touching it (else the row's runs have no event in the window)."""
    inside: list[str] = []
    touching: list[str] = []
    if lo is not None:
        first_full = lo.date() if lo.time() == time(0) else lo.date() + timedelta(days=1)
        inside.append(f"{first} >= {dialect.date_literal(first_full)}")
        touching.append(f"{last} >= {dialect.date_literal(lo.date())}")
    if hi is not None:
        # Days before the bound's own day are whole; the bound's day is cut (or excluded at midnight).
        inside.append(f"{first} < {dialect.date_literal(hi.date())}")
        touching.append(f"{first} <= {dialect.date_literal(hi.date())}")
    return inside, touching


def _matching(dialect: Dialect, filters: Mapping[str, FilterValue] | None) -> list[str]:
    """The report's filters on single-valued index rows (their ``_lo`` value is the value)."""
    out = []
    for name, value in (filters or {}).items():
        column = canonical_dimension(name)
        out.append(filter_sql(dialect, Dimension(column, f"{column}_lo"), value))
    return out


def _add(counts: dict[GroupKey, int], rows: list[dict[str, Any]], width: int) -> None:
    # A group can come back from both halves: its decided and undecided runs add up.
    for row in rows:
        key = tuple(_plain(row[f"d{i}"]) for i in range(width))
        counts[key] = counts.get(key, 0) + int(row["n"])


def _plain(value: Any) -> Any:
    """Group keys compare equal across the two queries (a DATE may come back as datetime on one path)."""
    if isinstance(value, datetime):
        return value.date()
    return value


def key_of(row: Mapping[str, Any], width: int) -> GroupKey:
    """A raw report row's group key (``d0``, ``d1``, ...), as :func:`index_run_counts` keys them."""
    return tuple(_plain(row[f"d{i}"]) for i in range(width))
