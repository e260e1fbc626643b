"""Invoice preview for every customer of a month: ``costtrail.billing.preview`` on DuckDB.

Run: ``python -m bench.bench_billing [--events 10000000]``. The month is the
scale bench's generated ledger (``bench_scale.generate``: 30 days of January
2026, 5,000 customers, 2.5M runs) and the plan prices cost-plus, output tokens
with an allowance and graduated tiers, gpt-4o input tokens in volume tiers,
calls, runs and successful runs. Baseline, same store, same run: one
hand-written ``GROUP BY customer_id`` of the same event sums (no run status,
no plan, no invoice objects): what a report of the month's usage costs.
The preview reads the ledger's usage rollup (``ledger/usage_rollup.py``),
which the load by SQL builds once, as appends keep it.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.bench_scale import figure, generate, median_seconds
from costtrail.billing import PricePlans, preview
from costtrail.finance.period import Period
from costtrail.ledger.duckdb_store import DuckDBStore

GOAL_SECONDS = 2.0
MONTH = Period.parse("2026-01")
PLANS = """
default_plan: usage
plans:
  - name: usage
    minimum_usd: "10.00"
    charges:
      - {name: usage, metric: cost, markup_pct: 30}
      - name: output-tokens
        metric: output_tokens
        per: 1000000
        included: 200000
        tiers:
          - {up_to: 1000000, unit_price: "12.00"}
          - {unit_price: "9.00"}
      - name: gpt4o-input
        metric: input_tokens
        where: {model: gpt-4o}
        per: 1000000
        tier_mode: volume
        tiers:
          - {up_to: 1000000, unit_price: "3.00"}
          - {unit_price: "2.50"}
      - {name: calls, metric: calls, unit_price: "0.001"}
      - {name: runs, metric: runs, unit_price: "0.01"}
      - {name: good-runs, metric: successful_runs, unit_price: "0.02"}
"""
HAND = """
SELECT customer_id, sum(cost_usd) AS cost, sum(output_tokens) AS out_tok,
       sum(CASE WHEN model = 'gpt-4o' THEN input_tokens ELSE 0 END) AS in_tok,
       sum(request_count) AS calls, count(DISTINCT run_id) AS runs
FROM events WHERE started_at >= TIMESTAMP '2026-01-01' AND started_at < TIMESTAMP '2026-02-01'
  AND customer_id IS NOT NULL
GROUP BY customer_id
"""


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    plans = PricePlans.from_yaml(PLANS, source="bench plans")
    label = f"{args.events // 1_000_000}M" if args.events >= 1_000_000 else f"{args.events // 1000}k"
    with tempfile.TemporaryDirectory(prefix="costtrail-billing-") as tmp:
        store = DuckDBStore(Path(tmp) / "ledger.duckdb")
        try:
            made = generate(store, args.events)
            print(f"generated {args.events:,} events in {made:.1f} s", flush=True)
            t = time.perf_counter()
            run = preview(store, plans, MONTH)
            first = time.perf_counter() - t
            value = median_seconds(lambda: preview(store, plans, MONTH), args.runs)
            baseline = median_seconds(lambda: store.query(HAND), args.runs)
        finally:
            store.close()
    verdict = "met" if value < GOAL_SECONDS else "NOT met"
    figures = {
        f"invoice preview, all {len(run.invoices):,} customers @{label}": figure(
            value, "s", baseline, args.runs, goal=f"< {GOAL_SECONDS:g} s: {verdict}"
        ),
        f"first (cold) preview @{label}": {"value": first, "unit": "s", "runs": 1},
        f"invoice lines @{label}": {"value": sum(len(i.lines) for i in run.invoices), "unit": "lines"},
    }
    for name, f in figures.items():
        extra = f" (baseline {f['baseline']:.4g} s, ratio {f['ratio']:.2f})" if "baseline" in f else ""
        print(f"{name:<48} {f['value']:>12.4g} {f['unit']}{extra}  {f.get('goal', '')}")
    return figures


if __name__ == "__main__":
    main()
