"""A small hand-made ledger whose every report number is worked out by hand in the tests.

support_reply (tenant t1, prod, feature chat)
  s1  c1  day 1  retrieve: vector_search retrieval $0.001 20 ms; answer: gpt-4o success $0.03 800 ms
          -> no outcome, last model event succeeded: SUCCESS
  s2  c2  day 1  answer: gpt-4o retry $0.02 1000 ms; answer: gpt-4o success (retry_count 1) $0.02 900 ms
          -> outcome success=False: FAILED (the outcome wins over the last event)
  s3  c1  day 2  answer: claude failure $0.05 3000 ms -> no outcome: FAILED
  s4  c2  day 2  answer: claude failure $0.04 700 ms, 200 KB payload
          -> outcome success=True: SUCCESS (the outcome wins over the last event)
doc_extract (tenant t2, staging, feature docs, agent extractor)
  d1  c3  day 3  ocr: tool failure $0.01 50 ms; extract: gpt-4o-mini success $0.002 400 ms
          -> SUCCESS (a tool call is not a model event, so its failure does not decide the run)
  d2  c3  day 3  extract: my-private-model success, unpriced, 600 ms -> SUCCESS

Payload bytes are 2,000 except: s1 retrieve 300, s1 answer 500, s4 200,000.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from costtrail.ledger.store import LedgerStore
from costtrail.schema import Event, Outcome

DAY1 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def _ev(run: str, minute: int, day: int, **fields: Any) -> Event:
    base: dict[str, Any] = {
        "event_id": f"{run}-{minute}",
        "run_id": run,
        "started_at": DAY1 + timedelta(days=day - 1, minutes=minute),
        "kind": "llm",
        "provider": "openai",
        "model": "gpt-4o",
        "payload_bytes": 2_000,
    }
    base.update(fields)
    if "cost_usd" in base:
        base["cost_usd"] = Decimal(base["cost_usd"])
    return Event.parse(base)


def _support(run: str, customer: str, **fields: Any) -> dict[str, Any]:
    return {
        "workflow": "support_reply",
        "customer_id": customer,
        "tenant_id": "t1",
        "environment": "prod",
        "feature": "chat",
        **fields,
    }


def _doc(**fields: Any) -> dict[str, Any]:
    return {
        "workflow": "doc_extract",
        "customer_id": "c3",
        "tenant_id": "t2",
        "environment": "staging",
        "feature": "docs",
        "agent": "extractor",
        **fields,
    }


def hand_events() -> list[Event]:
    writer = {"agent": "writer", "step": "answer"}
    return [
        _ev(
            "s1",
            0,
            1,
            **_support("s1", "c1"),
            kind="retrieval",
            model=None,
            provider="pinecone",
            agent="retriever",
            step="retrieve",
            tool_name="vector_search",
            query_count=1,
            cost_usd="0.001",
            latency_ms=20.0,
            payload_bytes=300,
        ),
        _ev(
            "s1",
            1,
            1,
            **_support("s1", "c1"),
            **writer,
            cost_usd="0.03",
            latency_ms=800.0,
            input_tokens=1000,
            output_tokens=200,
            payload_bytes=500,
        ),
        _ev(
            "s2",
            10,
            1,
            **_support("s2", "c2"),
            **writer,
            status="retry",
            cost_usd="0.02",
            latency_ms=1000.0,
            input_tokens=500,
            output_tokens=100,
        ),
        _ev(
            "s2",
            11,
            1,
            **_support("s2", "c2"),
            **writer,
            retry_count=1,
            cost_usd="0.02",
            latency_ms=900.0,
            input_tokens=500,
            output_tokens=100,
        ),
        _ev(
            "s3",
            0,
            2,
            **_support("s3", "c1"),
            **writer,
            provider="anthropic",
            model="claude-sonnet-4-5",
            status="failure",
            cost_usd="0.05",
            latency_ms=3000.0,
            input_tokens=2000,
            output_tokens=300,
        ),
        _ev(
            "s4",
            30,
            2,
            **_support("s4", "c2"),
            **writer,
            provider="anthropic",
            model="claude-sonnet-4-5",
            status="failure",
            cost_usd="0.04",
            latency_ms=700.0,
            input_tokens=1500,
            output_tokens=250,
            payload_bytes=200_000,
        ),
        _ev(
            "d1",
            0,
            3,
            **_doc(step="ocr"),
            kind="tool",
            model=None,
            provider=None,
            tool_name="ocr",
            status="failure",
            cost_usd="0.01",
            latency_ms=50.0,
        ),
        # Recorded out of order on purpose: the last model event is found by started_at.
        _ev(
            "d1",
            1,
            3,
            **_doc(step="extract"),
            model="gpt-4o-mini",
            cost_usd="0.002",
            latency_ms=400.0,
            input_tokens=3000,
            output_tokens=500,
        ),
        _ev(
            "d2",
            5,
            3,
            **_doc(step="extract"),
            provider="acme-ai",
            model="my-private-model",
            unpriced=True,
            latency_ms=600.0,
            input_tokens=800,
            output_tokens=100,
        ),
    ]


def hand_outcomes() -> list[Outcome]:
    return [
        Outcome(outcome_id="o-s2", run_id="s2", outcome="ticket_resolved", success=False, recorded_at=DAY1),
        Outcome(outcome_id="o-s4", run_id="s4", outcome="ticket_resolved", success=True, recorded_at=DAY1),
    ]


def load_hand_dataset(store: LedgerStore) -> LedgerStore:
    events = hand_events()
    store.append_events(list(reversed(events)))
    store.append_outcomes(hand_outcomes())
    return store
