"""Every read command through a collector (--endpoint) prints what it prints on the local ledger.

A small demo ledger (events, outcomes, bills, evals, alerts, a controls file) is copied: the
collector started here owns one file, the local commands read the copy.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from costtrail.auth import KeyRing, Scope
from costtrail.cli.main import app
from costtrail.collector import create_app
from costtrail.collector.server import BackgroundServer
from costtrail.ledger.duckdb_store import DuckDBStore
from costtrail.settings import Settings

runner = CliRunner()


@dataclass
class Both:
    local: str
    url: str
    key: str
    tenant_key: str
    controls: Path
    period: str
    run_id: str
    demo_output: str


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Both]:
    tmp = tmp_path_factory.mktemp("endpoint")
    served = tmp / "served.duckdb"
    demo = ["demo", "--ledger", str(served), "--fresh", "--days", "30", "--runs-per-day", "1", "--seed", "5"]
    result = runner.invoke(app, [*demo, "--latency-scale", "0.01"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    local = tmp / "local.duckdb"
    shutil.copyfile(served, local)
    controls = tmp / "served-demo-controls.yaml"
    store = DuckDBStore(served)
    [bill] = store.query(
        "SELECT min(charge_period_start) AS lo, max(charge_period_end) AS hi FROM cost_lines"
    )
    [run] = store.query("SELECT run_id FROM events WHERE run_id IS NOT NULL ORDER BY cost_usd DESC LIMIT 1")
    keys = KeyRing(tmp / "keys.json", secret=b"endpoint-test" * 3)
    key = keys.create(Scope.READ).token
    tenant_key = keys.create(Scope.READ, tenant="tenant-01").token
    app_ = create_app(Settings(ledger=str(served)), store, keys=keys)
    period = f"{bill['lo']:%Y-%m-%d}..{bill['hi']:%Y-%m-%d}"
    with BackgroundServer(app_) as server:
        yield Both(
            str(local), server.url, key, tenant_key, controls, period, str(run["run_id"])[:12], result.stdout
        )
    store.close()


def commands(b: Both) -> list[list[str]]:
    cfg = ["--config", str(b.controls)]
    return [
        ["report"],
        ["report", "--by", "model", "--format", "json"],
        ["report", "--by", "customer", "--where", "environment=prod", "--format", "csv"],
        ["report", "--by", "workflow,model", "--metrics", "total_cost,model_calls", "--format", "markdown"],
        ["report", "--by", "workflow", "--failed"],
        ["runs", "--top", "5"],
        ["runs", b.run_id],
        ["runs", b.run_id, "--format", "json"],
        ["budgets", *cfg],
        ["alerts", "--since", "2020-01-01", "--format", "json"],
        ["forecast", *cfg],
        ["drift", "--workflow", "support_reply"],
        ["whatif", "--workflow", "support_reply", "--model", "gpt-4o-mini", "--format", "json"],
        ["cheapest", "--workflow", "support_reply", "--min-pass-rate", "0.9"],
        ["audit", "--workflow", "support_reply", "--sample", "20"],
        ["reconcile", "--period", b.period, "--format", "json"],
        ["unit-cost", "ticket_resolved", "--period", b.period],
        ["cost-to-serve", "--period", b.period],
        ["margins", "--period", b.period, "--threshold", "60"],
    ]


def test_every_read_command_prints_the_same_through_the_collector(both: Both) -> None:
    env = {"COLUMNS": "100", "COSTTRAIL_ENDPOINT": "", "COSTTRAIL_API_KEY": ""}
    for args in commands(both):
        here = runner.invoke(app, [*args, "--ledger", both.local], env=env)
        there = runner.invoke(app, [*args, "--endpoint", both.url, "--api-key", both.key], env=env)
        assert here.exit_code == 0, (args, here.output)
        assert (there.exit_code, there.stdout) == (here.exit_code, here.stdout), args
        assert here.stdout.strip(), args


def test_the_endpoint_and_key_come_from_the_environment(both: Both) -> None:
    env = {"COLUMNS": "100", "COSTTRAIL_ENDPOINT": both.url, "COSTTRAIL_API_KEY": both.key}
    there = runner.invoke(app, ["report", "--by", "tenant", "--format", "json"], env=env)
    here = runner.invoke(app, ["report", "--by", "tenant", "--format", "json", "--ledger", both.local])
    assert there.exit_code == 0 and there.stdout == here.stdout


def test_errors_through_the_collector_read_as_locally(both: Both) -> None:
    env = {"COSTTRAIL_ENDPOINT": "", "COSTTRAIL_API_KEY": ""}
    remote = ["--endpoint", both.url, "--api-key", both.key]
    bad = runner.invoke(app, ["report", "--by", "colour", *remote], env=env)
    assert bad.exit_code == 2 and "colour" in bad.output
    assert runner.invoke(app, ["runs", "ffffffff", *remote], env=env).exit_code == 1
    no_key = runner.invoke(app, ["report", "--endpoint", both.url], env=env)
    assert no_key.exit_code == 2 and "--api-key" in no_key.output
    tenant = runner.invoke(app, ["report", "--endpoint", both.url, "--api-key", both.tenant_key], env=env)
    assert tenant.exit_code == 2 and "tenant" in tenant.output


@pytest.mark.parametrize(
    ("question", "field"), [("run", "run_id"), ("cheapest", "workflow"), ("audit", "workflow")]
)
def test_a_read_question_missing_an_argument_names_it(both: Both, question: str, field: str) -> None:
    """An empty body: a 422 naming the field and the fix (POST /v1/read/run was found by the API fuzz)."""
    answer = httpx.post(
        f"{both.url}/v1/read/{question}",
        content=b"{}",
        headers={"Authorization": f"Bearer {both.key}"},
        timeout=30,
    )
    error = answer.json()["error"]
    assert (answer.status_code, error["code"], error["field"]) == (422, "read_input", field)
    assert f'"{field}"' in error["message"]


def test_a_locked_ledger_says_how_to_read_through_the_collector(tmp_path: Path) -> None:
    ledger = tmp_path / "owned.duckdb"
    DuckDBStore(ledger).close()
    # another process owns the file for writing, as `costtrail serve` does
    code = "import sys, duckdb; c = duckdb.connect(sys.argv[1]); print('ready', flush=True); sys.stdin.read()"
    with subprocess.Popen(
        [sys.executable, "-c", code, str(ledger)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    ) as holder:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        result = runner.invoke(app, ["report", "--ledger", str(ledger)])
        holder.communicate("")
    assert result.exit_code == 2
    assert "--endpoint" in result.output and "--api-key" in result.output


def test_guard_counts_what_it_sent_and_unit_cost_refuses_an_unknown_outcome(
    both: Both, tmp_path: Path
) -> None:
    ledger = tmp_path / "guard.duckdb"
    shutil.copyfile(both.local, ledger)
    args = ["guard", "--config", str(both.controls), "--ledger", str(ledger)]
    runner.invoke(app, args)
    again = runner.invoke(app, [*args, "--format", "csv"])
    table = runner.invoke(app, args, env={"COLUMNS": "200"})
    assert again.exit_code == 0
    sent = [line.split(",")[2] for line in again.stdout.splitlines()[1:]]
    assert sent and set(sent) == {"False"}  # the demo already sent them: the cooldown holds them back
    assert "0 sent" in table.stdout and "held back by the cooldown" in table.stdout
    unknown = runner.invoke(
        app, ["unit-cost", "no_such_outcome", "--period", both.period, "--ledger", both.local]
    )
    assert unknown.exit_code == 2 and "no outcome 'no_such_outcome'" in unknown.output


def test_whatif_refuses_an_embedding_model_for_chat_and_counts_unpriced_in_the_table(both: Both) -> None:
    ledger = ["--ledger", both.local]
    embedding = runner.invoke(
        app, ["whatif", "--workflow", "support_reply", "--model", "text-embedding-3-small", *ledger]
    )
    assert embedding.exit_code == 2 and "embedding model" in embedding.output
    # a private model with no price anywhere: every call is unpriced, and the table says so
    private = runner.invoke(
        app,
        ["whatif", "--workflow", "support_reply", "--model", "acme-private-9", "--format", "csv", *ledger],
    )
    assert private.exit_code == 0, private.output
    [calls] = [line for line in private.stdout.splitlines() if line.startswith("model calls")]
    _, current, unpriced, _ = calls.split(",")
    assert int(current) == int(unpriced) > 0


def test_reconcile_names_the_untracked_project(both: Both) -> None:
    result = runner.invoke(
        app, ["reconcile", "--period", both.period, "--ledger", both.local], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 0, result.output
    # the demo bills 3 days of $4.20 on project proj-untracked that no instrumented code uses
    assert "untracked spend: openai account proj-untracked: $12.60 billed over 3 days" in result.stdout
    data = json.loads(runner.invoke(app, ["reconcile", "--period", both.period, "--ledger", both.local,
                                          "--format", "json"]).stdout)  # fmt: skip
    flagged = {(f["flag"], f["provider_account"]) for f in data["findings"]}
    assert ("missing_telemetry", "proj-untracked") in flagged
    assert not any(
        f["flag"] == "unexplained_variance" and f["provider"] == "openai" for f in data["findings"]
    )


def test_the_demo_summary_counts_what_its_tables_count(both: Both) -> None:
    report = json.loads(runner.invoke(app, ["report", "--format", "json", "--ledger", both.local]).stdout)
    runs = sum(r["runs"] for r in report["rows"])
    assert f"Ledger: {runs:,} runs" in both.demo_output


def test_the_dashboard_default_range_and_the_cli_default_agree_on_the_demo(both: Both) -> None:
    import csv
    import io

    import httpx

    with httpx.Client(base_url=both.url, follow_redirects=False) as http:
        assert http.post("/login", data={"key": both.key, "next": "/"}).status_code == 303
        page = http.get("/workflows?download=workflows")  # the default range: last 30 days
    assert page.status_code == 200
    shown = list(csv.DictReader(io.StringIO(page.text)))
    cli = json.loads(runner.invoke(app, ["report", "--format", "json", "--ledger", both.local]).stdout)
    assert {r["workflow"]: (Decimal(r["total_cost"]), int(r["runs"])) for r in shown} == {
        r["workflow"]: (Decimal(r["total_cost"]), r["runs"]) for r in cli["rows"]
    }
    since_30d = json.loads(
        runner.invoke(app, ["report", "--since", "30d", "--format", "json", "--ledger", both.local]).stdout
    )
    totals = [{r["workflow"]: (r["total_cost"], r["runs"])} for r in cli["rows"]]
    assert [{r["workflow"]: (r["total_cost"], r["runs"])} for r in since_30d["rows"]] == totals
