"""The simulated product: its customers and the runs it serves over N days, drawn from a seed.

"Acme Helpdesk" sells an AI help desk to 60 customers in 12 tenants on three
plan tiers. Three workflows run on it:

- ``support_reply``: classify the ticket, embed and search the knowledge base,
  look the customer up in the CRM, draft the reply (Claude Sonnet with a
  cached system prompt for paying plans, GPT-4o mini for free), sometimes
  streamed; 429s retried by the SDK; an outcome when the customer rates it.
- ``document_extraction``: OCR the upload, extract fields from long documents
  (GPT-4o), validate (GPT-4o mini); a failed validation re-extracts with a
  reasoning model (o4-mini, Responses API): the workflow's retry loop.
- ``onboarding_assistant``: a multi-turn streamed chat (Claude Haiku) that may
  book a call (tool) and personalise a plan with the company's own fine-tuned
  model (unpriced: no public price exists for it).

Everything here is data and deterministic for a seed; :mod:`costtrail.demo.simulation`
drives the real SDK with it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

WORKFLOWS = ("support_reply", "document_extraction", "onboarding_assistant")
WORKFLOW_MIX = (0.62, 0.23, 0.15)
PLAN_TIERS = ("free", "pro", "enterprise")
STAGING_SHARE = 0.12
UNPRICED_MODEL = "acme-onboarding-ft-v3"


@dataclass(frozen=True)
class Customer:
    customer_id: str
    tenant_id: str
    plan_tier: str
    weight: float


@dataclass(frozen=True)
class PlannedRun:
    """One run to simulate: when, for whom, and the dice already rolled for it."""

    index: int
    workflow: str
    at: datetime
    environment: str
    customer: Customer
    seed: int


def make_customers(rng: random.Random, n: int = 60, tenants: int = 12) -> list[Customer]:
    """``n`` customers spread over ``tenants``; a few big ones carry most traffic (Zipf-like)."""
    customers = []
    for i in range(n):
        tier = PLAN_TIERS[0 if i % 5 in (0, 1) else (1 if i % 5 in (2, 3) else 2)]
        weight = (1.0 / (i + 1) ** 0.9) * (2.5 if tier == "enterprise" else 1.0) * rng.uniform(0.7, 1.3)
        customers.append(Customer(f"cust-{i + 1:03d}", f"tenant-{i % tenants + 1:02d}", tier, weight))
    return customers


STAGING_CUSTOMER = Customer("internal-qa", "internal", "internal", 0.0)


def _day_volume(day: int, days: int, runs_per_day: float, weekday: int) -> float:
    growth = 0.8 + 0.4 * (day / max(1, days - 1))  # the product grows over the month
    weekend = 0.45 if weekday >= 5 else 1.0
    return runs_per_day * growth * weekend


def _time_of_day(rng: random.Random) -> timedelta:
    hour = min(23.99, max(0.0, rng.gauss(14.0, 3.5)))  # business hours, UTC
    return timedelta(hours=hour)


def plan_runs(
    *, days: int, runs_per_day: float, seed: int, end: datetime | None = None
) -> tuple[list[Customer], list[PlannedRun]]:
    """The customers and every run of ``days`` days ending at ``end`` (default: today 00:00 UTC)."""
    rng = random.Random(seed)
    customers = make_customers(rng)
    weights = [c.weight for c in customers]
    end = end or datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    start = end - timedelta(days=days)
    runs: list[PlannedRun] = []
    for day in range(days):
        date = start + timedelta(days=day)
        volume = _day_volume(day, days, runs_per_day, date.weekday())
        count = int(volume) + (1 if rng.random() < volume - int(volume) else 0)
        for _ in range(count):
            staging = rng.random() < STAGING_SHARE
            customer = STAGING_CUSTOMER if staging else rng.choices(customers, weights)[0]
            runs.append(
                PlannedRun(
                    index=0,
                    workflow=rng.choices(WORKFLOWS, WORKFLOW_MIX)[0],
                    at=date + _time_of_day(rng),
                    environment="staging" if staging else "prod",
                    customer=customer,
                    seed=rng.getrandbits(32),
                )
            )
    runs.sort(key=lambda r: r.at)
    return customers, [
        PlannedRun(i, r.workflow, r.at, r.environment, r.customer, r.seed) for i, r in enumerate(runs)
    ]
