"""What-if repricing and the cheapest model over an eval bar, on a hand-computed example.

Ten runs of ``support_reply`` in March 2026 (30 days), each: call A (1,000 in / 200 out) and
call B (2,000 in / 500 out) on gpt-4o-mini, plus a retrieval at a reported $0.001. Two runs
end with a failed outcome. List prices per million tokens (input / output):
gpt-4o-mini 0.15 / 0.60, gpt-4.1-nano 0.10 / 0.40, claude-haiku-4-5 1.00 / 5.00.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from costtrail.ledger.duckdb_store import DuckDBStore
from costtrail.optimize.cheapest import cheapest_model
from costtrail.optimize.evals import import_evals, parse_eval_file
from costtrail.optimize.traffic import TrafficScope
from costtrail.optimize.whatif import what_if
from costtrail.pricing import Pricer
from costtrail.schema import Event, Outcome

D = Decimal
MARCH = TrafficScope(
    workflow="support_reply", since=datetime(2026, 3, 1, tzinfo=UTC), until=datetime(2026, 3, 31, tzinfo=UTC)
)


@pytest.fixture
def ledger(store: DuckDBStore) -> DuckDBStore:
    events = []
    for i in range(10):
        at = datetime(2026, 3, 2, tzinfo=UTC) + timedelta(days=2 * i)
        common = {
            "workflow": "support_reply",
            "run_id": f"r{i}",
            "provider": "openai",
            "model": "gpt-4o-mini",
        }
        events += [
            Event(**common, step="a", input_tokens=1000, output_tokens=200, started_at=at),
            Event(**common, step="b", input_tokens=2000, output_tokens=500, started_at=at + timedelta(seconds=5)),  # noqa: E501
            Event(kind="retrieval", workflow="support_reply", run_id=f"r{i}", provider="pinecone",
                  cost_usd=D("0.001"), cost_source="reported", started_at=at + timedelta(seconds=1)),
        ]  # fmt: skip
    events.append(  # another workflow: never counted
        Event(workflow="doc_extract", run_id="x", provider="openai", model="gpt-4o", input_tokens=9999,
              started_at=datetime(2026, 3, 5, tzinfo=UTC))
    )  # fmt: skip
    store.append_events(Pricer().apply(events))
    store.append_outcomes(
        [
            Outcome(run_id=f"r{i}", workflow="support_reply", outcome="escalated", success=False)
            for i in (3, 7)
        ]
    )
    return store


def test_the_example_prices_as_computed_by_hand(ledger: DuckDBStore) -> None:
    rows = ledger.query("SELECT step, cost_usd FROM events WHERE run_id = 'r0' ORDER BY step")
    assert [r["cost_usd"] for r in rows] == [D("0.00027"), D("0.0006"), D("0.001")]


def test_whatif_on_another_model(ledger: DuckDBStore) -> None:
    result = what_if(ledger, MARCH, "claude-haiku-4-5", provider="anthropic")
    assert result.summary.runs == 10 and result.summary.successful_runs == 8 and result.summary.days == 30
    figures = {r["metric"]: r for r in result.rows()}
    # current: 10 x (0.00027 + 0.0006 + 0.001); haiku: 10 x (0.002 + 0.0045 + 0.001)
    assert figures["total"]["current"] == D("0.0187") and figures["total"]["what_if"] == D("0.075")
    assert figures["per run"]["current"] == D("0.00187") and figures["per run"]["what_if"] == D("0.0075")
    assert figures["per successful completion"]["current"] == D("0.002338")  # 0.0187 / 8, to the micro-dollar
    assert figures["per successful completion"]["what_if"] == D("0.009375")
    assert figures["per month (30 days)"]["what_if"] == D("0.075")
    assert figures["total"]["change_pct"] == round((0.075 - 0.0187) / 0.0187 * 100, 2)
    assert result.repriced.by_model == [
        {"current_model": "gpt-4o-mini", "events": 20, "old_cost": D("0.0087"), "new_cost": D("0.065"),
         "unpriced_on_new": 0}
    ]  # fmt: skip


def test_whatif_with_a_token_ratio(ledger: DuckDBStore) -> None:
    # twice the tokens: A = 2000/400 -> 0.004, B = 4000/1000 -> 0.009; + 0.001 retrieval
    result = what_if(ledger, MARCH, "claude-haiku-4-5", provider="anthropic", token_ratio=2.0)
    assert result.new_total == D("0.14")
    unbounded = what_if(ledger, TrafficScope(workflow="support_reply"), "gpt-4o-mini")
    assert unbounded.new_total == unbounded.old_total == D("0.0187")  # same model, same cost
    assert unbounded.summary.days == 19  # first to last event: 18 days and 5 s, in whole days


def test_an_unknown_model_is_unpriced_not_free(ledger: DuckDBStore) -> None:
    result = what_if(ledger, MARCH, "no-such-model-9", provider="openai")
    assert result.repriced.unpriced_events == 20


EVALS = """workflow,model,provider,eval_set,pass_rate,eval_date,cases,avg_input_tokens,avg_output_tokens
support_reply,gpt-4o-mini,openai,golden-v3,0.91,2026-02-20,200,1500,350
support_reply,gpt-4.1-nano,openai,golden-v3,84%,2026-02-20,200,1500,350
support_reply,claude-haiku-4-5,anthropic,golden-v3,0.95,2026-02-20,200,1500,700
support_reply,claude-haiku-4-5,anthropic,golden-v2,0.50,2026-01-10,150,1500,700
doc_extract,gpt-4.1-nano,openai,docs,0.99,2026-02-20,50,,
"""


@pytest.fixture
def with_evals(ledger: DuckDBStore, tmp_path: Path) -> DuckDBStore:
    f = tmp_path / "evals.csv"
    f.write_text(EVALS)
    good, problems = parse_eval_file(f)
    assert problems == [] and len(good) == 5
    assert import_evals(ledger, good) == (5, 0)
    assert import_evals(ledger, good) == (0, 5)  # re-import stores nothing twice
    return ledger


def test_cheapest_changes_with_the_bar(with_evals: DuckDBStore) -> None:
    at_90 = cheapest_model(with_evals, MARCH, min_pass_rate=0.9)
    rows = {c.result.model: c for c in at_90.candidates}
    assert at_90.current_monthly == D("0.0187")
    assert rows["gpt-4.1-nano"].monthly_cost == D("0.0158") and not rows["gpt-4.1-nano"].clears
    # haiku writes twice the output in the eval: A = 1000/400 -> 0.003, B = 2000/1000 -> 0.007
    assert rows["claude-haiku-4-5"].monthly_cost == D("0.11") and rows["claude-haiku-4-5"].clears
    assert rows["claude-haiku-4-5"].result.eval_set == "golden-v3"  # the latest result per model
    assert at_90.chosen is not None and at_90.chosen.result.model == "gpt-4o-mini"
    assert at_90.chosen.monthly_saving == 0

    at_80 = cheapest_model(with_evals, MARCH, min_pass_rate=0.8)
    assert at_80.chosen is not None and at_80.chosen.result.model == "gpt-4.1-nano"
    assert at_80.chosen.monthly_saving == D("0.0029")

    at_95 = cheapest_model(with_evals, MARCH, min_pass_rate=0.95)
    assert at_95.chosen is not None and at_95.chosen.result.model == "claude-haiku-4-5"
    assert at_95.chosen.monthly_saving == D("-0.0913")

    assert cheapest_model(with_evals, MARCH, min_pass_rate=0.99).chosen is None


def test_cheapest_on_one_eval_set_and_clear_errors(with_evals: DuckDBStore) -> None:
    v2 = cheapest_model(with_evals, MARCH, min_pass_rate=0.4, eval_set="golden-v2")
    assert [c.result.model for c in v2.candidates] == ["claude-haiku-4-5"]
    with pytest.raises(ValueError, match="no eval results for workflow 'onboarding'"):
        cheapest_model(with_evals, TrafficScope(workflow="onboarding"), min_pass_rate=0.9)
    with pytest.raises(ValueError, match="exactly one bar"):
        cheapest_model(with_evals, MARCH)


def test_bad_eval_records_name_the_field(tmp_path: Path) -> None:
    f = tmp_path / "evals.ndjson"
    f.write_text('{"workflow": "w", "model": "m", "eval_date": "2026-01-01", "pass_rate": 1.5}\n'
                 '{"workflow": "w", "model": "m", "eval_date": "2026-01-01"}\n')  # fmt: skip
    good, problems = parse_eval_file(f)
    assert good == []
    assert [(p.index, p.field) for p in problems] == [(0, "pass_rate"), (1, "(record)")]
    assert "give pass_rate" in problems[1].reason


VOICE_EVALS = """workflow,model,provider,eval_set,pass_rate,eval_date,cases
voice,gpt-4o-mini,openai,calls,0.99,2026-02-20,100
voice,gpt-4o-realtime-preview,openai,calls,0.95,2026-02-20,100
"""


def test_audio_traffic_is_never_repriced_on_a_model_without_audio_prices(tmp_path: Path) -> None:
    """genai-prices gives gpt-4o-realtime-preview audio prices and gpt-4o-mini none: the voice
    workflow's calls used audio tokens, so neither whatif nor cheapest moves them to gpt-4o-mini."""
    from typer.testing import CliRunner

    from costtrail.cli.main import app

    ledger = tmp_path / "voice.duckdb"
    with DuckDBStore(ledger) as store:
        store.append_events(
            Pricer().apply(
                [
                    Event(workflow="voice", run_id=f"v{i}", provider="openai",
                          model="gpt-4o-realtime-preview", input_tokens=1200, input_audio_tokens=800,
                          output_tokens=300, output_audio_tokens=200,
                          started_at=datetime(2026, 3, 2 + i, tzinfo=UTC))
                    for i in range(5)
                ]
            )
        )  # fmt: skip
    evals = tmp_path / "evals.csv"
    evals.write_text(VOICE_EVALS)
    runner = CliRunner()
    common = ["--workflow", "voice", "--ledger", str(ledger)]
    refused = runner.invoke(app, ["whatif", *common, "--model", "gpt-4o-mini"], env={"COLUMNS": "200"})
    assert refused.exit_code == 2
    assert "gpt-4o-mini has no audio input or audio output price" in " ".join(refused.output.split())
    assert runner.invoke(app, ["evals", "import", str(evals), "--ledger", str(ledger)]).exit_code == 0
    cheapest = runner.invoke(app, ["cheapest", *common, "--min-pass-rate", "0.9", "--format", "json"])
    assert cheapest.exit_code == 0, cheapest.output
    assert "gpt-4o-mini" not in cheapest.stdout  # the cheaper, better-scoring text model is not a candidate
    assert "gpt-4o-realtime-preview" in cheapest.stdout
