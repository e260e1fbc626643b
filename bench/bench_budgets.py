"""Budget check cost per request: ``reserve`` + ``settle`` on the gateway's gate.

Run: ``python -m bench.bench_budgets``. Measures each request's check one at a
time (perf_counter_ns around reserve + settle) at 1, 100 and 1,000 budgets of
mixed scopes, the full gateway chain (model policy + retry-loop guard +
budgets) at 100 budgets, and, side by side in the same run, two baselines: the
allow-everything gate (the cost of asking at all) and a naive gate that scans
every budget per request. Then the shared budget store: the same gate with its
counters in a local ``redis-server`` (started here on a free port) against the
in-process gate, on calendar budgets (a shared store keeps no rolling window).
"""

from __future__ import annotations

import random
import shutil
import socket
import statistics
import subprocess
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from costtrail.controls.budgets import BudgetGate
from costtrail.controls.chain import build_controls
from costtrail.controls.config import AlertsConfig, BudgetConfig, ControlsConfig, ModelPolicyConfig
from costtrail.controls.gate import AllowAll, Decision, RequestContext, RequestGate

TENANTS = [f"tenant-{i:04d}" for i in range(1000)]
FEATURES = [f"feature-{i}" for i in range(20)]
WORKFLOWS = [f"workflow-{i}" for i in range(10)]
ENVIRONMENTS = ["production", "staging", "dev", "ci"]


def budgets(n: int) -> list[BudgetConfig]:
    """``n`` budgets: 1 global, 4 environments, then workflows, features, and the rest per tenant."""
    out = [BudgetConfig(name="global", limit_usd=Decimal("1e9"))]
    for env in ENVIRONMENTS:
        out.append(BudgetConfig(name=f"env-{env}", scope={"environment": env}, limit_usd=Decimal("1e8")))
    for wf in WORKFLOWS:
        out.append(
            BudgetConfig(name=f"wf-{wf}", scope={"workflow": wf}, period="week", limit_usd=Decimal("1e7"))
        )
    for feat in FEATURES:
        out.append(
            BudgetConfig(name=f"ft-{feat}", scope={"feature": feat, "environment": "production"},
                         period="rolling", window="1h", limit_usd=Decimal("1e7"))
        )  # fmt: skip
    for tenant in TENANTS:
        out.append(
            BudgetConfig(
                name=f"t-{tenant}", scope={"tenant_id": tenant}, period="day", limit_usd=Decimal(1000)
            )
        )
    return out[:n]


def requests(n: int, seed: int = 1) -> list[RequestContext]:
    rng = random.Random(seed)
    return [
        RequestContext(
            provider="openai",
            model="gpt-4o-mini",
            environment=rng.choice(ENVIRONMENTS),
            tenant_id=rng.choice(TENANTS),
            feature=rng.choice(FEATURES),
            workflow=rng.choice(WORKFLOWS),
            run_id=f"run-{rng.randrange(10_000)}",
        )
        for _ in range(n)
    ]


class ScanGate:
    """Baseline: the obvious implementation, every budget checked against every request."""

    def __init__(self, configs: list[BudgetConfig]) -> None:
        self.configs = configs
        self.spent = {c.name: Decimal(0) for c in configs}

    def reserve(self, ctx: RequestContext, estimated_cost: Decimal) -> Decision:
        for c in self.configs:
            if (
                all(getattr(ctx, k) == v for k, v in c.scope.items())
                and self.spent[c.name] + estimated_cost > c.limit
            ):
                return Decision(allowed=False, rule=c.name)
        return Decision(allowed=True, reservation_id="x")

    def settle(self, decision: Decision, actual_cost: Decimal | None) -> None:
        return None


def measure(gate: RequestGate, ctxs: list[RequestContext]) -> dict[str, float]:
    estimate, actual = Decimal("0.0004"), Decimal("0.00031")
    clock = time.perf_counter_ns
    for ctx in ctxs[:2000]:  # warm up
        gate.settle(gate.reserve(ctx, estimate), actual)
    samples = []
    for ctx in ctxs:
        t0 = clock()
        d = gate.reserve(ctx, estimate)
        gate.settle(d, actual)
        samples.append(clock() - t0)
    samples.sort()
    return {
        "p50_us": samples[len(samples) // 2] / 1000,
        "p99_us": samples[int(len(samples) * 0.99)] / 1000,
        "mean_us": statistics.fmean(samples) / 1000,
    }


def _redis_server() -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = shutil.which("redis-server") or "/usr/bin/redis-server"
    proc = subprocess.Popen(
        [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, f"redis://127.0.0.1:{port}/0"
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("redis-server did not start")


def shared_store_runs(ctxs: list[RequestContext]) -> dict[str, Any]:
    """In-process vs Redis counters, side by side, 1 and 100 calendar budgets."""
    from costtrail.controls.redis_budget import RedisBudgetStore

    proc, url = _redis_server()
    results: dict[str, Any] = {}
    try:
        for n in (1, 100):
            configs = [b for b in budgets(n + 20) if b.period != "rolling"][:n]
            results[f"in-process, {n} calendar budget(s)"] = measure(BudgetGate(configs), ctxs)
            store = RedisBudgetStore(url, prefix=f"bench{n}")
            results[f"Redis budget store, {n} calendar budget(s)"] = measure(
                BudgetGate(configs, shared=store), ctxs
            )
            store.close()
            added = (
                results[f"Redis budget store, {n} calendar budget(s)"]["p50_us"]
                - results[f"in-process, {n} calendar budget(s)"]["p50_us"]
            )
            results[f"redis_added_p50_us_{n}"] = added
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    results["goal_added_p50_us"] = 1000.0
    results["redis_goal_met"] = results["redis_added_p50_us_100"] < 1000.0
    return results


def main(n_requests: int = 50_000) -> dict[str, Any]:
    ctxs = requests(n_requests)
    runs: dict[str, Callable[[], RequestGate]] = {
        "baseline: AllowAll (no budgets)": AllowAll,
        "BudgetGate, 1 budget": lambda: BudgetGate(budgets(1)),
        "BudgetGate, 100 budgets": lambda: BudgetGate(budgets(100)),
        "BudgetGate, 1,000 budgets": lambda: BudgetGate(budgets(1000)),
        "baseline: scan every budget, 100 budgets": lambda: ScanGate(budgets(100)),
        "full chain (policy + retry loop + 100 budgets)": lambda: (
            build_controls(
                ControlsConfig(
                    budgets=tuple(budgets(100)),
                    model_policies=(
                        ModelPolicyConfig(
                            name="p",
                            scope={"environment": "production"},
                            allowed_models=("gpt-4o-mini", "claude-*"),
                        ),
                    ),
                    alerts=AlertsConfig(log=False),
                )
            ).gate
        ),
    }
    results: dict[str, Any] = {}
    for name, make in runs.items():
        results[name] = measure(make(), ctxs)
    base = results["BudgetGate, 100 budgets"]["p50_us"]
    results["scan_vs_indexed_at_100"] = results["baseline: scan every budget, 100 budgets"]["p50_us"] / base
    results["goal_p50_us_at_100"] = 50.0
    results["goal_met"] = base < 50.0
    results["shared"] = shared_store_runs(ctxs[:10_000])
    print(f"{'gate':<50} {'p50 us':>8} {'p99 us':>8} {'mean us':>8}")
    for name, r in results.items():
        if isinstance(r, dict) and "p50_us" in r:
            print(f"{name:<50} {r['p50_us']:>8.2f} {r['p99_us']:>8.2f} {r['mean_us']:>8.2f}")
    for name, r in results["shared"].items():
        if isinstance(r, dict):
            print(f"{name:<50} {r['p50_us']:>8.2f} {r['p99_us']:>8.2f} {r['mean_us']:>8.2f}")
    print(f"scan / indexed at 100 budgets (p50): {results['scan_vs_indexed_at_100']:.1f}x; goal < 50 us p50: "
          f"{'met' if results['goal_met'] else 'NOT met'}")  # fmt: skip
    added = results["shared"]["redis_added_p50_us_100"]
    print(f"Redis adds {added:.0f} us p50 at 100 budgets; goal < 1 ms: "
          f"{'met' if results['shared']['redis_goal_met'] else 'NOT met'}")  # fmt: skip
    return results


if __name__ == "__main__":
    main()
