"""`prices` applies the rate card as pricing does (provider-scoped entries too), honours --tier and
refuses a tier nobody answers."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

from genai_prices import Usage, calc_price
from typer.testing import CliRunner

from costtrail.cli.main import app

runner = CliRunner()
CARD = """version: v1
models:
  - provider: openai
    model: acme-onboarding-ft-v3
    prices: {input_mtok: "3.00", output_mtok: "12.00"}
"""


def _prices(*args: str) -> dict[str, Decimal]:
    result = runner.invoke(app, ["prices", *args, "--format", "json"])
    assert result.exit_code == 0, result.output
    return {r["unit"]: Decimal(r["usd"]) for r in json.loads(result.stdout)["prices"]}


def test_a_provider_scoped_entry_applies_without_provider(tmp_path: Path) -> None:
    card = tmp_path / "rates.yaml"
    card.write_text(CARD)
    prices = _prices("acme-onboarding-ft-v3", "--rate-card", str(card))
    assert prices == {"input_tokens": Decimal("3.00"), "output_tokens": Decimal("12.00")}


def test_tier_batch_shows_batch_prices() -> None:
    batch = _prices("gpt-4o", "--provider", "openai", "--tier", "batch")
    # genai-prices' own batch price for a million input tokens
    expected = calc_price(Usage(input_tokens=1_000_000), "gpt-4o", provider_id="openai",
                          price_context={"processing": "batch"}).input_price  # fmt: skip
    assert batch["input_tokens"] == expected
    assert batch["input_tokens"] < _prices("gpt-4o", "--provider", "openai")["input_tokens"]


def test_an_unknown_tier_is_refused() -> None:
    result = runner.invoke(app, ["prices", "gpt-4o", "--tier", "bogus-tier"])
    assert result.exit_code == 2
    assert "unknown service tier 'bogus-tier'" in result.output and "batch" in result.output
