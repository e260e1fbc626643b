"""Price plans: what a customer pays for what the ledger measured, as validated YAML.

Example::

    default_plan: starter                 # customers no plan names or matches by tier
    plans:
      - name: pro
        effective_from: 2026-01-01        # versions of one plan by date (the one in effect
        plan_tier: pro                    #   on a period's first day applies)
        customers: [acme]                 # named customers (beat plan_tier)
        minimum_usd: "49.00"              # a minimum commitment per period
        charges:
          - name: usage                   # a slug: letters, digits, - and _
            metric: cost                  # cost-plus: the ledger cost of the usage ...
            markup_pct: 20                #   ... plus 20%
          - name: output-tokens
            metric: output_tokens
            per: 1000000                  # unit_price is per this many units
            unit_price: "12.00"
            included: 1000000             # an allowance, free each period
            where: {model: gpt-4o}        # only these events (equality, or a list of values)
          - name: resolutions
            metric: outcome:ticket_resolved
            tier_mode: volume             # graduated (each slice at its tier) or volume
            tiers:                        #   (every unit at the tier the total reaches)
              - {up_to: 100, unit_price: "0.50"}
              - {unit_price: "0.40"}      # the last tier has no up_to

Errors name the file, the line and the field (``plans[0] (name 'pro').charges[1] ...``).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from costtrail.ledger.usage_rollup import USAGE_DIMS
from costtrail.schema.events import TOKEN_FIELDS
from costtrail.schema.yaml_source import ExactLoader, describe_errors, parse_mapping, read_source

TOKEN_METRICS: tuple[str, ...] = TOKEN_FIELDS
# metric -> what one unit is (docs and error messages)
EVENT_METRICS: dict[str, str] = {
    **{m: m.replace("_", " ").removesuffix("s") for m in TOKEN_METRICS},
    "calls": "a model or tool call (the event's request_count)",
    "events": "a ledger event",
    "cost": "one USD of ledger cost (priced events only)",
}
RUN_METRICS: dict[str, str] = {
    "runs": "a run with an event of the customer",
    "successful_runs": "a run that succeeded (a successful outcome, or its last model call succeeded)",
}
OUTCOME_PREFIX = "outcome:"
# What a charge's ``where`` may name: the columns the ledger's usage rollup keeps as they are.
WHERE_FIELDS: tuple[str, ...] = tuple(d for d in USAGE_DIMS if d != "plan_tier")
_SLUG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class PlanError(ValueError):
    """A plans file cannot be used; the message names the file, line and field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def metric_names() -> list[str]:
    """Every metric a charge may price (``outcome:NAME`` stands for any outcome name)."""
    return [*EVENT_METRICS, *RUN_METRICS, f"{OUTCOME_PREFIX}NAME"]


class Tier(_Strict):
    """One tier: units up to ``up_to`` (of the billable quantity) at ``unit_price`` per ``per``."""

    up_to: Decimal | None = Field(default=None, gt=0)
    unit_price: Decimal = Field(ge=0)


class Charge(_Strict):
    """One line of a plan: a price on one ledger metric, with allowance, tiers or markup."""

    name: str = Field(min_length=1, max_length=80)
    metric: str
    description: str | None = None
    unit_price: Decimal | None = Field(default=None, ge=0)
    per: Decimal = Field(default=Decimal(1), gt=0)
    markup_pct: Decimal | None = Field(default=None, ge=-100)
    included: Decimal = Field(default=Decimal(0), ge=0)
    tiers: tuple[Tier, ...] = ()
    tier_mode: Literal["graduated", "volume"] = "graduated"
    where: dict[str, tuple[str, ...]] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not _SLUG.match(value):
            raise ValueError(
                f"{value!r}: a charge name is a slug (letters, digits, '-', '_', '.'), e.g. output-tokens"
            )
        return value

    @field_validator("metric")
    @classmethod
    def _known_metric(cls, value: str) -> str:
        if value.startswith(OUTCOME_PREFIX) and value[len(OUTCOME_PREFIX) :].strip():
            return value
        if value not in EVENT_METRICS and value not in RUN_METRICS:
            raise ValueError(f"unknown metric {value!r}; use one of {metric_names()}")
        return value

    @field_validator("where", mode="before")
    @classmethod
    def _where(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        unknown = sorted(set(value) - set(WHERE_FIELDS))
        if unknown:
            raise ValueError(f"unknown where field(s) {unknown}; use any of {list(WHERE_FIELDS)}")
        return {
            k: tuple(str(x) for x in v) if isinstance(v, list | tuple) else (str(v),)
            for k, v in value.items()
        }

    @model_validator(mode="after")
    def _one_price(self) -> Charge:
        given = [n for n in ("unit_price", "markup_pct") if getattr(self, n) is not None]
        if self.tiers:
            given.append("tiers")
        if len(given) != 1:
            raise ValueError(f"set exactly one of unit_price, markup_pct or tiers (got {given or 'none'})")
        if self.markup_pct is not None and self.metric != "cost":
            raise ValueError("markup_pct prices the ledger cost: it needs metric: cost")
        if self.tiers:
            if self.tiers[-1].up_to is not None:
                raise ValueError("the last tier has no up_to (it takes everything above the one before)")
            bounds = [t.up_to for t in self.tiers[:-1]]
            if any(b is None for b in bounds) or bounds != sorted(set(bounds)):  # type: ignore[type-var]
                raise ValueError("tiers need increasing up_to values, and only the last tier leaves it out")
        if self.where and self.metric.startswith(OUTCOME_PREFIX):
            raise ValueError("where filters events; an outcome charge counts outcomes by name only")
        return self

    @property
    def outcome(self) -> str | None:
        return self.metric[len(OUTCOME_PREFIX) :] if self.metric.startswith(OUTCOME_PREFIX) else None

    @property
    def unit_multiplier(self) -> Decimal:
        """Price per unit of the metric for a flat or cost-plus charge."""
        if self.markup_pct is not None:
            return 1 + self.markup_pct / 100
        return (self.unit_price or Decimal(0)) / self.per


class Plan(_Strict):
    """One version of a price plan: who it applies to and its charges."""

    name: str = Field(min_length=1, max_length=200)
    effective_from: date | None = None
    plan_tier: str | None = None
    customers: tuple[str, ...] = ()
    currency: Literal["USD"] = "USD"
    minimum_usd: Decimal | None = Field(default=None, gt=0)
    charges: tuple[Charge, ...] = Field(min_length=1)

    @field_validator("charges")
    @classmethod
    def _unique_charges(cls, value: tuple[Charge, ...]) -> tuple[Charge, ...]:
        names = [c.name for c in value]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"charge names must be unique within a plan; repeated: {dupes}")
        return value

    @property
    def version(self) -> str:
        """``pro@2026-01-01`` (or the bare name for a plan without a date)."""
        return f"{self.name}@{self.effective_from}" if self.effective_from else self.name

    def starts(self) -> datetime:
        d = self.effective_from or date.min
        return datetime(d.year, d.month, d.day, tzinfo=UTC)


class PricePlans(_Strict):
    """Everything in a plans file, and the choice of a customer's plan for a period."""

    plans: tuple[Plan, ...] = Field(min_length=1)
    default_plan: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> PricePlans:
        names = {p.name for p in self.plans}
        if self.default_plan is not None and self.default_plan not in names:
            raise ValueError(f"default_plan {self.default_plan!r} is not a plan; plans: {sorted(names)}")
        versions = [p.version for p in self.plans]
        dupes = sorted({v for v in versions if versions.count(v) > 1})
        if dupes:
            raise ValueError(f"two versions of a plan share an effective_from: {dupes}")
        return self

    def in_effect(self, when: datetime) -> list[Plan]:
        """The version of each plan in effect at ``when`` (plans not yet started are left out)."""
        latest: dict[str, Plan] = {}
        for plan in self.plans:
            if plan.starts() <= when and (
                plan.name not in latest or latest[plan.name].starts() < plan.starts()
            ):
                latest[plan.name] = plan
        return list(latest.values())

    def plan_for(
        self, customer: str, plan_tier: str | None, when: datetime, in_effect: list[Plan] | None = None
    ) -> Plan | None:
        """A customer's plan at ``when``: named in ``customers``, else by ``plan_tier``, else the default.

        ``in_effect`` is :meth:`in_effect` of ``when`` when the caller has it already."""
        plans = self.in_effect(when) if in_effect is None else in_effect
        named = [p for p in plans if customer in p.customers]
        if len(named) > 1:
            raise PlanError(
                f"customer {customer!r} is named by plans {[p.name for p in named]}: name it in one plan only"
            )
        if named:
            return named[0]
        by_tier = [p for p in plans if plan_tier is not None and p.plan_tier == plan_tier]
        if by_tier:
            return by_tier[0]
        return next((p for p in plans if p.name == self.default_plan), None)

    @classmethod
    def load(cls, path: str | Path) -> PricePlans:
        """Read and validate a plans file; raises :class:`PlanError` naming file, line and field."""
        return cls.from_yaml(read_source(path, PlanError, "plans file"), source=str(path))

    @classmethod
    def from_yaml(cls, text: str, *, source: str = "<plans>") -> PricePlans:
        node, data = parse_mapping(
            text,
            source,
            PlanError,
            "a plans file is a YAML mapping (plans: [...], default_plan: ...)",
            loader=ExactLoader,
            empty_ok=False,
        )
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise PlanError(
                describe_errors(exc, data, node, source, title="invalid plans file", default="plans")
            ) from exc


def load_plans(path: str | Path | None) -> PricePlans | None:
    """The plans file at ``path``, or ``None`` when no file is set (a server without billing)."""
    return None if path is None else PricePlans.load(path)
