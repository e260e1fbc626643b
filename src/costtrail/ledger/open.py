"""Open a ledger store from a URL: ``duckdb://path``, a bare path, or ``clickhouse://...``."""

from __future__ import annotations

from datetime import timedelta

from costtrail.ledger.store import ID_MEMORY, LedgerError, LedgerStore

DEFAULT_LEDGER = "costtrail.duckdb"


def open_store(
    url: str | None = None, *, read_only: bool = False, id_memory: timedelta = ID_MEMORY, migrate: bool = True
) -> LedgerStore:
    """Open the store a URL names.

    ``None`` or a path opens the embedded DuckDB file (default ``./costtrail.duckdb``);
    ``duckdb://:memory:`` an in-memory ledger; ``clickhouse://user:pass@host:8123/db``
    or ``chdb://dir`` the ClickHouse store (``pip install costtrail[clickhouse]``).
    ``id_memory``: how long an event id is remembered whatever ``started_at`` a re-send carries.
    ``migrate=False``: a ClickHouse ledger's schema must already be applied (``costtrail
    ledger-ddl``); one that is behind is a :class:`LedgerError` naming what is missing.
    """
    url = url or DEFAULT_LEDGER
    if url.startswith(("clickhouse://", "clickhouses://", "chdb://")):
        try:
            from costtrail.ledger.clickhouse_store import ClickHouseStore  # type: ignore[import-not-found,unused-ignore]
        except ImportError as exc:  # pragma: no cover - depends on installed extras
            raise LedgerError(
                f"the ClickHouse store needs clickhouse-connect: pip install 'costtrail[clickhouse]' ({exc})"
            ) from exc
        store: LedgerStore = ClickHouseStore.from_url(url, id_memory=id_memory, migrate=migrate)
        return store
    path = url.removeprefix("duckdb://")
    from costtrail.ledger.duckdb_store import DuckDBStore

    return DuckDBStore(path, read_only=read_only, id_memory=id_memory)
