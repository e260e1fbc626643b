"""A small demo-like ledger for the dashboard tests, built through the real ingest path.

Three workflows with several steps and agents, retries and failures, RAG
retrieval and tool calls, customers across three tenants, two environments,
OpenAI and Anthropic models with cached tokens, and a few unpriced events.
Deterministic (seeded) so numbers are stable; small so the fixture is fast.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from costtrail.ingest import ingest_records
from costtrail.ledger.store import LedgerStore
from costtrail.pricing import Pricer
from costtrail.schema import Outcome

END = datetime(2026, 11, 20, 18, 0, tzinfo=UTC)
DAYS = 40
TENANTS = {"acme": ["cust-01", "cust-02", "cust-03", "cust-04"], "globex": ["cust-05", "cust-06", "cust-07"]}
TENANTS["initech"] = ["cust-08", "cust-09", "cust-10", "cust-11", "cust-12"]
PLAN = {"acme": "enterprise", "globex": "pro", "initech": "starter"}

# workflow -> (feature, [(step, agent, kind, provider, model, input, output)])
WORKFLOWS: dict[str, tuple[str, list[tuple[str, str, str, str | None, str | None, int, int]]]] = {
    "support_reply": (
        "helpdesk",
        [
            ("retrieve_docs", "retriever", "retrieval", None, None, 0, 0),
            ("draft_reply", "writer", "llm", "openai", "gpt-4o", 3000, 450),
            ("check_policy", "reviewer", "llm", "openai", "gpt-4o-mini", 1200, 60),
        ],
    ),
    "doc_extraction": (
        "invoice_capture",
        [
            ("parse_pages", "parser", "llm", "anthropic", "claude-3-5-sonnet-20241022", 6000, 900),
            ("extract_fields", "extractor", "llm", "openai", "gpt-4o-mini", 2500, 300),
            ("lookup_vendor", "extractor", "tool", None, None, 0, 0),
        ],
    ),
    "onboarding_assistant": (
        "onboarding",
        [
            ("plan_answer", "planner", "llm", "anthropic", "claude-3-5-haiku-20241022", 1500, 200),
            ("answer", "guide", "llm", "openai", "gpt-4o-mini", 1800, 350),
        ],
    ),
}


RUN_FIELDS = ("workflow", "run_id", "feature", "customer_id", "tenant_id", "environment", "plan_tier")


def _event(
    rng: random.Random, run: dict[str, Any], step: tuple[Any, ...], at: datetime, retry: int
) -> dict[str, Any]:
    name, agent, kind, provider, model, tokens_in, tokens_out = step
    latency = rng.uniform(300, 2500) if kind == "llm" else rng.uniform(40, 200)
    event: dict[str, Any] = {
        "kind": kind,
        "started_at": at.isoformat(),
        "ended_at": (at + timedelta(milliseconds=latency)).isoformat(),
        "step": name,
        "agent": agent,
        "retry_count": retry,
        **{k: run[k] for k in RUN_FIELDS},
    }
    if kind == "llm":
        scale = rng.uniform(0.6, 1.6) * run["size"]
        event.update(
            provider=provider,
            model=model,
            input_tokens=int(tokens_in * scale),
            output_tokens=int(tokens_out * scale),
            payload_bytes=int(tokens_in * scale * 4),
        )
        if rng.random() < 0.4:
            event["cache_read_tokens"] = int(event["input_tokens"] * 0.5)
    elif kind == "retrieval":
        event.update(query_count=rng.randint(1, 4), cost_usd="0.0004", tool_name="vector_search")
    else:
        event.update(tool_calls=1, tool_name=name, cost_usd="0.0010")
    return event


def build_records(seed: int = 7, runs: int = 420) -> tuple[list[dict[str, Any]], list[Outcome]]:
    """Event records (as a client would send them) and outcome events."""
    rng = random.Random(seed)
    customers = [(t, c) for t, cs in TENANTS.items() for c in cs]
    records: list[dict[str, Any]] = []
    outcomes: list[Outcome] = []
    for i in range(runs):
        workflow = rng.choices(list(WORKFLOWS), weights=[5, 3, 2])[0]
        feature, steps = WORKFLOWS[workflow]
        tenant, customer = rng.choice(customers)
        start = END - timedelta(days=DAYS) + timedelta(seconds=rng.uniform(0, DAYS * 86400 - 3600))
        # doc_extraction grows in the last week: a top mover
        if workflow == "doc_extraction" and rng.random() < 0.5:
            start = END - timedelta(days=rng.uniform(0.1, 6.5))
        run = {
            "workflow": workflow,
            "run_id": f"run-{i:04d}",
            "feature": feature,
            "customer_id": customer,
            "tenant_id": tenant,
            "environment": "production" if rng.random() < 0.85 else "staging",
            "plan_tier": PLAN[tenant],
            "size": 3.0 if customer == "cust-08" else 1.0,
        }
        at, failed = start, rng.random() < 0.12
        for step in steps:
            retries = 2 if rng.random() < 0.08 else 0
            for attempt in range(retries + 1):
                event = _event(rng, run, step, at, attempt)
                if attempt < retries:
                    event["status"] = "retry"
                records.append(event)
                at += timedelta(milliseconds=rng.uniform(500, 3000))
        if failed:
            records[-1]["status"] = "failure"
            records[-1]["error_type"] = "invalid_output"
        if i % 50 == 0:  # a private model the price list does not know: flagged, never $0
            private = {"model": "acme-private-llm", "provider": "acme", "status": "success"}
            records.append({**records[-1], **private})
            records[-1].pop("cost_usd", None)
            records[-1]["kind"] = "llm"
        outcomes.append(
            Outcome(
                run_id=run["run_id"],
                workflow=workflow,
                outcome="completed" if not failed else "abandoned",
                success=not failed,
                value_usd=Decimal("2.50") if not failed else None,
                recorded_at=at,
                feature=feature,
                customer_id=customer,
                tenant_id=tenant,
                environment=run["environment"],
            )
        )
    return records, outcomes


def fill(store: LedgerStore, seed: int = 7, runs: int = 420) -> int:
    """Ingest the demo-like ledger into ``store``; returns the number of events stored."""
    records, outcomes = build_records(seed, runs)
    result = ingest_records(records, store, Pricer())
    if result.problems:
        raise AssertionError(f"fixture records rejected: {result.problems[:3]}")
    store.append_outcomes(outcomes)
    return result.accepted
