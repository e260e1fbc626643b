"""A deterministic, realistic ledger sample shared by the contract and ledger tests."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from costtrail.schema import CostLine, Event, Outcome

T0 = datetime(2026, 3, 30, 22, 0, tzinfo=UTC)  # crosses a day and a month boundary


def sample_events(n: int = 400, seed: int = 7) -> list[Event]:
    """A realistic mix: tenants, workflows, runs with retries, failures, unpriced calls, odd strings."""
    rng = random.Random(seed)
    workflows = ["support_reply", "summarize", "it's \\tricky", "检索"]
    events: list[Event] = []
    for i in range(n):
        run = i // 4
        status = rng.choice(["success"] * 6 + ["retry", "failure", "timeout"])
        priced = rng.random() > 0.05
        events.append(
            Event.parse(
                {
                    "event_id": f"evt-{seed}-{i}" if i % 3 else uuid.UUID(int=seed * 100_000 + i).hex,
                    "started_at": (T0 + timedelta(minutes=7 * i)).isoformat(),
                    "latency_ms": round(rng.uniform(50, 4000), 3),
                    "workflow": workflows[run % len(workflows)] if i % 17 else None,
                    "run_id": f"run-{run}",
                    "step": rng.choice(["plan", "retrieve", "answer"]),
                    "agent": rng.choice(["router", "writer"]),
                    "status": status,
                    "retry_count": 1 if status == "retry" else 0,
                    "provider": "openai",
                    "model": rng.choice(["gpt-4o-mini", "gpt-4o"]),
                    "input_tokens": rng.randint(10, 5000),
                    "output_tokens": rng.randint(1, 800),
                    "tool_calls": rng.randint(0, 2),
                    "tool_name": rng.choice([None, "search", "sql"]),
                    "tenant_id": rng.choice(["acme", "globex", None]),
                    "customer_id": f"cust-{rng.randint(1, 9)}",
                    "feature": rng.choice(["chat", "search", "o'reilly"]),
                    "environment": rng.choice(["prod", "staging"]),
                    "cost_usd": str(Decimal(rng.randint(1, 10**9)).scaleb(-12)) if priced else None,
                    "attributes": {"ticket": str(rng.randint(1, 50))} if i % 5 == 0 else {},
                }
            )
        )
    return events


def sample_outcomes(events: list[Event]) -> list[Outcome]:
    runs = sorted({e.run_id for e in events if e.run_id})
    return [
        Outcome.parse(
            {
                "outcome_id": f"out-{run}",
                "run_id": run,
                "outcome": "ticket_resolved",
                "success": k % 3 != 0,
                "value_usd": str(Decimal(k).scaleb(-2)),
                "recorded_at": (T0 + timedelta(hours=k)).isoformat(),
                "tenant_id": "acme" if k % 2 else "globex",
            }
        )
        for k, run in enumerate(runs)
    ]


def sample_cost_lines() -> list[CostLine]:
    return [
        CostLine(
            source="openai-costs-api",
            charge_period_start=T0 + timedelta(days=d),
            charge_period_end=T0 + timedelta(days=d + 1),
            billed_cost=Decimal("12.345678901234") * (d + 1),
            provider="openai",
            model=model,
            tags={"team": "search"},
        )
        for d in range(3)
        for model in ("gpt-4o", "gpt-4o-mini")
    ]
