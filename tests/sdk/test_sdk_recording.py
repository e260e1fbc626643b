"""Context, manual records, outcomes, the local ledger file, and failures that must not reach the app."""

from __future__ import annotations

import asyncio
import logging
from decimal import Decimal
from typing import Any

import pytest
from tests.prices import row_price

import costtrail
from costtrail.ledger.duckdb_store import DuckDBStore
from costtrail.sdk import QueuedSink, Recorder, current_attribution


def test_record_carries_run_step_and_defaults(ledger) -> None:
    recorder = ledger.recorder
    with recorder.run("support_reply", customer_id="c-7", plan_tier="pro") as run:
        with recorder.step("retrieve_docs", agent="retriever"):
            recorder.record("retrieval", query_count=3, tool_name="vector_search", payload_bytes=512)
        recorder.record("tool", tool_name="crm_lookup", status="failure", error_type="Timeout")
    [retrieval, tool] = ledger.events()
    assert (retrieval["kind"], retrieval["query_count"], retrieval["step"], retrieval["agent"]) == (
        "retrieval",
        3,
        "retrieve_docs",
        "retriever",
    )
    assert retrieval["run_id"] == tool["run_id"] == run.run_id
    assert tool["step"] is None and tool["status"] == "failure"
    assert {retrieval["customer_id"], tool["plan_tier"], tool["environment"]} == {"c-7", "pro", "test"}


def test_nested_runs_get_their_own_id_and_inherit_attribution(ledger) -> None:
    recorder = ledger.recorder
    with recorder.run("support_reply", customer_id="c-1") as outer:
        with recorder.run("translate") as inner:
            assert current_attribution()["parent_run_id"] == outer.run_id
            recorder.record("tool", tool_name="translate")
        recorder.record("tool", tool_name="reply")
    inner_event, outer_event = ledger.events()
    assert inner_event["run_id"] == inner.run_id != outer.run_id == outer_event["run_id"]
    assert (inner_event["workflow"], inner_event["customer_id"]) == ("translate", "c-1")
    assert '"parent_run_id"' in inner_event["attributes"]


async def test_async_with_and_gather_keep_each_tasks_run(ledger) -> None:
    recorder = ledger.recorder

    async def job(i: int) -> str:
        async with recorder.run("doc_extraction", customer_id=f"c-{i}") as run:
            for _ in range(3):
                await asyncio.sleep(0)
                recorder.record("tool", tool_name="ocr")
            return run.run_id

    ids = await asyncio.gather(*(job(i) for i in range(10)))
    events = ledger.events()
    assert len(events) == 30
    for run_id in ids:
        mine = [e for e in events if e["run_id"] == run_id]
        assert len(mine) == 3 and len({e["customer_id"] for e in mine}) == 1
    assert current_attribution() == {}


def test_a_run_that_raises_records_nothing_extra_and_keeps_its_events(ledger) -> None:
    recorder = ledger.recorder
    with pytest.raises(RuntimeError), recorder.run("support_reply"):
        recorder.record("tool", tool_name="search", status="error", error_type="HTTPError")
        raise RuntimeError("boom")
    [event] = ledger.events()
    assert (event["status"], event["error_type"]) == ("error", "HTTPError")
    assert current_attribution() == {}


def test_outcome_with_value(ledger) -> None:
    recorder = ledger.recorder
    with recorder.run("support_reply", customer_id="c-9") as run:
        recorder.record("tool", tool_name="search")
        recorder.outcome(outcome="ticket_resolved", success=True, value_usd="12.50")
    recorder.outcome(run.run_id, "csat_survey", False)
    first, second = ledger.outcomes()
    assert (first["run_id"], first["outcome"], first["success"]) == (run.run_id, "ticket_resolved", True)
    assert first["value_usd"] == Decimal("12.50") and first["workflow"] == "support_reply"
    assert (second["outcome"], second["success"]) == ("csat_survey", False)


def test_invalid_events_are_counted_not_raised(ledger, caplog) -> None:
    recorder = ledger.recorder
    with caplog.at_level(logging.WARNING, logger="costtrail.sdk"):
        assert recorder.record("llm", provider="openai") is not None  # no model: rejected in the writer
        recorder.record("tool", input_tokens=-5)
        recorder.record("tool", tool_name="fine")
        assert recorder.flush(10)
    assert recorder.stats()["invalid"] == 2
    assert len(ledger.events()) == 1
    assert "model" in caplog.text


def test_epoch_times_out_of_range_are_counted_by_name(ledger, caplog) -> None:
    """Milliseconds or NaN where epoch seconds go: rejected naming the field; the writer goes on."""
    recorder = ledger.recorder
    with caplog.at_level(logging.WARNING, logger="costtrail.sdk"):
        recorder.record("tool", tool_name="ms", started_at=1_700_000_000_000)  # Date.now(), not seconds
        recorder.record("tool", tool_name="nan", ended_at=float("nan"))
        recorder.record("tool", tool_name="fine", started_at=1_700_000_000)
        assert recorder.flush(10)
    assert recorder.stats()["invalid"] == 2
    assert [e["tool_name"] for e in ledger.events()] == ["fine"]
    assert "started_at" in caplog.text and "send seconds" in caplog.text


class _BrokenSink:
    def submit(self, event: dict[str, Any]) -> bool:
        raise OSError("disk on fire")

    def submit_outcome(self, outcome: dict[str, Any]) -> bool:
        raise OSError("disk on fire")

    def flush(self, timeout: float | None = None) -> bool:
        raise OSError("disk on fire")

    def close(self, timeout: float | None = None) -> None:
        raise OSError("disk on fire")

    def stats(self) -> dict[str, int]:
        raise OSError("disk on fire")


def test_a_recording_failure_never_raises_into_the_app(fake, caplog) -> None:
    import openai

    recorder = Recorder(_BrokenSink())
    client = costtrail.instrument(
        openai.OpenAI(base_url=fake.openai_base_url, api_key="sk-test"), recorder=recorder
    )
    with caplog.at_level(logging.WARNING, logger="costtrail.sdk"), recorder.run("w"):
        assert recorder.record("tool", tool_name="x") is None
        assert recorder.outcome("r1", "done", True) is False
        reply = client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
        )
        assert reply.choices[0].message.content
        assert recorder.flush(1) is False
        recorder.close()
    client.close()
    assert recorder.stats()["record_errors"] >= 4
    assert "disk on fire" in caplog.text


def test_a_full_queue_drops_and_counts(caplog) -> None:
    gate = __import__("threading").Event()

    class _Slow:
        def write_events(self, events: Any) -> None:
            gate.wait(5)

        def write_outcomes(self, outcomes: Any) -> None: ...

        def tick(self, deadline: float | None) -> None: ...

        def close(self, deadline: float) -> None: ...

        def stats(self) -> dict[str, int]:
            return {}

    sink = QueuedSink(_Slow, max_queue=10, batch_size=1, flush_interval=0.01, price=False)
    recorder = Recorder(sink)
    with caplog.at_level(logging.WARNING, logger="costtrail.sdk"):
        results = [recorder.record("tool", tool_name="t") for _ in range(200)]
    gate.set()
    assert recorder.flush(10)
    stats = recorder.stats()
    assert stats["dropped"] == results.count(None) > 0
    assert stats["dropped"] + stats["received"] == 200
    assert "dropped" in caplog.text
    recorder.close()


def test_configure_writes_a_real_duckdb_file(tmp_path, fake) -> None:
    import openai

    path = tmp_path / "ledger" / "costtrail.duckdb"
    costtrail.configure(ledger=str(path), environment="prod", product="helpdesk")
    try:
        client = costtrail.instrument(openai.OpenAI(base_url=fake.openai_base_url, api_key="sk-test"))
        with costtrail.run("support_reply", customer_id="c-1") as run:
            client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "hello"}]
            )
            costtrail.record("retrieval", query_count=2)
            run.outcome("ticket_resolved", success=True)
        client.close()
        assert costtrail.flush(10)
        assert costtrail.stats()["written"] == 2
    finally:
        costtrail.shutdown()
    assert path.exists()
    with DuckDBStore(path) as store:
        rows = store.query("SELECT * FROM events ORDER BY kind")
        outcomes = store.query("SELECT run_id, outcome FROM outcomes")
    assert [r["kind"] for r in rows] == ["llm", "retrieval"]
    assert all(r["product"] == "helpdesk" and r["environment"] == "prod" for r in rows)
    assert rows[0]["cost_usd"] == row_price(rows[0]) > 0
    assert outcomes == [{"run_id": run.run_id, "outcome": "ticket_resolved"}]
