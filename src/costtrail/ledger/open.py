"""Open a ledger store from a URL: ``duckdb://path``, a bare path, or ``clickhouse://...``."""

from __future__ import annotations

from costtrail.ledger.store import LedgerError, LedgerStore

DEFAULT_LEDGER = "costtrail.duckdb"


def open_store(url: str | None = None, *, read_only: bool = False) -> LedgerStore:
    """Open the store a URL names.

    ``None`` or a path opens the embedded DuckDB file (default ``./costtrail.duckdb``);
    ``duckdb://:memory:`` an in-memory ledger; ``clickhouse://user:pass@host:8123/db``
    or ``chdb://dir`` the ClickHouse store (``pip install costtrail[clickhouse]``).
    """
    url = url or DEFAULT_LEDGER
    if url.startswith(("clickhouse://", "clickhouses://", "chdb://")):
        try:
            from costtrail.ledger.clickhouse_store import ClickHouseStore  # type: ignore[import-not-found,unused-ignore]
        except ImportError as exc:  # pragma: no cover - depends on installed extras
            raise LedgerError(
                f"the ClickHouse store needs clickhouse-connect: pip install 'costtrail[clickhouse]' ({exc})"
            ) from exc
        store: LedgerStore = ClickHouseStore.from_url(url)
        return store
    path = url.removeprefix("duckdb://")
    from costtrail.ledger.duckdb_store import DuckDBStore

    return DuckDBStore(path, read_only=read_only)
