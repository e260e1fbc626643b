"""Pricing: bulk Arrow pricing vs calling ``genai_prices.calc_price`` once per event, same run.

A synthetic table of events (40 models of OpenAI, Anthropic, Google, xAI,
DeepSeek and Mistral; cache reads and writes, reasoning, batch and priority
tiers, context tiers; 400 days of timestamps so price changes are crossed)
is priced three ways:

- ``Pricer().price_table`` on the whole table, with a fresh Pricer (cold:
  every price resolution is made inside the timing) and again warm;
- ``Pricer().price`` per event (the SDK/collector path) on a sample;
- the baseline: ``genai_prices.calc_price`` per event on a sample.

The bulk result is checked against calc_price on the baseline sample (exact
to 1e-12), so the speed is not bought with a different answer.
Goals: bulk >= 1M events/s and >= 60x the per-event calc_price rate.

    python -m bench.bench_pricing [--events 1000000] [--sample 20000] [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import numpy as np
import pyarrow as pa
from genai_prices import Usage, calc_price

from costtrail.ledger.columns import EVENT_SCHEMA
from costtrail.pricing import Pricer
from costtrail.pricing.resolution import price_context
from costtrail.schema import Event

MODELS = [
    ("openai", m)
    for m in ("gpt-4o", "gpt-4o-mini", "gpt-4.1", "gpt-4.1-mini", "gpt-4.1-nano", "o3", "o3-mini", "o4-mini")
] + [("openai", m) for m in ("gpt-5", "gpt-5-mini", "gpt-5-nano", "gpt-5.4", "text-embedding-3-small")]
MODELS += [
    ("anthropic", m)
    for m in (
        "claude-sonnet-4-5",
        "claude-opus-4-1",
        "claude-haiku-4-5",
        "claude-3-5-haiku-latest",
        "claude-3-7-sonnet-latest",
        "claude-sonnet-4-0",
        "claude-opus-4-6",
    )
]
MODELS += [
    ("google", m)
    for m in (
        "gemini-2.5-pro",
        "gemini-2.5-flash",
        "gemini-2.5-flash-lite",
        "gemini-2.0-flash",
        "gemini-1.5-pro",
        "gemini-1.5-flash",
        "gemini-3-pro-preview",
    )
]
MODELS += [("x-ai", m) for m in ("grok-3", "grok-3-mini", "grok-4-0709", "grok-4.20", "grok-code-fast-1")]
MODELS += [("deepseek", m) for m in ("deepseek-chat", "deepseek-reasoner", "deepseek-v3.2")]
MODELS += [("mistral", m) for m in ("mistral-large-latest", "mistral-small-latest", "codestral-2508")]
MODELS += [("openai", "my-private-model")]  # unpriced: flagged, not $0
TIERS = [None, None, None, None, "batch", "priority"]
START_US = int(datetime(2025, 1, 1, tzinfo=UTC).timestamp() * 1_000_000)
SPAN_US = 400 * 86_400 * 1_000_000


def make_events(n: int, seed: int = 7) -> pa.Table:
    """``n`` events in the ledger's Arrow schema, deterministic for a seed."""
    rng = np.random.default_rng(seed)
    which = rng.integers(0, len(MODELS), n)
    big = rng.random(n) < 0.05
    inp = np.where(big, rng.integers(150_000, 400_000, n), rng.integers(0, 20_000, n))
    cache_read = np.where(rng.random(n) < 0.4, (inp * rng.random(n) * 0.5).astype(np.int64), 0)
    cache_write = np.where(
        rng.random(n) < 0.2, ((inp - cache_read) * rng.random(n) * 0.3).astype(np.int64), 0
    )
    out = rng.integers(0, 4_000, n)
    reasoning = np.where(rng.random(n) < 0.3, (out * rng.random(n)).astype(np.int64), 0)
    columns: dict[str, pa.Array] = {}
    for field in EVENT_SCHEMA:
        columns[field.name] = pa.nulls(n, field.type)
    ints = {
        "input_tokens": inp,
        "output_tokens": out,
        "cache_read_tokens": cache_read,
        "cache_write_tokens": cache_write,
        "reasoning_tokens": reasoning,
        "request_count": np.ones(n, dtype=np.int64),
    }
    for name in ("schema_version", "retry_count", "tool_calls", "input_audio_tokens", "output_audio_tokens"):
        ints.setdefault(name, np.zeros(n, dtype=np.int64))
    for name in ("query_count", "payload_bytes"):
        ints[name] = np.zeros(n, dtype=np.int64)
    for name, values in ints.items():
        columns[name] = pa.array(values.astype(np.int64))
    columns["event_uuid"] = pa.Array.from_buffers(pa.binary(16), n, [None, pa.py_buffer(rng.bytes(16 * n))])
    columns["kind"] = pa.array(np.where(MODELS_KIND[which], "embedding", "llm"))
    columns["status"] = pa.array(["success"]).take(pa.array(np.zeros(n, dtype=np.int64)))
    columns["provider"] = pa.array([p for p, _ in MODELS]).take(pa.array(which))
    columns["model"] = pa.array([m for _, m in MODELS]).take(pa.array(which))
    tier_idx = rng.integers(0, len(TIERS), n)
    columns["service_tier"] = pa.array(TIERS).take(pa.array(tier_idx))
    ts = START_US + rng.integers(0, SPAN_US, n)
    columns["started_at"] = pa.array(ts).cast(pa.timestamp("us"))
    columns["unpriced"] = pa.array(np.zeros(n, dtype=bool))
    return pa.table([columns[f.name] for f in EVENT_SCHEMA], schema=EVENT_SCHEMA)


MODELS_KIND = np.array([m.startswith("text-embedding") for _, m in MODELS])


def _usage(row: dict[str, Any]) -> Usage:
    return Usage(
        input_tokens=row["input_tokens"],
        output_tokens=row["output_tokens"],
        cache_read_tokens=row["cache_read_tokens"],
        cache_write_tokens=row["cache_write_tokens"],
        input_audio_tokens=row["input_audio_tokens"],
        output_audio_tokens=row["output_audio_tokens"],
        output_reasoning_tokens=row["reasoning_tokens"],
    )


def _calc_price(row: dict[str, Any]) -> Decimal | None:
    try:
        return calc_price(
            _usage(row),
            row["model"],
            provider_id=row["provider"],
            genai_request_timestamp=row["started_at"].replace(tzinfo=UTC),
            price_context=price_context(row["service_tier"]),
        ).total_price
    except (LookupError, ValueError):
        return None


def _best(runs: int, fn: Any) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(runs):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--sample", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)

    table = make_events(args.events)
    cold, priced = _best(args.runs, lambda: Pricer().price_table(table))
    warm_pricer = Pricer()
    warm_pricer.price_table(table)
    warm, _ = _best(args.runs, lambda: warm_pricer.price_table(table))

    sample = table.slice(0, args.sample).to_pylist()
    baseline, expected = _best(1, lambda: [_calc_price(r) for r in sample])
    events = [
        Event.model_validate({k: v for k, v in r.items() if v is not None and k != "event_uuid"})
        for r in sample
    ]
    per_event_pricer = Pricer()
    per_event, _ = _best(1, lambda: [per_event_pricer.price(e) for e in events])

    got = priced.slice(0, args.sample).column("cost_usd").to_pylist()
    mismatches = sum(
        1
        for g, e in zip(got, expected, strict=True)
        if (e is None) != (g is None) or (e is not None and g != e.quantize(Decimal("1e-12")))
    )
    unpriced = int(priced.column("unpriced").to_numpy().sum())
    calc_rate = args.sample / baseline
    figures = {
        "events": args.events,
        "bulk_cold_s": round(cold, 4),
        "bulk_cold_events_per_s": round(args.events / cold),
        "bulk_warm_s": round(warm, 4),
        "bulk_warm_events_per_s": round(args.events / warm),
        "per_event_pricer_events_per_s": round(args.sample / per_event),
        "calc_price_events_per_s": round(calc_rate),
        "ratio_cold_vs_calc_price": round(args.events / cold / calc_rate, 1),
        "ratio_warm_vs_calc_price": round(args.events / warm / calc_rate, 1),
        "sample_checked": args.sample,
        "sample_mismatches": mismatches,
        "unpriced_events": unpriced,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
    }
    for k, v in figures.items():
        print(f"{k:32} {v:,}" if isinstance(v, int | float) else f"{k:32} {v}")
    return figures


if __name__ == "__main__":
    main()
