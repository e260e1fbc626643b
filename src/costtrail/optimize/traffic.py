"""Real production traffic of a scope, and the same traffic re-priced on another model.

Repricing goes through the bulk path of :meth:`costtrail.pricing.Pricer.price_table`
(prices in force at each event's own timestamp), so a month of traffic
re-prices in one pass. Only model calls (``kind = 'llm'``) change model; every
other event (retrieval, tools, infrastructure) keeps its cost.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from costtrail.ledger.columns import EVENT_COLUMNS, EVENT_SCHEMA
from costtrail.ledger.store import LedgerStore
from costtrail.pricing import Pricer
from costtrail.reports.rollup import run_status_ctes
from costtrail.schema.amounts import ZERO

# input_tokens includes cache reads/writes and output_tokens includes reasoning, so a ratio scales each group.
INPUT_TOKENS = ("input_tokens", "cache_read_tokens", "cache_write_tokens", "input_audio_tokens")
OUTPUT_TOKENS = ("output_tokens", "reasoning_tokens", "output_audio_tokens")


@dataclass(frozen=True)
class TrafficScope:
    """Which traffic: a workflow (or any dimensions) between ``since`` and ``until`` (UTC)."""

    workflow: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    where: Mapping[str, str] = field(default_factory=dict)

    def sql(self, store: LedgerStore) -> str:
        lit = store.dialect.literal
        conds = [f"{k} = {lit(v)}" for k, v in sorted({**self.where, **self._wf()}.items())]
        if self.since is not None:
            conds.append(f"started_at >= {lit(self.since)}")
        if self.until is not None:
            conds.append(f"started_at < {lit(self.until)}")
        return " AND ".join(conds) or "TRUE"

    def _wf(self) -> dict[str, str]:
        return {"workflow": self.workflow} if self.workflow else {}


@dataclass(frozen=True)
class TrafficSummary:
    """Cost, runs and successful runs of a scope, and the days it covers (for per-month figures)."""

    events: int
    llm_events: int
    runs: int
    successful_runs: int
    total_cost: Decimal
    llm_cost: Decimal
    days: float
    unpriced: int

    def per_month(self, amount: Decimal) -> Decimal:
        """``amount`` over the scope's days scaled to a 30-day month."""
        return (amount * Decimal(30) / Decimal(str(self.days))).quantize(Decimal("0.000001"))


def summarize(store: LedgerStore, scope: TrafficScope) -> TrafficSummary:
    """Totals of the scope; a run succeeded by the ledger's rule (outcome, else last model call)."""
    where = scope.sql(store)
    events = store.dialect.final("events")
    row = store.query(
        f"SELECT count(*) AS events, sum(CASE WHEN kind = 'llm' THEN 1 ELSE 0 END) AS llm_events, "
        f"sum(cost_usd) AS total, sum(CASE WHEN kind = 'llm' THEN cost_usd END) AS llm, "
        f"sum(CASE WHEN unpriced THEN 1 ELSE 0 END) AS unpriced, "
        f"min(started_at) AS first, max(started_at) AS last FROM {events} WHERE {where}"
    )[0]
    runs = store.query(
        f"WITH {run_status_ctes(store.dialect, where)} "
        f"SELECT count(*) AS runs, sum(CASE WHEN run_ok THEN 1 ELSE 0 END) AS ok FROM run_status"
    )[0]
    if scope.since is not None and scope.until is not None:
        days = (scope.until - scope.since).total_seconds() / 86400
    elif row["first"] is not None:
        days = max(1.0, float(math.ceil((row["last"] - row["first"]) / timedelta(days=1))))
    else:
        days = 1.0
    return TrafficSummary(
        events=int(row["events"] or 0),
        llm_events=int(row["llm_events"] or 0),
        runs=int(runs["runs"] or 0),
        successful_runs=int(runs["ok"] or 0),
        total_cost=_dec(row["total"]),
        llm_cost=_dec(row["llm"]),
        days=days,
        unpriced=int(row["unpriced"] or 0),
    )


def model_kind(store: LedgerStore, model: str) -> str:
    """``embedding`` for a model the ledger has only seen serve embeddings (or named ``*embed*``),
    else ``llm``: what-if and cheapest never move chat traffic onto an embedding model."""
    d = store.dialect
    kinds = {
        r["kind"]
        for r in store.query(
            f"SELECT DISTINCT kind FROM {d.final('events')} WHERE model = {d.literal(model)}"
        )
    }
    if kinds:
        return "embedding" if kinds == {"embedding"} else "llm"
    return "embedding" if "embed" in model.lower() else "llm"


# token classes that need a modality, and the genai-prices price a model must have to serve them
MODALITIES = {"input_audio_tokens": ("audio input", "input_audio_mtok"),
              "output_audio_tokens": ("audio output", "output_audio_mtok")}  # fmt: skip


def modalities_used(store: LedgerStore, scope: TrafficScope) -> list[str]:
    """The token classes beyond text that the scope's model calls used (audio in or out)."""
    sums = ", ".join(f"sum({c}) AS {c}" for c in MODALITIES)
    row = store.query(
        f"SELECT {sums} FROM {store.dialect.final('events')} WHERE kind = 'llm' AND {scope.sql(store)}"
    )[0]
    return [c for c in MODALITIES if (row[c] or 0) > 0]


def missing_modalities(model: str, used: list[str], provider: str | None = None) -> list[str]:
    """Which of ``used`` ``model`` has no price for in genai-prices (so it cannot serve them).

    A model genai-prices does not know is not refused here (its calls come out unpriced)."""
    if not used:
        return []
    from genai_prices import Usage, calc_price

    try:
        price = calc_price(Usage(input_tokens=1), model, provider_id=provider).model_price
    except LookupError:
        return []
    return [MODALITIES[c][0] for c in used if getattr(price, MODALITIES[c][1], None) is None]


def check_serves(store: LedgerStore, scope: TrafficScope, model: str, provider: str | None = None) -> None:
    """Refuse a model that cannot serve the scope's model calls: an embedding model for chat, or a
    model with no audio price for traffic that used audio tokens."""
    if model_kind(store, model) == "embedding":
        raise ValueError(
            f"{model} is an embedding model: it cannot serve the chat calls of this traffic; "
            "choose a chat model (costtrail report --by model lists the ones in use)"
        )
    missing = missing_modalities(model, modalities_used(store, scope), provider)
    if missing:
        raise ValueError(
            f"{model} has no {' or '.join(missing)} price: it cannot serve this traffic, whose calls "
            "used it; choose a model priced for it (costtrail prices MODEL shows a model's prices)"
        )


def _dec(value: Any) -> Decimal:
    return Decimal(str(value)) if value is not None else ZERO


@dataclass(frozen=True)
class Repriced:
    """The scope's model calls priced on another model: by current model, old and new cost."""

    cost: Decimal
    unpriced_events: int
    by_model: list[dict[str, Any]]


def reprice_llm(
    store: LedgerStore,
    scope: TrafficScope,
    model: str,
    *,
    provider: str | None = None,
    input_ratio: float = 1.0,
    output_ratio: float = 1.0,
    pricer: Pricer | None = None,
) -> Repriced:
    """Price the scope's model calls as if made on ``model`` (tokens scaled by the ratios, rounded)."""
    lit = store.dialect.literal
    cols = []
    for c in EVENT_COLUMNS:
        if c.name == "event_uuid":
            continue
        if c.name == "model":
            cols.append(f"{lit(model)} AS model")
        elif c.name == "provider":
            # Without a provider the new model is found by name (a call to Anthropic moved to an
            # OpenAI model must not keep "anthropic").
            cols.append(f"{lit(provider)} AS provider" if provider else "NULL AS provider")
        elif c.name in ("cost_usd", "price_ref", "cost_source"):
            cols.append(f"NULL AS {c.name}")
        elif c.name in INPUT_TOKENS or c.name in OUTPUT_TOKENS:
            ratio = input_ratio if c.name in INPUT_TOKENS else output_ratio
            cols.append(
                c.name if ratio == 1 else f"CAST(round({c.name} * {float(ratio)}) AS BIGINT) AS {c.name}"
            )
        else:
            cols.append(c.name)
    cols.append("model AS current_model")
    cols.append("cost_usd AS current_cost")
    table = store.query_arrow(
        f"SELECT {', '.join(cols)} FROM {store.dialect.final('events')} "
        f"WHERE kind = 'llm' AND {scope.sql(store)}"
    )
    if table.num_rows == 0:
        return Repriced(ZERO, 0, [])
    priced = (pricer or Pricer()).price_table(_typed_nulls(table))
    grouped = (
        pa.table(
            {
                "current_model": priced.column("current_model"),
                "old": priced.column("current_cost"),
                "new": priced.column("cost_usd"),
                "unpriced": pc.cast(priced.column("unpriced"), pa.int64()),
            }
        )
        .group_by("current_model")
        .aggregate([("old", "sum"), ("new", "sum"), ("unpriced", "sum"), ("unpriced", "count")])
    )
    by_model = sorted(
        (
            {
                "current_model": r["current_model"],
                "events": int(r["unpriced_count"]),
                "old_cost": _dec(r["old_sum"]),
                "new_cost": _dec(r["new_sum"]),
                "unpriced_on_new": int(r["unpriced_sum"]),
            }
            for r in grouped.to_pylist()
        ),
        key=lambda r: (-r["old_cost"], str(r["current_model"])),
    )
    return Repriced(
        cost=sum((r["new_cost"] for r in by_model), ZERO),
        unpriced_events=sum(r["unpriced_on_new"] for r in by_model),
        by_model=by_model,
    )


def _typed_nulls(table: pa.Table) -> pa.Table:
    """NULL literals come back typed as null; give them the ledger's column types."""
    for i, f in enumerate(table.schema):
        if pa.types.is_null(f.type) and f.name in EVENT_SCHEMA.names:
            target = EVENT_SCHEMA.field(f.name).type
            table = table.set_column(i, pa.field(f.name, target), pa.nulls(table.num_rows, target))
    return table
