"""docs/sdk.md's example (the README's SDK example) runs as written against the fake provider."""

from __future__ import annotations

import re
from pathlib import Path

from tests.prices import row_price

import costtrail
from costtrail.ledger.duckdb_store import DuckDBStore

DOC = Path(__file__).resolve().parents[2] / "docs" / "sdk.md"


def _example() -> str:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
    return blocks[0]


def test_the_documented_example_runs_and_records(fake, tmp_path, monkeypatch) -> None:
    code = _example()
    assert len(code.strip().splitlines()) <= 12
    monkeypatch.chdir(tmp_path)
    namespace = {"BASE_URL": fake.openai_base_url}
    try:
        exec(compile(code, str(DOC), "exec"), namespace)
        namespace["client"].close()
        assert costtrail.flush(10)
    finally:
        costtrail.shutdown()
    with DuckDBStore(tmp_path / "costtrail.duckdb") as store:
        rows = store.query("SELECT * FROM events ORDER BY kind")
        outcomes = store.query("SELECT outcome, success, value_usd FROM outcomes")
    assert [(r["kind"], r["workflow"], r["product"]) for r in rows] == [
        ("llm", "support_reply", "helpdesk"),
        ("retrieval", "support_reply", "helpdesk"),
    ]
    assert rows[0]["step"] == "draft_answer" and rows[0]["cost_usd"] == row_price(rows[0]) > 0
    assert outcomes[0]["outcome"] == "ticket_resolved" and outcomes[0]["success"] is True


def test_the_other_examples_in_the_docs_are_valid_python() -> None:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
    assert len(blocks) == 3  # the example above, Azure deployments, the sink
    for i, block in enumerate(blocks[1:], 1):
        compile(block, f"sdk.md example {i}", "exec")
