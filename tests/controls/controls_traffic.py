"""A realistic background of normal traffic that each guardrail test injects its pattern into."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from costtrail.schema import Event

NOW = datetime(2026, 3, 12, 12, 0, tzinfo=UTC)  # a Thursday
TENANTS = {"acme": 30, "globex": 18, "initech": 12, "umbrella": 8, "hooli": 22, "stark": 5}
WORKFLOWS = {
    "support_reply": (["retrieve", "draft", "check"], "gpt-4o-mini", "openai", (1800, 350)),
    "doc_extract": (
        ["ocr_clean", "extract", "validate", "summarize"],
        "claude-haiku-4-5",
        "anthropic",
        (4000, 600),
    ),
    "onboarding": (["plan", "answer"], "gpt-4o-mini", "openai", (900, 250)),
}
DAYS = 10


def make_run(
    rng: random.Random,
    workflow: str,
    run_id: str,
    tenant: str,
    at: datetime,
    *,
    environment: str = "production",
    out_factor: float = 1.0,
) -> list[Event]:
    steps, model, provider, (inp, out) = WORKFLOWS[workflow]
    events = []
    t = at
    for step in steps:
        retry = rng.random() < 0.03
        for attempt in range(2 if retry else 1):
            events.append(
                Event(
                    provider=provider,
                    model=model,
                    workflow=workflow,
                    run_id=run_id,
                    step=step,
                    tenant_id=tenant,
                    customer_id=f"{tenant}-c{rng.randint(1, 4)}",
                    feature="assistant" if workflow != "doc_extract" else "documents",
                    environment=environment,
                    started_at=t,
                    input_tokens=int(inp * rng.uniform(0.8, 1.2)),
                    output_tokens=int(out * out_factor * rng.uniform(0.8, 1.2)),
                    retry_count=attempt,
                    status="retry" if retry and attempt == 0 else "success",
                    latency_ms=rng.uniform(300, 1500),
                )
            )
            t += timedelta(seconds=rng.uniform(1, 4))
    return events


def background(rng: random.Random, now: datetime = NOW, days: int = DAYS) -> list[Event]:
    """``days`` days up to ``now``: six tenants, three workflows, two environments, a few retries."""
    events: list[Event] = []
    n = 0
    start = (now - timedelta(days=days)).replace(hour=0, minute=0)
    day = start
    while day < now:
        for tenant, per_day in TENANTS.items():
            runs = max(1, round(per_day * rng.uniform(0.85, 1.15)))
            for _ in range(runs):
                at = day + timedelta(seconds=rng.uniform(0, 86000))
                if at >= now - timedelta(minutes=5):
                    continue
                workflow = rng.choices(list(WORKFLOWS), weights=[5, 3, 2])[0]
                env = "staging" if rng.random() < 0.1 else "production"
                n += 1
                events += make_run(rng, workflow, f"run-{n:05d}", tenant, at, environment=env)
        day += timedelta(days=1)
    return events
