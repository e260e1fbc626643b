"""Re-pricing stored history in a real DuckDB ledger, unpriced events, and the pricing commands."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from typer.testing import CliRunner

from costtrail.cli.main import app
from costtrail.ledger.duckdb_store import DuckDBStore
from costtrail.pricing import Pricer, RateCard
from costtrail.pricing.reprice import reprice
from costtrail.schema import Event

START = datetime(2025, 7, 1, tzinfo=UTC)
CARD_V1 = """\
version: v1
models:
  - {id: private, model: acme-private-7b, prices: {input_mtok: 1, output_mtok: 2}}
"""
CARD_V2 = """\
version: v2
models:
  - {id: private, model: acme-private-7b, prices: {input_mtok: 0.5, output_mtok: 2}}
  - {id: mini-deal, provider: openai, model: gpt-4o-mini, discount_percent: 20}
"""


def _events() -> list[Event]:
    events = []
    for i in range(30):  # ten days, three events a day
        when = START + timedelta(hours=8 * i)
        events.append(
            Event(
                provider="openai",
                model="gpt-4o-mini",
                input_tokens=1000 + i,
                output_tokens=200,
                started_at=when,
            )
        )
        events.append(
            Event(
                provider="acme",
                model="acme-private-7b",
                input_tokens=4000,
                output_tokens=100 + i,
                started_at=when,
            )
        )
    events.append(Event(provider="openai", model="gpt-4o-mini", estimated_cost_usd="0.5", started_at=START))
    return events


def _stored(store: DuckDBStore) -> dict[str, object]:
    [row] = store.query(
        "SELECT sum(cost_usd) AS total, count(*) FILTER (WHERE unpriced) AS unpriced FROM events"
    )
    return row


def _expected_total(events: list[Event], pricer: Pricer) -> Decimal:
    return sum((pricer.apply([e.model_copy()])[0].cost_usd or Decimal(0) for e in events), Decimal(0))


def test_unpriced_events_are_stored_flagged_never_as_zero(store: DuckDBStore) -> None:
    events = _events()
    store.append_events(Pricer().apply(events))
    rows = store.query(
        "SELECT model, cost_usd, cost_source, unpriced FROM events WHERE model = 'acme-private-7b'"
    )
    assert len(rows) == 30
    assert all(r["unpriced"] and r["cost_usd"] is None and r["cost_source"] is None for r in rows)
    assert _stored(store)["unpriced"] == 30


def test_reprice_with_a_new_rate_card_changes_stored_totals_exactly(store: DuckDBStore) -> None:
    events = _events()
    store.append_events(Pricer().apply([e.model_copy() for e in events]))
    before = _stored(store)
    assert before["unpriced"] == 30

    v1 = Pricer(rate_card=RateCard.from_yaml(CARD_V1))
    first = reprice(store, v1, batch_rows=7)  # small batches: several windows of days
    after_v1 = _stored(store)
    assert first.events == 61 and first.unpriced_before == 30 and first.unpriced_after == 0
    assert first.changed == 30 and first.updated == 30
    assert first.old_total == before["total"]
    assert first.new_total == after_v1["total"] == _expected_total(events, v1)
    # 30 x (4000 x $1/M + output x $2/M); output = 100..129
    private = 30 * Decimal("0.004") + sum(Decimal(100 + i) * 2 for i in range(30)) / 1_000_000
    assert first.new_total - first.old_total == private

    again = reprice(store, v1)
    assert (again.changed, again.updated, again.new_total) == (0, 0, first.new_total)

    v2 = Pricer(rate_card=RateCard.from_yaml(CARD_V2))
    progress: list[tuple[int, int]] = []
    second = reprice(store, v2, progress=lambda done, total: progress.append((done, total)))
    assert second.new_total == _stored(store)["total"] == _expected_total(events, v2)
    assert second.changed == 60  # every computed cost changed; the reported one did not
    assert progress[-1] == (61, 61)
    [kept] = store.query("SELECT cost_usd, cost_source, price_ref FROM events WHERE cost_source = 'reported'")
    assert kept["cost_usd"] == Decimal("0.5")
    refs = {
        r["price_ref"]
        for r in store.query("SELECT DISTINCT price_ref FROM events WHERE cost_source = 'computed'")
    }
    assert refs == {"rate-card@v2/private", "rate-card@v2/mini-deal+genai-prices@0.2.3/openai/gpt-4o-mini"}


def test_reprice_since_until_touches_only_that_window(store: DuckDBStore) -> None:
    events = _events()
    store.append_events(Pricer().apply([e.model_copy() for e in events]))
    card = Pricer(rate_card=RateCard.from_yaml(CARD_V1))
    summary = reprice(store, card, since=START + timedelta(days=2), until=START + timedelta(days=4))
    assert summary.events == 12 and summary.unpriced_after == 0 and summary.changed == 6
    assert _stored(store)["unpriced"] == 24


def test_reprice_command_says_what_changed(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.duckdb"
    with DuckDBStore(ledger) as store:
        store.append_events(Pricer().apply(_events()))
    card = tmp_path / "rates.yaml"
    card.write_text(CARD_V1)
    result = CliRunner().invoke(
        app, ["reprice", "--ledger", str(ledger), "--rate-card", str(card), "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["events_repriced"] == 61 and data["unpriced_before"] == 30 and data["unpriced_after"] == 0
    assert Decimal(data["new_total_usd"]) - Decimal(data["old_total_usd"]) == Decimal(data["difference_usd"])
    table = CliRunner().invoke(app, ["reprice", "--ledger", str(ledger), "--rate-card", str(card)])
    assert table.exit_code == 0 and "events cost changed" in table.stdout


def test_prices_command_shows_the_prices_in_force() -> None:
    runner = CliRunner()
    before = runner.invoke(
        app, ["prices", "o3", "--provider", "openai", "--at", "2025-06-09", "--format", "json"]
    )
    after = runner.invoke(
        app, ["prices", "o3", "--provider", "openai", "--at", "2025-06-10", "--format", "json"]
    )
    assert before.exit_code == 0 and after.exit_code == 0
    price = {r["unit"]: r["usd"] for r in json.loads(before.stdout)["prices"]}
    assert (price["input_tokens"], price["output_tokens"]) == ("10", "40")
    later = json.loads(after.stdout)
    assert {r["unit"]: r["usd"] for r in later["prices"]}["input_tokens"] == "2"
    assert later["price_ref"] == "genai-prices@0.2.3/openai/o3?since=2025-06-10"
    table = runner.invoke(app, ["prices", "gpt-4o-mini", "--provider", "openai", "--at", "2025-01-01"])
    assert table.exit_code == 0 and "$0.075" in table.stdout
    missing = runner.invoke(app, ["prices", "no-such-model-xyz"])
    assert missing.exit_code == 1 and "no price for no-such-model-xyz" in missing.output


def test_commands_reject_a_bad_rate_card(tmp_path: Path) -> None:
    card = tmp_path / "rates.yaml"
    card.write_text("version: v1\ntools:\n  - {tool_name: s, usd_per_call: oops}\n")
    result = CliRunner().invoke(app, ["prices", "gpt-4o", "--rate-card", str(card)])
    assert result.exit_code == 2
    assert "rates.yaml:3: tools[0].usd_per_call" in result.output
