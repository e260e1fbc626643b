"""Reading event files (JSON array, NDJSON, CSV) into the ledger, priced and idempotent."""

from __future__ import annotations

import csv
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from costtrail.ledger.columnar import event_batch
from costtrail.ledger.store import LedgerStore
from costtrail.pricing import Pricer
from costtrail.schema import Problem

BATCH = 10_000


@dataclass
class IngestResult:
    accepted: int = 0
    duplicates: int = 0
    unpriced: int = 0
    problems: list[Problem] = field(default_factory=list)
    # records refused because their run belongs to another tenant (the collector answers 403)
    forbidden: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "unpriced": self.unpriced,
            "rejected": [p.as_dict() for p in self.problems],
        }


def parse_record_text(text: str, *, filename: str = "") -> list[Any]:
    """Parse a JSON array, a single JSON object, NDJSON or CSV (chosen by content, then by name)."""
    stripped = text.lstrip()
    if filename.endswith(".csv"):
        return [
            {k: v for k, v in row.items() if v not in ("", None)} for row in csv.DictReader(text.splitlines())
        ]
    if stripped.startswith("["):
        data = json.loads(text)
        if not isinstance(data, list):
            raise ValueError("expected a JSON array of events")
        return data
    records: list[Any] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise ValueError(f"line {lineno}: not valid JSON ({exc.msg} at column {exc.colno})") from exc
    return records


def ingest_records(records: Sequence[Any], store: LedgerStore, pricer: Pricer) -> IngestResult:
    """Validate, price and append records; bad records are reported, good ones kept.

    Each chunk is validated a column at a time (``ledger.columnar``, the same rules and errors as
    ``Event``), priced in bulk and appended as one Arrow table.
    """
    result = IngestResult()
    for start in range(0, len(records), BATCH):
        batch = event_batch(list(records[start : start + BATCH]))
        result.problems.extend(Problem(p.index + start, p.field, p.reason) for p in batch.problems)
        if not batch.table.num_rows:
            continue
        table = pricer.price_table(batch.table)
        result.unpriced += _new_unpriced(store, table)
        appended = store.append_event_table(table)
        result.accepted += appended.accepted
        result.duplicates += appended.duplicates
    return result


def _new_unpriced(store: LedgerStore, table: pa.Table) -> int:
    """Unpriced events of ``table`` the ledger does not hold yet: a re-load adds none."""
    flags = table.column("unpriced").to_pylist()
    ids = {
        str(uuid.UUID(bytes=b))
        for b, flag in zip(table.column("event_uuid").to_pylist(), flags, strict=True)
        if flag
    }
    if not ids:
        return 0
    d = store.dialect
    listed = ", ".join(d.literal(i) for i in sorted(ids))
    [stored] = store.query(f"SELECT count(*) AS n FROM {d.final('events')} WHERE event_uuid IN ({listed})")
    return len(ids) - int(stored["n"])


def ingest_file(path: Path, store: LedgerStore, pricer: Pricer) -> IngestResult:
    return ingest_records(parse_record_text(path.read_text(), filename=path.name), store, pricer)
