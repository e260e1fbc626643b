"""Prompt and completion text: kept only when content storage is switched on (off by default).

The ledger itself holds usage, cost and attribution, never text. With content
storage on (``costtrail gateway --store-content`` or ``COSTTRAIL_STORE_CONTENT=1``)
each call's request and response text go to a separate ``content`` table keyed
by ``event_id``, so they can be purged on their own schedule
(:func:`purge_content`, ``costtrail purge-content``) without touching costs.
The table exists on DuckDB ledgers only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from costtrail.ledger.store import LedgerError, LedgerStore, sql_literal

CONTENT_DDL = (
    "CREATE TABLE IF NOT EXISTS content (event_id VARCHAR NOT NULL, started_at TIMESTAMP, "
    "prompt VARCHAR, completion VARCHAR, stored_at TIMESTAMP DEFAULT now())"
)


@dataclass(frozen=True)
class ContentRecord:
    """The text of one call, keyed by its event's id."""

    event_id: str
    started_at: datetime
    prompt: str | None
    completion: str | None


def _duckdb_only(store: LedgerStore) -> None:
    if store.dialect.name != "duckdb":
        raise LedgerError("content storage is available on DuckDB ledgers only")


def append_content(store: LedgerStore, records: Sequence[ContentRecord]) -> int:
    """Store the text of calls (creating the table on first use); returns the rows written."""
    if not records:
        return 0
    _duckdb_only(store)
    execute = getattr(store, "execute")  # noqa: B009 - DuckDBStore.execute, not in the protocol
    execute(CONTENT_DDL)
    values = ", ".join(
        f"({sql_literal(r.event_id)}, {sql_literal(r.started_at.astimezone(UTC))}, "
        f"{sql_literal(r.prompt)}, {sql_literal(r.completion)})"
        for r in records
    )
    execute(f"INSERT INTO content (event_id, started_at, prompt, completion) VALUES {values}")
    return len(records)


def purge_content(store: LedgerStore, before: datetime | None = None) -> int:
    """Delete stored text (all of it, or of calls started before ``before``); returns the rows deleted.

    The deleted text is then checkpointed out of the write-ahead log.
    """
    _duckdb_only(store)
    tables = store.query("SELECT count(*) AS n FROM information_schema.tables WHERE table_name = 'content'")
    if not tables[0]["n"]:
        return 0
    where = f" WHERE started_at < {sql_literal(before.astimezone(UTC))}" if before else ""
    count = int(store.query(f"SELECT count(*) AS n FROM content{where}")[0]["n"])
    execute = getattr(store, "execute")  # noqa: B009
    execute(f"DELETE FROM content{where}")
    checkpoint = getattr(store, "checkpoint", None)
    if callable(checkpoint):
        checkpoint()
    return count
