"""Guardrails, tenant anomalies, the alerts and evals tables, traffic/trends and FOCUS rows on both stores."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from costtrail.controls.alerts import Alert, LedgerAlertSink, read_alerts, table_exists
from costtrail.controls.anomaly import tenant_anomalies
from costtrail.controls.config import CostSpikeConfig, RetryLoopConfig, TenantAnomalyConfig
from costtrail.controls.guardrails import cost_spikes, retry_loops
from costtrail.export.focus_export import focus_records
from costtrail.finance import Period
from costtrail.ledger.clickhouse_store import ClickHouseStore
from costtrail.ledger.store import LedgerStore
from costtrail.optimize.evals import EvalResult, import_evals, read_evals
from costtrail.optimize.traffic import TrafficScope, summarize
from costtrail.optimize.trends import series
from costtrail.schema import Event

NOW = datetime(2026, 10, 29, 12, tzinfo=UTC)


def _traffic(store: LedgerStore) -> None:
    events = []
    for day in range(28):
        t = NOW - timedelta(days=28 - day)
        spike = 12 if day == 27 else 1  # the last day: tenant "globex" spends 12x
        for run in range(6):
            for step in range(3):
                events.append(
                    Event(
                        provider="openai",
                        model="gpt-4o-mini",
                        workflow="support_reply",
                        run_id=f"d{day}-r{run}",
                        step=f"s{step}",
                        tenant_id="globex" if run % 2 else "acme",
                        customer_id=f"c{run}",
                        input_tokens=500 + step,
                        output_tokens=50,
                        cost_usd=Decimal("0.0100") * (spike if run % 2 else 1),
                        started_at=t + timedelta(minutes=run * 10 + step),
                    )
                )
    # A retry loop in the last hour.
    events += [
        Event(
            provider="openai",
            model="gpt-4o-mini",
            workflow="support_reply",
            run_id="loop",
            status="retry",
            retry_count=i,
            cost_usd=Decimal("0.001"),
            started_at=NOW - timedelta(minutes=5) + timedelta(seconds=i),
        )
        for i in range(60)
    ]
    store.append_events(events)


def test_alerts_table_is_looked_up_in_this_ledger_only(ledger: LedgerStore) -> None:
    """Another database on the same server with an ``alerts`` table is not ours."""
    if isinstance(ledger, ClickHouseStore):
        ledger.command("CREATE DATABASE IF NOT EXISTS other_app")
        ledger.command("CREATE TABLE IF NOT EXISTS other_app.alerts (a Int32) ENGINE = Memory")
    else:
        ledger.execute("ATTACH ':memory:' AS other_app")  # type: ignore[attr-defined]
        ledger.execute("CREATE TABLE other_app.alerts (a INTEGER)")
    # A ClickHouse ledger gets its registry tables from a migration; DuckDB's on first use.
    assert table_exists(ledger, "alerts") == isinstance(ledger, ClickHouseStore)
    assert read_alerts(ledger) == []


def _alerts(found: list[Alert]) -> list[tuple[str, str, str]]:
    return sorted((a.kind, a.key, a.message) for a in found)


def test_controls_optimize_and_export_agree(both: tuple[LedgerStore, LedgerStore]) -> None:
    out: list[dict[str, Any]] = []
    for store in both:
        _traffic(store)
        assert read_alerts(store) == []
        spikes = cost_spikes(store, CostSpikeConfig(min_baseline_runs=5), NOW)
        loops = retry_loops(store, RetryLoopConfig(), NOW)
        anomalies = tenant_anomalies(store, TenantAnomalyConfig(), NOW)
        sink = LedgerAlertSink(store)
        for a in [*spikes, *loops, *anomalies]:
            sink.send(a)
        evals = [
            EvalResult(workflow="support_reply", model=m, eval_date=date(2026, 10, d), pass_rate=p, cases=100)
            for m, d, p in (("gpt-4o-mini", 1, 0.9), ("gpt-4o-mini", 5, 0.92), ("gpt-4o", 3, 0.97))
        ]
        scope = TrafficScope(workflow="support_reply", since=NOW - timedelta(days=7))
        out.append(
            {
                "alerts": _alerts([*spikes, *loops, *anomalies]),
                "stored": sorted((r["kind"], r["dedup_key"]) for r in read_alerts(store)),
                "last_raised": sorted(sink.last_raised(NOW - timedelta(days=1))),
                "evals": (import_evals(store, evals), import_evals(store, evals)),
                "latest": sorted((e.model, e.eval_date) for e in read_evals(store, "support_reply")),
                "traffic": summarize(store, scope),
                "trend": series(store, scope),
                # The export has no row order of its own: compare the rows as a set.
                "focus": sorted(map(repr, focus_records(store, Period.parse("2026-10")))),
            }
        )
    duck, click = out
    assert duck["alerts"] and any(kind == "retry_loop" for kind, _, _ in duck["alerts"])
    assert duck["stored"] and duck["focus"] and duck["trend"]
    for key in duck:
        assert click[key] == duck[key], key
