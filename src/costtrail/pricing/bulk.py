"""Pricing an Arrow table of events in bulk, exactly, without a per-event Python call.

Each row is mapped to a resolved price (its group, price period, time segment
and context tier band) with array operations; each distinct resolution is
computed once. Costs are then integer arithmetic in pico-dollars (1e-12 USD,
the ledger's scale): a price of $2.50 per million tokens is 2,500,000 pico-
dollars per token, so ``cost = sum(count * pico_price)`` is exact. The rare
resolutions that are not whole pico-dollars per unit (a repeating-decimal
price, a GPU-hour rate) and rows near int64's range take the slow lane: the
same Decimal code the per-event path uses, then rounded half-even to 1e-12.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from costtrail.pricing.costing import COST_QUANTUM, USAGE_REFUSED, cost_of
from costtrail.pricing.decomposition import QUERIES, RATE_FIELDS, Check
from costtrail.pricing.resolution import DAY_US, EPOCH, Cell, Resolver, Schedule

PICO = Decimal(10) ** 12
LIMIT_PICO = 10**18  # DECIMAL(18, 12)
_SAFE = 2**62
_GROUP_COLUMNS = ("kind", "provider", "model", "service_tier", "tool_name")
_COUNT_COLUMNS = (
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "input_audio_tokens",
    "output_audio_tokens",
    "reasoning_tokens",
    "cache_write_1h_tokens",
    "request_count",
    "query_count",
    "web_searches",
    "file_searches",
    "code_executions",
)
COST_TYPE = pa.decimal128(18, 12)


@dataclass
class _Resolutions:
    """The distinct resolved prices met in one table, as arrays indexed by resolution id."""

    cells: list[Cell] = field(default_factory=list)
    pico: list[list[int]] = field(default_factory=list)
    fast: list[bool] = field(default_factory=list)
    priced: list[bool] = field(default_factory=list)
    ref: list[int] = field(default_factory=list)
    refs: dict[str, int] = field(default_factory=dict)
    checks: dict[Check, list[int]] = field(default_factory=dict)

    def add(self, cell: Cell) -> int:
        first = len(self.cells)
        for band in cell.bands or (None,):
            r = len(self.cells)
            self.cells.append(cell)
            self.priced.append(not cell.unpriced)
            self.ref.append(self.refs.setdefault(cell.price_ref or "", len(self.refs)))
            if band is None:
                self.pico.append([0] * len(RATE_FIELDS))
                self.fast.append(False)
                continue
            scaled = [p * PICO for p in band.prices]
            whole = all(s == s.to_integral_value() and abs(s) < _SAFE for s in scaled)
            self.pico.append([int(s) for s in scaled] if whole else [0] * len(RATE_FIELDS))
            self.fast.append(whole and band.gpu is None)
            for check in band.checks:
                self.checks.setdefault(check, []).append(r)
        return first


def price_arrow(resolver: Resolver, table: pa.Table) -> pa.Table:
    """See :meth:`costtrail.pricing.Pricer.price_table`."""
    n = table.num_rows
    if n == 0:
        return table
    groups, g = _group_ids(resolver, table)
    ts = _timestamps_us(table.column("started_at"))
    day = ts // DAY_US
    period = _positions(g, day, [s.change_days for s in groups], 1 << 32, 1 << 31)
    segment = _positions(g, ts - day * DAY_US, [s.tod_bounds for s in groups], 1 << 37, 0)

    nseg = np.array([len(s.tod_bounds) + 1 for s in groups], dtype=np.int64)
    nper = np.array([len(s.change_days) + 1 for s in groups], dtype=np.int64)
    base = np.concatenate([[0], np.cumsum(nper * nseg)]).astype(np.int64)
    cid = base[g] + period * nseg[g] + segment
    res = _Resolutions()
    rbase = np.zeros(int(base[-1]), dtype=np.int64)
    thresholds: dict[int, tuple[int, ...]] = {}
    for c in np.flatnonzero(np.bincount(cid, minlength=int(base[-1]))):
        gi = int(np.searchsorted(base, c, side="right")) - 1
        p, s = divmod(int(c - base[gi]), int(nseg[gi]))
        cell = groups[gi].cell(p, s)
        rbase[c] = res.add(cell)
        if cell.thresholds:
            thresholds[int(c)] = cell.thresholds
    r = rbase[cid]
    counts = [_ints(table, name) for name in _COUNT_COLUMNS]
    counts[QUERIES] = np.where(counts[QUERIES] > 0, counts[QUERIES], 1)  # no query_count: one query
    if thresholds:
        r = r + _bands(cid, counts[0], thresholds, int(base[-1]))

    pico = np.array(res.pico, dtype=np.int64).reshape(len(res.cells), len(RATE_FIELDS))
    fast = np.array(res.fast)[r]
    priced = np.array(res.priced)[r]
    cost = np.zeros(n, dtype=np.int64)
    bound = 0
    for k in range(len(RATE_FIELDS)):
        column = pico[:, k]
        if column.any():
            cost += counts[k] * column[r]
            bound += int(np.abs(counts[k]).max()) * int(np.abs(column).max())
    if bound >= _SAFE:
        fast &= _small(counts, pico, r)
    valid = priced & ~_violations(res, counts, r) & ~_usage_refused(table)
    ok = valid & fast & (cost < LIMIT_PICO)

    refs = list(res.refs)
    ref_idx = np.array(res.ref, dtype=np.int32)[r]
    slow = np.flatnonzero(valid & ~fast)
    if len(slow):
        _slow_lane(table, slow, r, counts, res, cost, ok, ref_idx, refs)
    reported = _reported(table)
    incomplete = _incomplete(table)
    if incomplete.any():  # never priced exactly: the cost of their estimated tokens is an estimate
        seen = (counts[0] > 0) | (counts[1] > 0)  # input or output: no usage at all is no estimate
        table = _with_estimates(table, cost, ok & incomplete & ~reported & seen)
        ok &= ~incomplete
    return _with_costs(table, cost, ok & ~reported, ref_idx, refs, reported)


def _group_ids(resolver: Resolver, table: pa.Table) -> tuple[list[Schedule], np.ndarray]:
    """Each row's group (kind, provider, model, tier, tool; and region when the rate card prices by
    region) as a dense id, and each group's schedule."""
    codes: list[np.ndarray] = []
    values: list[list[str | None]] = []
    regional = resolver.by_region and "region" in table.column_names
    for name in (*_GROUP_COLUMNS, "region") if regional else _GROUP_COLUMNS:
        column = table.column(name).combine_chunks()
        if pa.types.is_null(column.type):
            column = column.cast(pa.string())
        encoded = column if pa.types.is_dictionary(column.type) else pc.dictionary_encode(column)
        names = [*encoded.dictionary.to_pylist(), None]
        codes.append(encoded.indices.fill_null(len(names) - 1).to_numpy().astype(np.int64))
        values.append(names)
    key = codes[0]
    space = len(values[0])
    for c, names in zip(codes[1:], values[1:], strict=True):
        key = key * len(names) + c
        space *= len(names)
    if space <= max(4 * len(key), 1 << 20):
        present = np.zeros(space, dtype=bool)
        present[key] = True
        uniq = np.flatnonzero(present)
        lut = np.zeros(space, dtype=np.int64)
        lut[uniq] = np.arange(len(uniq))
        g = lut[key]
    else:
        uniq, g = np.unique(key, return_inverse=True)
    groups = []
    for u in uniq.tolist():
        parts: list[str | None] = []
        for names in reversed(values):
            u, digit = divmod(u, len(names))
            parts.append(names[digit])
        kind, provider, model, tier, tool, *region = reversed(parts)
        groups.append(resolver.schedule(kind, provider, model, tier, tool, region[0] if region else None))
    return groups, g.astype(np.int64)


def _positions(g: np.ndarray, x: np.ndarray, points: list[list[int]], width: int, offset: int) -> np.ndarray:
    """Per row, how many of its group's sorted ``points`` are <= x (one searchsorted for all groups).

    Each group gets its own ``width``-wide stretch of one sorted key line; ``offset`` keeps
    negative x (days before 1970) inside it.
    """
    if not any(points):
        return np.zeros(len(g), dtype=np.int64)
    keys: list[int] = []
    start = np.zeros(len(points), dtype=np.int64)
    for gi, pts in enumerate(points):
        start[gi] = len(keys)
        keys.extend(gi * width + p + offset for p in pts)
    found = np.searchsorted(np.array(keys, dtype=np.int64), g * width + x + offset, side="right")
    positions: np.ndarray = np.asarray(found, dtype=np.int64) - start[g]
    return positions


def _bands(
    cid: np.ndarray, inputs: np.ndarray, thresholds: dict[int, tuple[int, ...]], cells: int
) -> np.ndarray:
    """Per row, how many context-tier thresholds its input_tokens exceed."""
    width = max(len(t) for t in thresholds.values())
    table = np.full((cells, width), np.iinfo(np.int64).max, dtype=np.int64)
    for c, ts in thresholds.items():
        table[c, : len(ts)] = ts
    rows = table[cid]
    return np.asarray((inputs[:, None] > rows).sum(axis=1), dtype=np.int64)


def _small(counts: list[np.ndarray], pico: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Rows whose integer sum cannot overflow int64 (the rest go to the Decimal lane)."""
    total = np.zeros(len(r), dtype=np.float64)
    for k in range(pico.shape[1]):
        if pico[:, k].any():
            total += np.abs(counts[k]).astype(np.float64) * np.abs(pico[r, k]).astype(np.float64)
    return total < 2.0**61


def _violations(res: _Resolutions, counts: list[np.ndarray], r: np.ndarray) -> np.ndarray:
    """Rows whose usage genai-prices would reject under their resolution's checks."""
    bad = np.zeros(len(r), dtype=bool)
    for check, used_by in res.checks.items():
        applies = np.zeros(len(res.cells), dtype=bool)
        applies[used_by] = True
        rows = applies[r]
        if not rows.any():
            continue
        nonzero = [(k, c) for k, c in enumerate(check.coefs) if c]
        if check.kind == "negative":
            total = np.zeros(len(r), dtype=np.int64)
            for k, c in nonzero:
                total += c * counts[k]
            bad |= rows & (total < 0)
        else:
            hit = rows.copy()
            for k, _ in nonzero:
                hit &= counts[k] > 0
            bad |= hit
    return bad


def _slow_lane(
    table: pa.Table,
    rows: np.ndarray,
    r: np.ndarray,
    counts: list[np.ndarray],
    res: _Resolutions,
    cost: np.ndarray,
    ok: np.ndarray,
    ref_idx: np.ndarray,
    refs: list[str],
) -> None:
    """Decimal pricing for the rows the integer lane cannot do exactly; updates the arrays in place."""
    take = pa.array(rows)
    seconds = table.column("compute_seconds").take(take).to_pylist()
    gpus = table.column("gpu_type").take(take).to_pylist()
    ts = _timestamps_us(table.column("started_at").take(take))
    known = {ref: i for i, ref in enumerate(refs)}
    for j, row in enumerate(rows.tolist()):
        values = tuple(int(c[row]) for c in counts)
        day = EPOCH + timedelta(days=int(ts[j] // DAY_US))
        costed = cost_of(res.cells[r[row]], values, compute_seconds=seconds[j], gpu_type=gpus[j], day=day)
        if costed.cost_usd is None:
            ok[row] = False
            continue
        cost[row] = int(costed.cost_usd.quantize(COST_QUANTUM) * PICO)
        ok[row] = cost[row] < LIMIT_PICO
        ref = costed.price_ref or ""
        if ref not in known:
            known[ref] = len(refs)
            refs.append(ref)
        ref_idx[row] = known[ref]


def _usage_refused(table: pa.Table) -> np.ndarray:
    """Rows whose attributes name usage a door refused (see ``costing.USAGE_REFUSED``)."""
    if "attributes" not in table.column_names:
        return np.zeros(table.num_rows, dtype=bool)
    column = table.column("attributes")
    if not pa.types.is_string(column.type) and not pa.types.is_large_string(column.type):
        column = column.cast(pa.string())
    found = pc.match_substring(column, f'"{USAGE_REFUSED}"').fill_null(False)
    return np.asarray(found.to_numpy(zero_copy_only=False), dtype=bool)


def _incomplete(table: pa.Table) -> np.ndarray:
    if "status" not in table.column_names:
        return np.zeros(table.num_rows, dtype=bool)
    found = pc.equal(table.column("status"), "incomplete").fill_null(False)
    return np.asarray(found.to_numpy(zero_copy_only=False), dtype=bool)


def _with_estimates(table: pa.Table, cost: np.ndarray, estimated: np.ndarray) -> pa.Table:
    if "cost_estimate_usd" not in table.column_names:
        return table
    arr = _cost_array(cost, estimated)
    given = table.column("cost_estimate_usd").combine_chunks().cast(COST_TYPE)
    arr = pc.if_else(pa.array(estimated), arr, given)
    i = table.schema.get_field_index("cost_estimate_usd")
    return table.set_column(i, table.schema.field(i).with_type(COST_TYPE), arr)


def _reported(table: pa.Table) -> np.ndarray:
    source = pc.equal(table.column("cost_source"), "reported")
    has_cost = pc.is_valid(table.column("cost_usd"))
    return np.asarray(pc.and_(source.fill_null(False), has_cost).to_numpy(zero_copy_only=False), dtype=bool)


def _with_costs(
    table: pa.Table,
    cost: np.ndarray,
    ok: np.ndarray,
    ref_idx: np.ndarray,
    refs: list[str],
    reported: np.ndarray,
) -> pa.Table:
    cost_arr = _cost_array(cost, ok)
    ref_arr = pa.DictionaryArray.from_arrays(pa.array(ref_idx, mask=~ok), pa.array(refs, pa.string())).cast(
        pa.string()
    )
    source_arr = pa.DictionaryArray.from_arrays(
        pa.array(np.where(reported, 1, 0).astype(np.int8), mask=~(ok | reported)),
        pa.array(["computed", "reported"]),
    ).cast(pa.string())
    if reported.any():
        keep = pa.array(reported)
        cost_arr = pc.if_else(keep, table.column("cost_usd").combine_chunks().cast(COST_TYPE), cost_arr)
        ref_arr = pc.if_else(keep, table.column("price_ref").combine_chunks().cast(pa.string()), ref_arr)
    unpriced = pa.array(~(ok | reported))
    for name, arr in (
        ("cost_usd", cost_arr),
        ("cost_source", source_arr),
        ("price_ref", ref_arr),
        ("unpriced", unpriced),
    ):
        i = table.schema.get_field_index(name)
        table = table.set_column(i, table.schema.field(i).with_type(arr.type), arr)
    return table


def _cost_array(cost: np.ndarray, valid: np.ndarray) -> pa.Array:
    """Pico-dollar integers as DECIMAL(18, 12), null where not ``valid``."""
    n = len(cost)
    words = np.empty((n, 2), dtype=np.int64)
    words[:, 0] = cost
    words[:, 1] = cost >> 63
    validity = pa.array(valid).buffers()[1]
    nulls = n - int(valid.sum())
    return pa.Array.from_buffers(COST_TYPE, n, [validity, pa.py_buffer(words)], null_count=nulls)


def _ints(table: pa.Table, name: str) -> np.ndarray:
    if name not in table.column_names:  # a table from before a count column existed: none counted
        return np.zeros(table.num_rows, dtype=np.int64)
    return np.asarray(pc.fill_null(table.column(name), 0).to_numpy(), dtype=np.int64)


def _timestamps_us(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    kind = column.type
    if pa.types.is_timestamp(kind) and kind.unit != "us":
        column = column.cast(pa.timestamp("us", tz=kind.tz))
    return np.asarray(column.cast(pa.int64()).to_numpy(), dtype=np.int64)
