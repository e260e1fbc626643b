"""Exact cost of one event from resolved rates (the per-event path and the bulk path's slow lane)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal, localcontext

from costtrail.pricing.resolution import Cell, Rates

# The attribute naming usage counts a door refused to store (too large for any real call): the
# event's counts are incomplete, so it is never priced, whatever prices it later.
USAGE_REFUSED = "costtrail.usage_refused"

# What the ledger stores per event: DECIMAL(18, 12).
COST_QUANTUM = Decimal("1e-12")
COST_LIMIT = Decimal(10) ** 6
_SECONDS_PER_HOUR = Decimal(3600)


@dataclass(frozen=True)
class Costed:
    """A computed cost, or why there is none."""

    cost_usd: Decimal | None
    price_ref: str | None
    reason: str | None = None


def usage_values(
    input_tokens: int,
    output_tokens: int,
    cache_read_tokens: int,
    cache_write_tokens: int,
    input_audio_tokens: int,
    output_audio_tokens: int,
    reasoning_tokens: int,
    cache_write_1h_tokens: int,
    request_count: int,
    query_count: int,
    web_searches: int = 0,
    file_searches: int = 0,
    code_executions: int = 0,
) -> tuple[int, ...]:
    """The event's counts in ``RATE_FIELDS`` order (an event with no query_count is one query)."""
    return (
        input_tokens,
        output_tokens,
        cache_read_tokens,
        cache_write_tokens,
        input_audio_tokens,
        output_audio_tokens,
        reasoning_tokens,
        cache_write_1h_tokens,
        request_count,
        query_count if query_count > 0 else 1,
        web_searches,
        file_searches,
        code_executions,
    )


def cost_of(
    cell: Cell,
    values: tuple[int, ...],
    *,
    compute_seconds: Decimal | None = None,
    gpu_type: str | None = None,
    day: date | None = None,
) -> Costed:
    """The exact cost of usage ``values`` under ``cell`` (no rounding except for GPU time)."""
    if cell.reason is not None:
        return Costed(None, None, cell.reason)
    rates = cell.band(values[0])
    for check in rates.checks:
        if check.violated(values):
            return Costed(None, None, f"invalid usage: {check.message}")
    with localcontext() as ctx:
        ctx.prec = 60
        cost = sum((p * v for p, v in zip(rates.prices, values, strict=True) if p and v), Decimal(0))
        ref = cell.price_ref
        for index, tool_ref in rates.tool_refs:
            if values[index]:  # a fee the rate card priced: name its tools entry
                ref = f"{ref}+{tool_ref}"
        if rates.gpu is not None:
            gpu = _gpu_cost(rates, compute_seconds, gpu_type, day)
            if isinstance(gpu, str):
                return Costed(None, None, gpu)
            gpu_cost, label = gpu
            cost += gpu_cost
            ref = f"{ref}/gpus/{label}"
    if cost >= COST_LIMIT:
        return Costed(None, None, f"cost {cost} USD reaches the per-event limit (below {COST_LIMIT})")
    return Costed(cost, ref)


def _gpu_cost(
    rates: Rates, compute_seconds: Decimal | None, gpu_type: str | None, day: date | None
) -> tuple[Decimal, str] | str:
    assert rates.gpu is not None
    card = rates.gpu.card
    if compute_seconds is None:
        return "priced by GPU time, but the event has no compute_seconds"
    if day is None:
        raise ValueError("GPU-time pricing needs the event's day")
    found = card.gpu_rate(gpu_type, day)
    if found is None:
        return f"no rate-card gpus entry for gpu_type {gpu_type!r} on {day.isoformat()}"
    index, rate = found
    cost = (compute_seconds * rate.usd_per_hour * rates.gpu.factor / _SECONDS_PER_HOUR).quantize(COST_QUANTUM)
    return cost, card.entry_label("gpus", index)
