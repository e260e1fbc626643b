"""Every built-in view on the hand-made ledger of reports_dataset.py, numbers worked out by hand."""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D

import pytest
from tests.reports.reports_dataset import load_hand_dataset

from costtrail.ledger.duckdb_store import DuckDBStore
from costtrail.reports import Bands, failed_spend, run_steps, top_runs, view_report


@pytest.fixture
def ledger(store: DuckDBStore) -> DuckDBStore:
    load_hand_dataset(store)
    return store


def by_key(rows: list[dict], *keys: str) -> dict:
    return {tuple(r[k] for k in keys) if len(keys) > 1 else r[keys[0]]: r for r in rows}


def test_by_workflow(ledger: DuckDBStore) -> None:
    rows = view_report(ledger, "workflow")
    assert [r["workflow"] for r in rows] == ["support_reply", "doc_extract"]
    support, docs = rows
    assert support["total_cost"] == D("0.161")
    assert support["runs"] == 4
    assert support["avg_cost_per_run"] == D("0.04025")
    assert support["successful_runs"] == 2
    assert support["success_rate"] == 0.5
    assert support["cost_per_successful_run"] == D("0.0805")
    assert support["avg_latency_ms"] == pytest.approx(1070.0)
    assert support["p95_latency_ms"] == pytest.approx(2500.0)  # between 1000 and 3000 at 0.75
    assert support["retry_rate"] == pytest.approx(2 / 6)
    assert support["events"] == 6
    assert support["unpriced_events"] == 0
    assert docs["total_cost"] == D("0.012")
    assert docs["successful_runs"] == 2
    assert docs["cost_per_successful_run"] == D("0.006")
    assert docs["p95_latency_ms"] == pytest.approx(580.0)
    assert docs["unpriced_events"] == 1
    assert isinstance(support["total_cost"], D) and isinstance(support["cost_per_successful_run"], D)


def test_by_agent(ledger: DuckDBStore) -> None:
    rows = view_report(ledger, "agent")
    assert [r["agent"] for r in rows] == ["writer", "extractor", "retriever"]
    writer, extractor, retriever = rows
    assert writer["total_cost"] == D("0.16")
    assert writer["avg_input_tokens"] == 1100.0
    assert writer["avg_output_tokens"] == 190.0
    assert writer["retry_rate"] == pytest.approx(0.4)
    assert writer["avg_latency_ms"] == pytest.approx(1280.0)
    assert extractor["total_cost"] == D("0.012")
    assert extractor["model_calls"] == 2
    assert extractor["avg_input_tokens"] == 1900.0
    assert extractor["avg_output_tokens"] == 300.0
    assert retriever["total_cost"] == D("0.001")
    assert retriever["avg_input_tokens"] is None  # no model calls: no average, not zero


def test_by_model(ledger: DuckDBStore) -> None:
    rows = view_report(ledger, "model")
    assert [(r["provider"], r["model"]) for r in rows] == [
        ("anthropic", "claude-sonnet-4-5"),
        ("openai", "gpt-4o"),
        (None, None),
        ("openai", "gpt-4o-mini"),
        ("pinecone", None),
        ("acme-ai", "my-private-model"),
    ]
    models = by_key(rows, "provider", "model")
    gpt = models[("openai", "gpt-4o")]
    assert gpt["total_cost"] == D("0.07")
    assert gpt["model_calls"] == 3
    assert gpt["total_input_tokens"] == 2000 and gpt["total_output_tokens"] == 400
    assert gpt["avg_cost_per_event"] == D("0.023333333333")
    assert gpt["failure_rate"] == 0.0  # a retried attempt is not a failure
    claude = models[("anthropic", "claude-sonnet-4-5")]
    assert claude["total_cost"] == D("0.09") and claude["failure_rate"] == 1.0
    private = models[("acme-ai", "my-private-model")]
    assert private["unpriced_events"] == 1
    assert private["avg_cost_per_event"] is None  # unpriced: never an average of $0


def test_by_tool(ledger: DuckDBStore) -> None:
    rows = view_report(ledger, "tool")
    assert [r["tool_name"] for r in rows] == ["ocr", "vector_search"]
    ocr, search = rows
    assert (ocr["events"], ocr["failure_rate"], ocr["avg_latency_ms"]) == (1, 1.0, 50.0)
    assert ocr["workflows_touched"] == 1 and ocr["total_cost"] == D("0.01")
    assert (search["events"], search["failure_rate"], search["p95_latency_ms"]) == (1, 0.0, 20.0)


def test_by_step(ledger: DuckDBStore) -> None:
    rows = view_report(ledger, "step")
    assert [(r["workflow"], r["step"]) for r in rows] == [
        ("support_reply", "answer"),
        ("doc_extract", "ocr"),
        ("doc_extract", "extract"),
        ("support_reply", "retrieve"),
    ]
    answer = rows[0]
    assert answer["total_cost"] == D("0.16")
    assert (answer["events"], answer["runs"]) == (5, 4)
    assert answer["avg_cost_per_run"] == D("0.04")
    assert answer["retry_rate"] == pytest.approx(0.4)
    assert answer["failure_rate"] == pytest.approx(0.4)
    extract = rows[2]
    assert extract["avg_cost_per_run"] == D("0.001") and extract["unpriced_events"] == 1


def test_by_payload_band(ledger: DuckDBStore) -> None:
    rows = view_report(ledger, "payload-band")
    assert [r["payload_band"] for r in rows] == ["<1KB", "1KB-10KB", "100KB-1MB"]
    small, mid, big = rows
    assert (small["events"], small["total_cost"], small["avg_cost_per_event"]) == (2, D("0.031"), D("0.0155"))
    assert small["avg_latency_ms"] == 410.0
    assert (mid["events"], mid["total_cost"], mid["unpriced_events"]) == (6, D("0.102"), 1)
    assert mid["avg_cost_per_event"] == D("0.0204")  # over the 5 priced events
    assert (big["events"], big["total_cost"]) == (1, D("0.04"))


def test_payload_bands_are_configurable(ledger: DuckDBStore) -> None:
    rows = view_report(ledger, "payload-band", payload_bands=Bands("payload_bytes", (1_000, 100_000)))
    assert [(r["payload_band"], r["events"]) for r in rows] == [
        ("<1000B", 2),
        ("1000B-100000B", 6),
        (">=100000B", 1),
    ]
    tokens = view_report(ledger, "input-band", input_bands=Bands("input_tokens", (1_000,)))
    assert [(r["input_band"], r["events"]) for r in tokens] == [("<1k", 5), (">=1k", 4)]


@pytest.mark.parametrize(
    ("view", "key", "expected"),
    [
        (
            "customer",
            "customer_id",
            {"c1": ("0.081", 2, 1, "0.081"), "c2": ("0.08", 2, 1, "0.08"), "c3": ("0.012", 2, 2, "0.006")},
        ),
        ("tenant", "tenant_id", {"t1": ("0.161", 4, 2, "0.0805"), "t2": ("0.012", 2, 2, "0.006")}),
        (
            "environment",
            "environment",
            {"prod": ("0.161", 4, 2, "0.0805"), "staging": ("0.012", 2, 2, "0.006")},
        ),
        ("feature", "feature", {"chat": ("0.161", 4, 2, "0.0805"), "docs": ("0.012", 2, 2, "0.006")}),
    ],
)
def test_business_views(ledger: DuckDBStore, view: str, key: str, expected: dict) -> None:
    rows = view_report(ledger, view)
    got = {
        r[key]: (r["total_cost"], r["runs"], r["successful_runs"], r["cost_per_successful_run"]) for r in rows
    }
    assert got == {k: (D(c), n, s, D(cps)) for k, (c, n, s, cps) in expected.items()}
    assert [r[key] for r in rows] == sorted(expected, key=lambda k: -D(expected[k][0]))


def test_by_day(ledger: DuckDBStore) -> None:
    rows = view_report(ledger, "day")
    assert [r["day"] for r in rows] == [date(2026, 3, 1), date(2026, 3, 2), date(2026, 3, 3)]
    assert [r["total_cost"] for r in rows] == [D("0.071"), D("0.09"), D("0.012")]
    assert [r["successful_runs"] for r in rows] == [1, 1, 2]
    assert [r["cost_per_successful_run"] for r in rows] == [D("0.071"), D("0.09"), D("0.006")]
    assert [r["unpriced_events"] for r in rows] == [0, 0, 1]


def test_failed_spend(ledger: DuckDBStore) -> None:
    rows = by_key(failed_spend(ledger), "workflow")
    support = rows["support_reply"]
    assert (support["runs"], support["failed_runs"]) == (4, 2)
    assert support["failed_run_cost"] == D("0.09")  # s2 ($0.04) + s3 ($0.05)
    assert support["failed_cost_share"] == pytest.approx(0.09 / 0.161)
    assert rows["doc_extract"]["failed_run_cost"] == D("0")


def test_top_runs(ledger: DuckDBStore) -> None:
    rows = top_runs(ledger, limit=10)
    assert [(r["run_id"], r["total_cost"]) for r in rows] == [
        ("s3", D("0.05")),
        ("s2", D("0.04")),
        ("s4", D("0.04")),
        ("s1", D("0.031")),
        ("d1", D("0.012")),
        ("d2", None),  # every event of d2 is unpriced: no cost, not $0
    ]
    assert [r["succeeded"] for r in rows] == [False, False, True, True, True, True]
    assert rows[0]["workflow"] == "support_reply" and rows[0]["customer_id"] == "c1"
    assert rows[5]["unpriced_events"] == 1
    assert [r["run_id"] for r in top_runs(ledger, limit=2)] == ["s3", "s2"]


def test_run_steps_in_order(ledger: DuckDBStore) -> None:
    run = run_steps(ledger, "s2")
    assert run["workflow"] == "support_reply" and run["succeeded"] is False
    assert [(s["status"], s["retry_count"]) for s in run["steps"]] == [("retry", 0), ("success", 1)]
    assert [s["cost_usd"] for s in run["steps"]] == [D("0.02"), D("0.02")]
    assert [s["cumulative_cost"] for s in run["steps"]] == [D("0.02"), D("0.04")]
    assert run["total_cost"] == D("0.04")
    assert [o["outcome"] for o in run["outcomes"]] == ["ticket_resolved"]
    steps = run_steps(ledger, "d1")["steps"]
    assert [s["step"] for s in steps] == ["ocr", "extract"]  # time order, not insertion order


def test_unpriced_line_in_every_view(ledger: DuckDBStore) -> None:
    for view in ("workflow", "agent", "model", "tool", "step", "payload-band", "customer", "day"):
        result = view_report(ledger, view)
        expected = 0 if view == "tool" else 1  # the tool view only reads events naming a tool
        assert result.unpriced.events == expected, view
        assert result.as_dict()["unpriced"]["events"] == expected
    line = view_report(ledger, "workflow").unpriced
    assert line.models == ({"kind": "llm", "provider": "acme-ai", "model": "my-private-model", "events": 1},)
    assert view_report(ledger, "workflow", filters={"workflow": "support_reply"}).unpriced.events == 0
