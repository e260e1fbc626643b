"""A batch of event records to the ledger's Arrow table, validated column by column.

Validating each record as an :class:`~costtrail.schema.Event` and then copying
its ~55 fields into Arrow one by one costs far more than the append itself.
Here a batch is validated a column at a time, with the *same* pydantic types
and constraints as the ``Event`` fields (one ``TypeAdapter(list[...])`` per
column, the loop runs in pydantic-core), then the envelope's own rules
(aliases, unknown fields to ``attributes``, UTC times, money bounds, the
model-level checks) are applied to the columns.

The fast path only ever *narrows*: a record it is unsure of (not an object,
any field that fails a column check, an attribute over its bound, ...) is
validated the ordinary way, with ``Event`` itself, so a rejected record gets
exactly the error ``validate_many`` gives, and an accepted one is stored with
exactly the values ``events_to_arrow(Event(...))`` would produce.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import Enum
from functools import cache, lru_cache
from typing import Annotated, Any

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import ConfigDict, TypeAdapter, ValidationError
from pydantic_core import PydanticUndefined

from costtrail.ledger.columns import EVENT_COLUMNS, EVENT_SCHEMA
from costtrail.ledger.rows import event_uuid
from costtrail.schema import CostSource, Event, EventKind, Problem, validate_many
from costtrail.schema.bounds import EVENT_COST, QUANTITY, ledger_decimal
from costtrail.schema.events import check_attributes, new_event_id, normalize_event_input
from costtrail.schema.providers import is_canonical

_FIELDS = Event.model_fields
_KNOWN = frozenset(_FIELDS)
_NEEDS_MODEL = frozenset({EventKind.LLM.value, EventKind.EMBEDDING.value})
_COST_QUANT = Decimal(1).scaleb(-EVENT_COST[1])
_TYPES = {f.name: f.type for f in EVENT_SCHEMA}
_ENUM_COLUMNS = ("kind", "status", "cost_source")
_INT_FIELDS: tuple[str, ...] = tuple(str(f.name) for f in EVENT_SCHEMA if f.type == pa.int64())
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_PER_ROW_DEFAULTS = frozenset({"event_id", "started_at"})  # a fresh id, the time of validation
_TIME_COLUMNS = frozenset({"started_at", "ended_at"})
_TIMESTAMP = pa.timestamp("us")
_EPOCH = datetime(1970, 1, 1)
_EPOCH_UTC = _EPOCH.replace(tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_TOO_LARGE = f"too large: the ledger keeps whole numbers up to {_INT64_MAX:,}"


@cache
def _adapters() -> dict[str, TypeAdapter[list[Any]]]:
    """``list[<the field's type and constraints>]`` per field, as the model validates it (built once)."""
    out: dict[str, TypeAdapter[list[Any]]] = {}
    for name, info in _FIELDS.items():
        item: Any = Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation
        out[name] = TypeAdapter(list[item], config=ConfigDict(use_enum_values=True))
    return out


@dataclass
class EventBatch:
    """The accepted records as one table (in their input order) and the refused ones explained."""

    table: pa.Table
    problems: list[Problem]


def event_batch(records: Sequence[Any]) -> EventBatch:
    """Validate raw event records into an :data:`EVENT_SCHEMA` table; bad ones become problems.

    Each problem names the record's index, the field and the reason, as ``validate_many`` does.

    >>> batch = event_batch([{"model": "gpt-4o-mini", "prompt_tokens": 7}, {"kind": "x"}])
    >>> batch.table.num_rows, batch.table.column("input_tokens").to_pylist(), batch.problems[0].index
    (1, [7], 1)
    """
    rows: list[dict[str, Any]] = []
    where: list[int] = []
    slow: list[int] = []
    for i, raw in enumerate(records):
        row = _plain_row(raw)
        if row is None:
            slow.append(i)
        else:
            rows.append(row)
            where.append(i)
    tables: list[pa.Table] = []
    order: list[int] = []
    while rows:
        columns, bad, constant = _validate(rows)
        if not bad:
            tables.append(columns_to_arrow(columns, constant))
            order.extend(where)
            break
        # A refused record is validated again by the model, which words the error; the rest are
        # checked again (a record refused by a type check has not met the envelope rules yet).
        slow.extend(where[j] for j in bad)
        keep = [j for j in range(len(rows)) if j not in bad]
        rows, where = [rows[j] for j in keep], [where[j] for j in keep]
    problems: list[Problem] = []
    if slow:
        slow.sort()
        events, found = validate_many(Event, [records[i] for i in slow])
        problems = [Problem(slow[p.index], p.field, p.reason) for p in found]
        refused = {p.index for p in found}
        good = [slow[k] for k in range(len(slow)) if k not in refused]
        fits = []
        for index, event in zip(good, events, strict=True):
            too_large = _too_large(event.__dict__)
            if too_large is None:
                fits.append(event)
                order.append(index)
            else:
                problems.append(Problem(index, too_large, _TOO_LARGE))
        problems.sort(key=lambda p: p.index)
        if fits:
            tables.append(events_to_arrow(fits))
    return EventBatch(_in_order(tables, order), problems)


def _too_large(values: dict[str, Any]) -> str | None:
    """The first integer field a BIGINT column cannot hold (the model itself has no upper bound)."""
    for name in _INT_FIELDS:
        if not _INT64_MIN <= values[name] <= _INT64_MAX:
            return name
    return None


def _validate(rows: list[dict[str, Any]]) -> tuple[dict[str, list[Any]], set[int], frozenset[str]]:
    """The validated columns, the rows that failed, and the columns that hold only their default."""
    present: set[str] = set()
    for row in rows:
        present.update(row)
    n = len(rows)
    now = datetime.now(UTC)
    columns: dict[str, list[Any]] = {}
    bad: set[int] = set()
    for name, info in _FIELDS.items():
        if name not in present:
            columns[name] = _defaults(name, n, now)
            continue
        if name == "event_id":
            values = [r["event_id"] if "event_id" in r else new_event_id() for r in rows]
        elif name == "started_at":
            values = [r.get("started_at", now) for r in rows]
        elif info.default_factory is not None:
            values = [r[name] if name in r else info.default_factory() for r in rows]  # type: ignore[call-arg]
        else:
            default = info.default
            values = [r.get(name, default) for r in rows]
        try:
            columns[name] = _adapters()[name].validate_python(values)
        except ValidationError as exc:
            bad.update(int(e["loc"][0]) for e in exc.errors(include_url=False) if e.get("loc"))
            columns[name] = values  # placeholders: these rows are dropped and validated again
            continue
        if name in _INT_FIELDS:
            bad.update(i for i, v in enumerate(columns[name]) if not _INT64_MIN <= v <= _INT64_MAX)
    if not bad:
        bad = _envelope_rules(columns, n)
    filled = {"latency_ms"} if "ended_at" in present else set()
    if "cost_usd" in present:
        filled.add("cost_source")  # the envelope rules fill these from other columns
    return columns, bad, frozenset(_FIELDS.keys() - present - _PER_ROW_DEFAULTS - filled)


def _plain_row(raw: Any) -> dict[str, Any] | None:
    """The record with aliases mapped and unknown fields in attributes; None when it is not an object."""
    if type(raw) is not dict:
        return None
    attrs = raw.get("attributes")
    if (
        raw.keys() <= _KNOWN
        and (attrs is None or (type(attrs) is dict and not attrs))
        and is_canonical(raw.get("provider"))
    ):
        return raw  # already canonical: nothing to rename, move or normalize
    try:
        return normalize_event_input(raw, set(_KNOWN))
    except (ValueError, TypeError):
        return None


def _defaults(name: str, n: int, now: datetime) -> list[Any]:
    if name == "event_id":
        return [new_event_id() for _ in range(n)]
    if name == "started_at":
        return [now] * n
    info = _FIELDS[name]
    if info.default_factory is not None:
        return [info.default_factory() for _ in range(n)]  # type: ignore[call-arg]
    default = None if info.default is PydanticUndefined else info.default
    return [default.value if isinstance(default, Enum) else default] * n


def _envelope_rules(columns: dict[str, list[Any]], n: int) -> set[int]:
    """Event's own validators, on columns: bounded attributes and money, times in order, model present,
    one-hour cache writes within all cache writes.

    Returns the rows that break a rule (the model then explains them).
    """
    bad: set[int] = set()
    attributes = columns["attributes"]
    for i, attrs in enumerate(attributes):
        if attrs:
            try:
                check_attributes(attrs)
            except ValueError:
                bad.add(i)
    columns["cost_usd"] = _bounded(columns["cost_usd"], EVENT_COST, bad, money=True)
    columns["compute_seconds"] = _bounded(columns["compute_seconds"], QUANTITY, bad, money=False)
    started, ended, latency = columns["started_at"], columns["ended_at"], columns["latency_ms"]
    kinds, models = columns["kind"], columns["model"]
    writes, writes_1h = columns["cache_write_tokens"], columns["cache_write_1h_tokens"]
    cost, source = columns["cost_usd"], columns["cost_source"]
    for i in range(n):
        end = ended[i]
        if end is not None:
            start = _utc(started[i])
            if _utc(end) < start:
                bad.add(i)
            elif latency[i] is None:
                latency[i] = (_utc(end) - start).total_seconds() * 1000.0
        if kinds[i] in _NEEDS_MODEL and not models[i]:
            bad.add(i)
        if writes_1h[i] > writes[i]:
            bad.add(i)
        if cost[i] is not None and source[i] is None:
            source[i] = CostSource.REPORTED.value
    return bad


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _bounded(values: list[Any], column: tuple[int, int], bad: set[int], *, money: bool) -> list[Any]:
    out: list[Any] = []
    for i, v in enumerate(values):
        if v is not None:
            try:
                if money and (not v.is_finite() or v < 0):
                    raise ValueError("cost_usd must be a finite, non-negative amount in USD")
                v = ledger_decimal(v, column)
            except ValueError:
                bad.add(i)
        out.append(v)
    return out


def _keys(ids: Iterable[str]) -> tuple[list[bytes], list[str | None]]:
    """event_uuid bytes and the stored event_id (None when the id is the uuid's own hex)."""
    keys: list[bytes] = []
    stored: list[str | None] = []
    for event_id in ids:
        key = b""
        if len(event_id) == 32:
            try:
                key = bytes.fromhex(event_id)
            except ValueError:
                key = b""
        if len(key) == 16:
            keys.append(key)
            # uuid.UUID(...).hex is lowercase: an uppercase id is kept as sent.
            stored.append(None if event_id == event_id.lower() else event_id)
        else:
            parsed = event_uuid(event_id)
            keys.append(parsed.bytes)
            stored.append(None if event_id == parsed.hex else event_id)
    return keys, stored


def _cost(value: Decimal | None) -> Decimal | None:
    return None if value is None else value.quantize(_COST_QUANT)


def _attributes_json(value: dict[str, str] | None) -> str | None:
    return json.dumps(value, sort_keys=True) if value else None


@lru_cache(maxsize=128)
def _default_array(name: str, n: int) -> pa.Array:
    """``n`` copies of a field's default (Arrow arrays are immutable: safe to share)."""
    value = _defaults(name, 1, datetime.now(UTC))[0]
    convert = _CONVERT.get(name)
    return pa.array([convert(value) if convert else value] * n, _TYPES[name])


def _timestamps(values: list[datetime | None]) -> pa.Array:
    """Naive UTC microseconds: aware values converted, naive ones taken as UTC (as ``Event`` does).

    Arithmetic instead of handing the datetimes to Arrow: pyarrow converts a datetime whose tzinfo
    is pydantic's own class through slow Python calls, many times the cost of this.
    """
    micros = [
        None if v is None else (v - (_EPOCH if v.tzinfo is None else _EPOCH_UTC)) // _MICROSECOND
        for v in values
    ]
    return pa.array(micros, pa.int64()).cast(_TIMESTAMP)


def _enum_value(value: Any) -> Any:
    return value.value if isinstance(value, Enum) else value


_CONVERT: dict[str, Callable[[Any], Any]] = {
    "attributes": _attributes_json,
    "cost_usd": _cost,
    "cost_estimate_usd": _cost,
    **{name: _enum_value for name in _ENUM_COLUMNS},
}


def columns_to_arrow(columns: dict[str, list[Any]], constant: frozenset[str] = frozenset()) -> pa.Table:
    """Validated envelope values, one list per field, as an :data:`EVENT_SCHEMA` table.

    ``constant`` names columns known to hold only the field's default: they are built once per
    batch size and reused (most batches fill a dozen of the ~55 fields, and each pa.array call
    is a point where the thread may give up the GIL and wait to get it back under load).
    """
    keys, stored = _keys(columns["event_id"])
    n = len(keys)
    arrays: list[pa.Array] = []
    for column in EVENT_COLUMNS:
        name = column.name
        if name in constant:
            arrays.append(_default_array(name, n))
            continue
        if name == "event_uuid":
            values: list[Any] = keys
        elif name == "event_id":
            values = stored
        elif name in _TIME_COLUMNS:
            arrays.append(_timestamps(columns[name]))
            continue
        else:
            values = columns[name]
            convert = _CONVERT.get(name)
            if convert is not None:
                values = [convert(v) for v in values]
        arrays.append(pa.array(values, _TYPES[name]))
    return pa.Table.from_arrays(arrays, schema=EVENT_SCHEMA)


def events_to_arrow(events: Sequence[Event]) -> pa.Table:
    """Validated events as an :data:`EVENT_SCHEMA` table (one list per column, no per-field branching)."""
    rows = [e.__dict__ for e in events]
    return columns_to_arrow({name: [r[name] for r in rows] for name in _FIELDS})


def _in_order(tables: list[pa.Table], order: list[int]) -> pa.Table:
    if not tables:
        return EVENT_SCHEMA.empty_table()
    if len(tables) == 1:
        return tables[0]
    table = pa.concat_tables(tables)
    return table.take(pc.sort_indices(pa.array(order, pa.int64())))
