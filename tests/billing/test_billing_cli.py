"""costtrail invoice preview / lines through the CLI, on a ledger file."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from typer.testing import CliRunner

from costtrail.cli.main import app
from costtrail.ledger.duckdb_store import DuckDBStore
from costtrail.schema import Event

PLANS = """
default_plan: pro
plans:
  - name: pro
    charges:
      - {name: usage, metric: cost, markup_pct: 50}
      - {name: output, metric: output_tokens, per: 1000, unit_price: "0.02", included: 1000}
"""


def _ledger(tmp_path: Path) -> list[str]:
    path = tmp_path / "l.duckdb"
    store = DuckDBStore(path)
    at = datetime(2026, 11, 4, 9, tzinfo=UTC)
    rows = [("e1", "gpt-4o", 1500, "0.40"), ("e2", "gpt-4o", 2500, "0.60"), ("e3", "mystery", 10, None)]
    store.append_events(
        [
            Event(
                event_id=eid,
                model=model,
                customer_id="acme",
                started_at=at,
                output_tokens=tokens,
                cost_usd=None if cost is None else Decimal(cost),
                unpriced=cost is None,
            )
            for eid, model, tokens, cost in rows
        ]
    )
    store.close()
    plans = tmp_path / "plans.yaml"
    plans.write_text(PLANS)
    return ["--ledger", str(path), "--plans", str(plans)]


def test_preview_json_and_lines(tmp_path: Path) -> None:
    runner = CliRunner()
    opts = _ledger(tmp_path)
    out = runner.invoke(
        app, ["invoice", "preview", "--period", "2026-11", "--customer", "acme", *opts, "--format", "json"]
    )
    assert out.exit_code == 0, out.output
    (invoice,) = json.loads(out.stdout)["invoices"]
    lines = {line["charge"]: line for line in invoice["lines"]}
    assert lines["usage"]["amount"] == "1.50"  # $1.00 of priced cost x 1.5
    assert lines["usage"]["unpriced_events"] == 1
    # 4,010 output tokens, 1,000 included: 3,010 x $0.02 / 1,000 = $0.0602 -> $0.06
    assert lines["output"]["quantity"] == "4010" and lines["output"]["amount"] == "0.06"
    assert invoice["total"] == "1.56" and invoice["cost"] == "1.000000000000"
    assert invoice["margin"] == "0.560000000000"
    behind = runner.invoke(app, ["invoice", "lines", "2026-11:acme:output", *opts, "--format", "json"])
    assert behind.exit_code == 0, behind.output
    rows = json.loads(behind.stdout)["rows"]
    assert sorted((r["id"], r["quantity"]) for r in rows) == [("e1", 1500), ("e2", 2500), ("e3", 10)]


def test_preview_table_says_unpriced_and_margin(tmp_path: Path) -> None:
    out = CliRunner().invoke(
        app,
        ["invoice", "preview", "--period", "2026-11", "--customer", "acme", *_ledger(tmp_path)],
        env={"COLUMNS": "200"},
    )
    assert out.exit_code == 0, out.output
    assert "total $1.56   cost $1.00   margin $0.56 (35.90%)" in out.stdout
    assert "1 unpriced event(s)" in out.stdout
    summary = CliRunner().invoke(app, ["invoice", "preview", "--period", "2026-11", *_ledger(tmp_path)])
    assert "1 invoices, total $1.56" in summary.stdout


def test_bad_plans_file_and_line_id_exit_2(tmp_path: Path) -> None:
    opts = _ledger(tmp_path)
    bad = tmp_path / "bad.yaml"
    bad.write_text("plans:\n  - name: x\n    charges: [{name: c, metric: calls}]\n")
    out = CliRunner().invoke(app, ["invoice", "preview", "--period", "2026-11", *opts, "--plans", str(bad)])
    assert out.exit_code == 2 and f"{bad}:3: plans[0] (name 'x').charges[0] (name 'c')" in out.output
    out = CliRunner().invoke(app, ["invoice", "lines", "acme-output", *opts])
    assert out.exit_code == 2 and "is not PERIOD:CUSTOMER:CHARGE" in out.output


def test_a_closed_invoice_survives_a_reprice(tmp_path: Path) -> None:
    import pyarrow as pa

    runner = CliRunner()
    opts = _ledger(tmp_path)
    closed = ["--closed-dir", str(tmp_path / "invoices")]
    done = runner.invoke(app, ["invoice", "close", "--period", "2026-11", *opts, *closed])
    assert done.exit_code == 0, done.output
    again = runner.invoke(app, ["invoice", "close", "--period", "2026-11", *opts, *closed])
    assert again.exit_code == 2 and "closed already" in again.output
    # a later reprice: e1 now costs $0.90 instead of $0.40 (as a new rate card would say)
    with DuckDBStore(tmp_path / "l.duckdb") as store:
        [row] = store.query("SELECT event_uuid FROM events WHERE event_id = 'e1'")
        prices = pa.table(
            {
                "event_uuid": pa.array([row["event_uuid"].bytes], pa.binary(16)),
                "cost_usd": pa.array([Decimal("0.90")], pa.decimal128(18, 12)),
                "cost_source": ["computed"],
                "price_ref": ["card:2026-12"],
                "unpriced": [False],
            }
        )
        assert store.update_event_costs(prices) == 1
    out = runner.invoke(
        app,
        [
            "invoice",
            "preview",
            "--period",
            "2026-11",
            "--customer",
            "acme",
            *opts,
            *closed,
            "--format",
            "json",
        ],
    )
    assert out.exit_code == 0, out.output
    body = json.loads(out.stdout)
    (invoice,) = body["invoices"]
    assert invoice["total"] == "1.56" and invoice["cost"] == "1.000000000000"  # as closed, not repriced
    assert invoice["prices_used"]["plan_version"] == "pro"
    (drift,) = body["changed_since_closing"]
    # repriced live: $1.50 of cost x 1.5 = $2.25 + $0.06 of output tokens
    assert (drift["closed_total"], drift["live_total"]) == ("1.56", "2.31")
