"""Reports: the built-in by-workflow report on 10M events vs the same report as hand-written DuckDB SQL.

The ledger is a DuckDB file filled by SQL (``INSERT ... SELECT FROM range(n)``,
not a Python loop) with SDK-like events: random event UUIDs, 32-hex run ids
(4 events a run: a retrieval and three model calls), 5 workflows, 500
customers in 40 tenants, 4 models, retries, failures, 0.1% unpriced, and an
outcome for every third run, over 30 days in time order.

Timed side by side in the same run, interleaved, median of ``--runs``:

- ``view_report(store, "workflow")``: the costtrail report (its rollup query
  built through the dialect, plus the unpriced line, plus Decimal ratios);
- the baseline: the same numbers written by hand as one DuckDB query, plus
  the same unpriced-models query.

Both must return the same numbers (checked). Also recorded: bytes per event
of the DuckDB file after a checkpoint. Goals: within 1.3x of the hand-written
SQL and < 0.25 s on 10M events; <= 100 bytes per event.

    python -m bench.bench_reports [--events 10000000] [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb

from costtrail.ledger.duckdb_store import DuckDBStore
from costtrail.reports import report, view_report

GOAL_RATIO = 1.3
GOAL_SECONDS = 0.25
GOAL_BYTES = 100
SPAN_US = 30 * 86_400 * 1_000_000

_EVENTS_SQL = """
INSERT INTO events (event_uuid, kind, schema_version, started_at, latency_ms, workflow, run_id, agent, step,
    retry_count, status, tool_calls, tool_name, provider, model, input_tokens, output_tokens,
    cache_read_tokens, cache_write_tokens, reasoning_tokens, input_audio_tokens, output_audio_tokens,
    request_count, query_count, payload_bytes, feature, customer_id, tenant_id, plan_tier, environment,
    cost_usd, cost_source, price_ref, unpriced)
SELECT
    gen_random_uuid(),
    CASE WHEN k = 0 THEN 'retrieval' ELSE 'llm' END,
    1,
    TIMESTAMP '2026-03-01' + to_microseconds(CAST(i * {step_us} AS BIGINT)),
    CASE WHEN k = 0 THEN 15 + h % 60 ELSE 250 + h % 4000 END + (h % 1000) / 1000.0,
    ['support_reply', 'document_extraction', 'onboarding_assistant', 'summarize', 'triage'][run % 5 + 1],
    md5(CAST(run AS VARCHAR)),
    CASE WHEN k = 0 THEN 'retriever' ELSE ['planner', 'writer', 'reviewer'][k] END,
    ['retrieve_docs', 'plan', 'draft', 'answer'][k + 1],
    CASE WHEN k > 0 AND h % 100 < 5 THEN 1 ELSE 0 END,
    CASE WHEN k = 3 AND h % 100 < 12 THEN 'failure' WHEN k > 0 AND h % 100 < 5 THEN 'retry'
         ELSE 'success' END,
    CASE WHEN k = 2 THEN h % 3 ELSE 0 END,
    CASE WHEN k = 0 THEN 'vector_search' END,
    CASE WHEN k = 0 THEN 'pinecone' WHEN m < 2 THEN 'openai' ELSE 'anthropic' END,
    CASE WHEN k = 0 THEN NULL
         ELSE ['gpt-4o', 'gpt-4o-mini', 'claude-sonnet-4-5', 'claude-haiku-4-5'][m + 1] END,
    CASE WHEN k = 0 THEN 0 ELSE 200 + h % 6000 END,
    CASE WHEN k = 0 THEN 0 ELSE 20 + (h // 7) % 900 END,
    CASE WHEN k > 0 AND h % 4 = 0 THEN 1024 ELSE 0 END,
    0, 0, 0, 0, 1,
    CASE WHEN k = 0 THEN 1 ELSE 0 END,
    CASE WHEN k = 0 THEN 300 ELSE 800 + h % 40000 END,
    ['chat', 'documents', 'onboarding', 'chat', 'inbox'][run % 5 + 1],
    'cust-' || CAST(c % 500 AS VARCHAR),
    'tenant-' || CAST(c % 40 AS VARCHAR),
    ['free', 'pro', 'enterprise'][c % 3 + 1],
    CASE WHEN c % 10 = 0 THEN 'staging' ELSE 'prod' END,
    CASE WHEN h % 1000 = 0 THEN NULL
         ELSE CAST(CAST(h % 90000000 AS DECIMAL(18, 0)) * CAST(0.000000001 AS DECIMAL(18, 12))
                   AS DECIMAL(18, 12))
    END,
    CASE WHEN h % 1000 = 0 THEN NULL ELSE 'computed' END,
    CASE WHEN h % 1000 = 0 THEN NULL ELSE 'genai-prices' END,
    h % 1000 = 0
FROM (
    SELECT i, i // 4 AS run, i % 4 AS k, CAST(hash(i) % 1000000007 AS BIGINT) AS h,
           CAST(hash(i // 4) % 4 AS BIGINT) AS m, CAST(hash(i // 4 + 7) % 1000003 AS BIGINT) AS c
    FROM range({n}) t(i)
)
"""

_OUTCOMES_SQL = """
INSERT INTO outcomes (outcome_id, run_id, workflow, outcome, success, recorded_at)
SELECT 'o-' || CAST(run AS VARCHAR), md5(CAST(run AS VARCHAR)),
       ['support_reply', 'document_extraction', 'onboarding_assistant', 'summarize', 'triage'][run % 5 + 1],
       'resolved', hash(run) % 10 < 8,
       TIMESTAMP '2026-03-01' + to_microseconds(CAST(run * 4 * {step_us} AS BIGINT))
FROM range(0, {runs}, 3) t(run)
"""

HAND_WRITTEN = """
WITH last_model AS (
    SELECT run_id, arg_max(status, started_at) FILTER (WHERE kind IN ('llm', 'embedding')) AS last_status
    FROM events WHERE run_id IS NOT NULL GROUP BY run_id
), run_outcome AS (
    SELECT run_id, bool_or(success) AS ok FROM outcomes GROUP BY run_id
), run_ok AS (
    SELECT l.run_id, coalesce(o.ok, coalesce(l.last_status = 'success', false)) AS ok
    FROM last_model l LEFT JOIN run_outcome o USING (run_id)
)
SELECT workflow,
       sum(cost_usd) AS total_cost,
       count(DISTINCT run_id) AS runs,
       count(DISTINCT run_id) FILTER (WHERE ok) AS successful_runs,
       avg(latency_ms) AS avg_latency_ms,
       quantile_cont(latency_ms, 0.95) AS p95_latency_ms,
       count(*) FILTER (WHERE retry_count > 0 OR status = 'retry') AS retried,
       count(*) AS events,
       count(*) FILTER (WHERE unpriced) AS unpriced_events
FROM events LEFT JOIN run_ok USING (run_id)
GROUP BY workflow ORDER BY total_cost DESC
"""

COST_ONLY_METRICS = ["total_cost", "events", "avg_latency_ms", "p95_latency_ms", "unpriced_events"]
HAND_COST_ONLY = """
SELECT workflow, sum(cost_usd), count(*), avg(latency_ms), quantile_cont(latency_ms, 0.95),
       count(*) FILTER (WHERE unpriced)
FROM events GROUP BY workflow ORDER BY 2 DESC
"""

HAND_UNPRICED = """
SELECT kind, provider, model, count(*) AS n FROM events WHERE unpriced
GROUP BY kind, provider, model ORDER BY n DESC
"""


def generate(store: DuckDBStore, n: int) -> float:
    t = time.perf_counter()
    step_us = SPAN_US // n
    # Keep range() order so the file is in time order, as an appending ledger is.
    store.execute("SET preserve_insertion_order = true")
    store.execute(_EVENTS_SQL.format(n=n, step_us=step_us))
    store.execute(_OUTCOMES_SQL.format(runs=n // 4, step_us=step_us))
    store.execute("SET preserve_insertion_order = false")
    store.checkpoint()
    return time.perf_counter() - t


def hand_written(conn: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    cur = conn.cursor()
    try:
        rows = cur.execute(HAND_WRITTEN).fetchall()
        cur.execute(HAND_UNPRICED).fetchall()
    finally:
        cur.close()
    out = []
    for wf, cost, runs, ok, avg_lat, p95, retried, events, unpriced in rows:
        out.append(
            {
                "workflow": wf,
                "total_cost": cost,
                "runs": runs,
                "avg_cost_per_run": (cost / runs).quantize(Decimal("1e-12")),
                "successful_runs": ok,
                "success_rate": ok / runs,
                "cost_per_successful_run": (cost / ok).quantize(Decimal("1e-12")),
                "avg_latency_ms": avg_lat,
                "p95_latency_ms": p95,
                "retry_rate": retried / events,
                "events": events,
                "unpriced_events": unpriced,
            }
        )
    return out


def _same(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> bool:
    if len(a) != len(b):
        return False
    for x, y in zip(a, b, strict=True):
        for key, value in x.items():
            other = y[key]
            if isinstance(value, float):
                if abs(value - other) > 1e-6 * max(1.0, abs(value)):
                    return False
            elif value != other:
                return False
    return True


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    n = args.events
    with tempfile.TemporaryDirectory(prefix="costtrail-bench-reports-") as tmp:
        path = Path(tmp) / "ledger.duckdb"
        store = DuckDBStore(path)
        gen_s = generate(store, n)
        size = path.stat().st_size
        conn = store._conn  # the baseline runs on the very same connection and file
        ours_t, base_t = [], []
        ours = view_report(store, "workflow")  # warm-up both
        base = hand_written(conn)
        for _ in range(args.runs):
            t = time.perf_counter()
            ours = view_report(store, "workflow")
            ours_t.append(time.perf_counter() - t)
            t = time.perf_counter()
            base = hand_written(conn)
            base_t.append(time.perf_counter() - t)
        same = _same(list(ours), base)
        cost_ours, cost_base = [], []
        for _ in range(args.runs):
            t = time.perf_counter()
            report(store, ["workflow"], COST_ONLY_METRICS)
            cost_ours.append(time.perf_counter() - t)
            t = time.perf_counter()
            cur = conn.cursor()
            cur.execute(HAND_COST_ONLY).fetchall()
            cur.execute(HAND_UNPRICED).fetchall()
            cur.close()
            cost_base.append(time.perf_counter() - t)
        load = os.getloadavg()[0]
        store.close()
    ours_s, base_s = statistics.median(ours_t), statistics.median(base_t)
    figures: dict[str, Any] = {
        "events": n,
        "generate_s": round(gen_s, 1),
        "report_s": round(ours_s, 4),
        "hand_written_s": round(base_s, 4),
        "ratio": round(ours_s / base_s, 3),
        "same_numbers": same,
        "cost_only_report_s": round(statistics.median(cost_ours), 4),
        "cost_only_hand_written_s": round(statistics.median(cost_base), 4),
        "load_average": round(load, 1),
        "bytes_per_event": round(size / n, 1),
        "runs": args.runs,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"duckdb {duckdb.__version__}",
    }
    print(f"reports bench: {n:,} events ({gen_s:.1f} s to generate), median of {args.runs}")
    print(f"  view_report(store, 'workflow'): {ours_s:.3f} s   (goal < {GOAL_SECONDS} s)")
    print(f"  hand-written DuckDB SQL:        {base_s:.3f} s")
    print(f"  ratio: {ours_s / base_s:.2f}x (goal <= {GOAL_RATIO}x); same numbers: {same}")
    print(
        f"  without run success (cost, events, latency, unpriced by workflow): "
        f"{figures['cost_only_report_s']:.3f} s vs hand-written {figures['cost_only_hand_written_s']:.3f} s"
    )
    print(f"  bytes per event on disk: {size / n:.1f} (goal <= {GOAL_BYTES}); load average {load:.1f}")
    return figures


if __name__ == "__main__":
    main()
