"""Allocation rules: YAML files of documented rules that split shared cost pools.

Example::

    rules:
      - id: vector-db
        description: Pinecone bill, by retrieval queries per customer
        owner: platform-team
        review_by: 2027-01-31
        pool:
          lines: {provider: pinecone}         # cost lines of the period matching every key
        signal: query_count
        events: {kind: retrieval}             # which events carry the signal (optional)
        target: customer
        method: proportional
      - id: observability
        owner: sre
        review_by: 2027-03-31
        pool: {fixed_usd: "1200.00"}          # a fixed amount each period
        target: team
        method: overhead
        shares: {search: 60, support: 30}     # percent; the rest stays unallocated
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from costtrail.schema import Confidence


class Signal(StrEnum):
    INPUT_TOKENS = "input_tokens"
    OUTPUT_TOKENS = "output_tokens"
    TOTAL_TOKENS = "total_tokens"
    REQUESTS = "requests"
    COMPUTE_SECONDS = "compute_seconds"
    QUERY_COUNT = "query_count"
    WORKFLOW_RUNS = "workflow_runs"
    EVENT_COST = "event_cost"
    EVEN = "even"


class Method(StrEnum):
    DIRECT = "direct"  # the pool's lines name their target (a tag), or one value takes it all
    PROPORTIONAL = "proportional"  # by the signal
    EVEN = "even"  # equal parts among targets active in the period
    OVERHEAD = "overhead"  # fixed percentages per target


# Target dimension -> the event column that holds it.
TARGETS: dict[str, str] = {
    "feature": "feature",
    "customer": "customer_id",
    "tenant": "tenant_id",
    "workflow": "workflow",
    "environment": "environment",
    "team": "team",
    "product": "product",
    "plan_tier": "plan_tier",
    "cost_center": "cost_center",
}
# Cost-line columns a pool filter may name (``tags.NAME`` selects by tag).
POOL_FILTER_COLUMNS = frozenset(
    {"source", "kind", "provider", "service_name", "service_category", "resource_id", "sku", "model"}
    | {"provider_account", "charge_category"}
)
EVENT_FILTER_COLUMNS = frozenset(
    {"kind", "provider", "model", "workflow", "feature", "environment", "team", "product", "cluster"}
    | {"namespace", "workload", "gpu_type", "tool_name", "service_tier", "cloud_provider"}
)
CONFIDENCE: dict[Method, Confidence] = {
    Method.DIRECT: Confidence.HIGH,
    Method.PROPORTIONAL: Confidence.MEDIUM,
    Method.EVEN: Confidence.LOW,
    Method.OVERHEAD: Confidence.LOW,
}


class AllocationRuleError(ValueError):
    """A rules file that cannot be used; the message names the file, the rule and the field."""


class Pool(BaseModel):
    """What is split: cost lines of the period selected by ``lines``, or ``fixed_usd`` each period."""

    model_config = ConfigDict(extra="forbid")

    lines: dict[str, str] | None = None
    fixed_usd: Decimal | None = None

    @model_validator(mode="after")
    def _one(self) -> Pool:
        if (self.lines is None) == (self.fixed_usd is None):
            raise ValueError("give either lines (a filter on cost lines) or fixed_usd, not both")
        if self.lines is not None:
            bad = sorted(k for k in self.lines if k not in POOL_FILTER_COLUMNS and not k.startswith("tags."))
            if bad:
                raise ValueError(
                    f"unknown cost-line filter {', '.join(bad)}: "
                    f"use {', '.join(sorted(POOL_FILTER_COLUMNS))} or tags.NAME"
                )
            if not self.lines:
                raise ValueError("lines needs at least one filter, e.g. {provider: pinecone}")
        if self.fixed_usd is not None and (not self.fixed_usd.is_finite() or self.fixed_usd < 0):
            raise ValueError("fixed_usd must be a non-negative amount")
        return self


class AllocationRule(BaseModel):
    """One documented rule: a pool, a signal, a target dimension, a method, an owner and a review date."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=120, pattern=r"^[A-Za-z0-9_.:-]+$")
    description: str | None = None
    owner: str = Field(min_length=1)
    review_by: date
    pool: Pool
    signal: Signal = Signal.EVEN
    events: dict[str, str] = Field(default_factory=dict)
    target: str
    method: Method
    tag: str | None = Field(default=None, description="direct: the pool-line tag naming the target")
    value: str | None = Field(default=None, description="direct: the one target that takes the whole pool")
    shares: dict[str, Decimal] | None = Field(default=None, description="overhead: percent per target")

    @model_validator(mode="after")
    def _coherent(self) -> AllocationRule:
        if self.target not in TARGETS:
            raise ValueError(f"target {self.target!r} is not one of {', '.join(TARGETS)}")
        bad = sorted(set(self.events) - EVENT_FILTER_COLUMNS)
        if bad:
            raise ValueError(
                f"events: unknown filter {', '.join(bad)}: use {', '.join(sorted(EVENT_FILTER_COLUMNS))}"
            )
        if self.method is Method.DIRECT:
            if (self.tag is None) == (self.value is None):
                raise ValueError("a direct rule needs either tag (read the target from each line) or value")
            if self.value is None and self.pool.lines is None:
                raise ValueError("a direct rule with tag needs a pool of lines, not fixed_usd")
        if self.method is Method.OVERHEAD:
            if not self.shares:
                raise ValueError("an overhead rule needs shares: {target value: percent, ...}")
            total = sum(self.shares.values(), Decimal(0))
            if any(v <= 0 for v in self.shares.values()) or total > 100:
                raise ValueError(
                    f"shares must be positive percents adding up to at most 100 (they add to {total})"
                )
        if self.method is Method.PROPORTIONAL and self.signal is Signal.EVEN:
            raise ValueError("a proportional rule needs a signal (input_tokens, requests, query_count, ...)")
        return self

    @property
    def confidence(self) -> Confidence:
        return CONFIDENCE[self.method]

    @property
    def target_column(self) -> str:
        return TARGETS[self.target]


class RuleSet(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rules: list[AllocationRule]

    @model_validator(mode="after")
    def _unique(self) -> RuleSet:
        seen: set[str] = set()
        for rule in self.rules:
            if rule.id in seen:
                raise ValueError(f"rule id {rule.id!r} is used twice")
            seen.add(rule.id)
        return self


def load_rules(path: Path) -> list[AllocationRule]:
    """Read and validate a rules file; errors name the file, the rule and the field."""
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise AllocationRuleError(f"{path.name}: not valid YAML: {exc}") from None
    return parse_rules(data, name=path.name)


def parse_rules(data: Any, *, name: str = "rules") -> list[AllocationRule]:
    try:
        return RuleSet.model_validate(data).rules
    except ValidationError as exc:
        # every problem at once, so one edit fixes the file
        problems = [_where(error, data) for error in exc.errors(include_url=False)]
        raise AllocationRuleError(f"{name}: " + "; ".join(problems)) from None


def _where(error: Any, data: Any) -> str:
    loc = list(error["loc"])
    where = ".".join(str(p) for p in loc) or "(file)"
    if len(loc) >= 2 and loc[0] == "rules" and isinstance(loc[1], int):
        rules = data.get("rules") if isinstance(data, dict) else None
        rid = rules[loc[1]].get("id") if isinstance(rules, list) and isinstance(rules[loc[1]], dict) else None
        field = ".".join(str(p) for p in loc[2:]) or "(rule)"
        where = f"rule {rid or loc[1]!s}, field {field}"
    msg = str(error["msg"]).removeprefix("Value error, ")
    return f"{where}: {msg}"
