"""Cost lines: the finance side of the ledger (FOCUS-aligned).

Money that does not come from one event: provider invoices and billing
exports, shared infrastructure, SaaS tools, and allocations made from them.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from costtrail.schema.bounds import AMOUNT, QUANTITY, ledger_decimal, ledger_time


class CostLineKind(StrEnum):
    BILLED = "billed"  # imported from a provider bill or invoice
    SHARED = "shared"  # shared infrastructure or SaaS to be allocated
    ALLOCATED = "allocated"  # produced by an allocation rule
    UNALLOCATED = "unallocated"  # the part of a pool no signal claimed
    USAGE = "usage"  # provider-reported usage with no money (token counts), for reconciliation
    TRUE_UP = "true_up"  # billed minus computed per reconciled group, stored beside computed cost
    REVENUE = "revenue"  # money in (revenue per customer/tenant and period), never summed as cost


class Confidence(StrEnum):
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


class CostLine(BaseModel):
    """One FOCUS-aligned line of cost."""

    model_config = ConfigDict(extra="forbid", use_enum_values=True)

    line_id: str = Field(default="", max_length=128)
    kind: CostLineKind = CostLineKind.BILLED
    source: str = Field(
        min_length=1, max_length=256
    )  # e.g. "openai-costs-api", "focus:aws", "rule:vector-db"
    charge_period_start: datetime
    charge_period_end: datetime
    billed_cost: Decimal
    effective_cost: Decimal | None = None
    list_cost: Decimal | None = None
    contracted_cost: Decimal | None = None
    currency: str = "USD"
    provider: str | None = None
    service_name: str | None = None
    service_category: str | None = None
    resource_id: str | None = None
    resource_name: str | None = None
    sku: str | None = None
    model: str | None = None
    provider_account: str | None = None
    pricing_quantity: Decimal | None = None
    pricing_unit: str | None = None
    consumed_quantity: Decimal | None = None
    consumed_unit: str | None = None
    charge_description: str | None = None
    charge_category: str | None = None  # FOCUS ChargeCategory: Usage, Purchase, Tax, Credit, Adjustment
    tags: dict[str, str] = Field(default_factory=dict)
    # allocation provenance
    rule_id: str | None = None
    signal: str | None = None
    signal_quantity: Decimal | None = None
    ratio: Decimal | None = None
    target_dimension: str | None = None
    target_value: str | None = None
    confidence: Confidence | None = None
    allocation_period: str | None = None

    @field_validator("billed_cost", "effective_cost", "list_cost", "contracted_cost")
    @classmethod
    def _storable_amount(cls, value: Decimal | None) -> Decimal | None:
        return ledger_decimal(value, AMOUNT)

    @field_validator("pricing_quantity", "consumed_quantity", "signal_quantity", "ratio")
    @classmethod
    def _storable_quantity(cls, value: Decimal | None) -> Decimal | None:
        return ledger_decimal(value, QUANTITY)

    @field_validator("charge_period_start", "charge_period_end")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return ledger_time(value)

    @model_validator(mode="after")
    def _check(self) -> CostLine:
        if self.charge_period_end < self.charge_period_start:
            raise ValueError("charge_period_end is before charge_period_start")
        if not self.line_id:
            self.line_id = self.fingerprint()
        return self

    def fingerprint(self) -> str:
        """A stable id from the line's content, so that re-importing a file stores nothing new."""
        parts: list[Any] = [
            self.kind,
            self.source,
            self.charge_period_start.isoformat(),
            self.charge_period_end.isoformat(),
            str(self.billed_cost),
            self.provider,
            self.service_name,
            self.resource_id,
            self.sku,
            self.model,
            self.provider_account,
            str(self.pricing_quantity),
            self.charge_description,
            self.charge_category,
            sorted(self.tags.items()),
            self.rule_id,
            self.target_dimension,
            self.target_value,
            self.allocation_period,
        ]
        return hashlib.sha256(repr(parts).encode()).hexdigest()[:32]
