"""The README's SDK example, run as written against the local fake provider (OpenAI wire format)."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import pytest
from tests.prices import row_price

import costtrail
from costtrail.demo.fake_provider import FakeProvider
from costtrail.ledger.duckdb_store import DuckDBStore

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_example() -> str:
    text = README.read_text()
    match = re.search(r"<!-- readme-example:.*?-->\s*```python\n(.*?)```", text, re.S)
    assert match, "README.md lost its marked python example"
    return match.group(1)


def test_readme_example_is_ten_lines() -> None:
    lines = [line for line in readme_example().splitlines() if line.strip()]
    assert len(lines) <= 10


def test_readme_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("COSTTRAIL_LEDGER", raising=False)
    with FakeProvider() as fake:
        monkeypatch.setenv("OPENAI_BASE_URL", fake.openai_base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test-readme")
        try:
            exec(compile(readme_example(), "README.md", "exec"), {})
        finally:
            costtrail.shutdown()
    with DuckDBStore(tmp_path / "costtrail.duckdb", read_only=True) as store:
        [event] = store.query("SELECT * FROM events")
        [outcome] = store.query("SELECT * FROM outcomes")
    assert (event["workflow"], event["step"], event["agent"]) == ("support_reply", "draft_reply", "writer")
    business = (event["customer_id"], event["feature"], event["environment"])
    assert business == ("cust-42", "ticket_replies", "prod")
    assert event["model"] == "gpt-4o-mini" and event["input_tokens"] > 0 and event["output_tokens"] > 0
    assert event["cost_usd"] == row_price(event) > Decimal(0)
    assert (outcome["run_id"], outcome["outcome"]) == (event["run_id"], "ticket_resolved")
    assert outcome["success"] is True
