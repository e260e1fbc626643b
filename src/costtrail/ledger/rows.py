"""Converting models to Arrow tables and stored rows back to models."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pyarrow as pa

from costtrail.ledger.columns import (
    COST_LINE_COLUMNS,
    COST_LINE_SCHEMA,
    COST_SCALE,
    OUTCOME_COLUMNS,
    OUTCOME_SCHEMA,
)
from costtrail.schema import CostLine, Event, Outcome

_ID_NAMESPACE = uuid.UUID("6f1c2a8e-5b0d-4c1e-9a57-3d2b8e0f4a61")
_COST_QUANT = Decimal(1).scaleb(-COST_SCALE)


def event_uuid(event_id: str) -> uuid.UUID:
    """The compact 16-byte key for an event id: the id itself when it is a UUID, else a UUIDv5 of it."""
    try:
        return uuid.UUID(event_id)
    except ValueError:
        return uuid.uuid5(_ID_NAMESPACE, event_id)


def stored_event_id(event_id: str, key: uuid.UUID) -> str | None:
    """None when the id can be rebuilt from the key (saves ~33 bytes an event)."""
    return None if event_id == key.hex else event_id


def restore_event_id(key: bytes | uuid.UUID | str, stored: str | None) -> str:
    if stored is not None:
        return stored
    if isinstance(key, bytes):
        return uuid.UUID(bytes=key).hex
    if isinstance(key, uuid.UUID):
        return key.hex
    return uuid.UUID(str(key)).hex


def _naive_utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value


def quantize_cost(value: Decimal | None) -> Decimal | None:
    return None if value is None else value.quantize(_COST_QUANT)


def outcomes_to_arrow(outcomes: Sequence[Outcome]) -> pa.Table:
    cols: dict[str, list[Any]] = {c.name: [] for c in OUTCOME_COLUMNS}
    for o in outcomes:
        d = o.__dict__
        for c in OUTCOME_COLUMNS:
            v = d[c.name]
            if c.name == "recorded_at":
                v = _naive_utc(v)
            elif c.name == "attributes":
                v = json.dumps(v, sort_keys=True) if v else None
            cols[c.name].append(v)
    return pa.Table.from_pydict(cols, schema=OUTCOME_SCHEMA)


def cost_lines_to_arrow(lines: Sequence[CostLine]) -> pa.Table:
    cols: dict[str, list[Any]] = {c.name: [] for c in COST_LINE_COLUMNS}
    for line in lines:
        d = line.__dict__
        for c in COST_LINE_COLUMNS:
            v = d[c.name]
            if c.kind == "timestamp":
                v = _naive_utc(v)
            elif c.name == "tags":
                v = json.dumps(v, sort_keys=True) if v else None
            elif hasattr(v, "value"):
                v = v.value
            cols[c.name].append(v)
    return pa.Table.from_pydict(cols, schema=COST_LINE_SCHEMA)


def row_to_event(row: dict[str, Any]) -> Event:
    """Rebuild an Event from a stored row (as returned by a store's query)."""
    data = {
        k: v for k, v in row.items() if k not in ("event_uuid", "attributes", "ingested_at") and v is not None
    }
    data["event_id"] = restore_event_id(row["event_uuid"], row.get("event_id"))
    attrs = row.get("attributes")
    if attrs:
        data["attributes"] = json.loads(attrs) if isinstance(attrs, str) else attrs
    return Event.model_validate(data)


def rows_to_dicts(table: pa.Table) -> list[dict[str, Any]]:
    return list(table.to_pylist())


def iter_chunks(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]
