"""Reading spend from the ledger: once per budget at start, never per request.

Only the store protocol's ``query`` and ``dialect`` are used, so the same SQL
runs on DuckDB and ClickHouse.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Protocol

from costtrail.ledger.store import LedgerStore


class SpendSource(Protocol):
    """Where a budget's spend before the gate started comes from."""

    def spend_in_buckets(
        self, scope: Mapping[str, str], unit: str, edges: Sequence[datetime]
    ) -> list[Decimal]:
        """Spend (USD or tokens) in each ``[edges[i], edges[i+1])`` for events in ``scope``."""
        ...


def scope_sql(store: LedgerStore, scope: Mapping[str, str]) -> str:
    """``AND``-ed equality conditions for a scope (``TRUE`` for an empty scope)."""
    lit = store.dialect.literal
    return " AND ".join(f"{k} = {lit(v)}" for k, v in sorted(scope.items())) or "TRUE"


def measure_sql(unit: str) -> str:
    return "cost_usd" if unit == "usd" else "(input_tokens + output_tokens)"


class StoreSpend:
    """A :class:`SpendSource` over a ledger store: one aggregate query per budget."""

    def __init__(self, store: LedgerStore) -> None:
        self.store = store

    def spend_in_buckets(
        self, scope: Mapping[str, str], unit: str, edges: Sequence[datetime]
    ) -> list[Decimal]:
        if len(edges) < 2:
            return []
        lit = self.store.dialect.literal
        measure = measure_sql(unit)
        sums = ", ".join(
            f"sum(CASE WHEN started_at >= {lit(a)} AND started_at < {lit(b)} THEN {measure} END) AS b{i}"
            for i, (a, b) in enumerate(itertools.pairwise(edges))
        )
        sql = (
            f"SELECT {sums} FROM {self.store.dialect.final('events')} "
            f"WHERE started_at >= {lit(edges[0])} AND started_at < {lit(edges[-1])} "
            f"AND {scope_sql(self.store, scope)}"
        )
        row = self.store.query(sql)[0]
        return [
            Decimal(str(row[f"b{i}"])) if row[f"b{i}"] is not None else Decimal(0)
            for i in range(len(edges) - 1)
        ]
