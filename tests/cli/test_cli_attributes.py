"""Attribute keys with dots in --by and --where; gateway tags reportable as tag.NAME."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from costtrail.cli.main import app

runner = CliRunner()


@pytest.fixture
def ledger(tmp_path: Path) -> str:
    # as the gateway stores `X-Costtrail-Tags: release=2026-12`: the attribute "tag.release"
    records = [
        {"event_id": "a", "provider": "openai", "model": "gpt-4o", "cost_usd": "0.10",
         "attributes": {"tag.release": "2026-12", "team.name": "search"}},
        {"event_id": "b", "provider": "openai", "model": "gpt-4o", "cost_usd": "0.05",
         "attributes": {"tag.release": "2026-12"}},
        {"event_id": "c", "provider": "openai", "model": "gpt-4o", "cost_usd": "0.02",
         "attributes": {"tag.release": "2026-11"}},
    ]  # fmt: skip
    file = tmp_path / "tagged.ndjson"
    file.write_text("\n".join(json.dumps(r) for r in records))
    path = str(tmp_path / "tags.duckdb")
    assert runner.invoke(app, ["ingest", str(file), "--ledger", path]).exit_code == 0
    return path


def _totals(*args: str) -> dict[str | None, Decimal]:
    result = runner.invoke(app, ["report", *args, "--metrics", "total_cost", "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    key = data["by"][0]
    return {r[key]: Decimal(r["total_cost"]) for r in data["rows"]}


def test_a_gateway_tag_is_reportable_as_tag_name(ledger: str) -> None:
    expected = {"2026-12": Decimal("0.15"), "2026-11": Decimal("0.02")}  # 0.10 + 0.05; 0.02
    assert _totals("--by", "tag.release", "--ledger", ledger) == expected
    assert _totals("--by", "attributes.tag.release", "--ledger", ledger) == expected


def test_dotted_keys_filter_with_where(ledger: str) -> None:
    only = _totals("--by", "attributes.team.name", "--where", "tag.release=2026-12", "--ledger", ledger)
    assert only == {"search": Decimal("0.10"), None: Decimal("0.05")}
