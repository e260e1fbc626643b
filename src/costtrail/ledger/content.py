"""Prompt and completion text: kept only when content storage is switched on (off by default).

The ledger itself holds usage, cost and attribution, never text. With content
storage on (``costtrail gateway --store-content`` or ``COSTTRAIL_STORE_CONTENT=1``)
each call's request and response text go to a separate ``content`` table keyed
by ``event_id``, so they can be purged on their own schedule
(:func:`purge_content`, ``costtrail purge-content``) without touching costs.
The table is declared in the schema registry (``tables.py``), so it lives on
both stores (cluster-wide on a ClickHouse cluster).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from costtrail.ledger.store import LedgerStore
from costtrail.ledger.tables import CONTENT


@dataclass(frozen=True)
class ContentRecord:
    """The text of one call, keyed by its event's id."""

    event_id: str
    started_at: datetime
    prompt: str | None
    completion: str | None


def append_content(store: LedgerStore, records: Sequence[ContentRecord]) -> int:
    """Store the text of calls (creating the table on first use); returns the rows written."""
    if not records:
        return 0
    store.ensure_table(CONTENT.name)
    lit = store.dialect.literal
    values = ", ".join(
        f"({lit(r.event_id)}, {lit(r.started_at.astimezone(UTC))}, {lit(r.prompt)}, {lit(r.completion)})"
        for r in records
    )
    store.execute(f"INSERT INTO {CONTENT.name} (event_id, started_at, prompt, completion) VALUES {values}")
    return len(records)


def purge_content(store: LedgerStore, before: datetime | None = None) -> int:
    """Delete stored text (all of it, or of calls started before ``before``); returns the rows deleted.

    The deleted text is then checkpointed out of the write-ahead log.
    """
    store.ensure_table(CONTENT.name)
    where = f"started_at < {store.dialect.literal(before.astimezone(UTC))}" if before else "TRUE"
    count = store.delete_rows(CONTENT.name, where)
    store.checkpoint()
    return count
