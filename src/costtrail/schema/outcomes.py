"""Outcome events: what a workflow run achieved.

They define "successful completion": cost per successful completion is the
total cost of a workflow's runs divided by its successful runs.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from costtrail.schema.bounds import AMOUNT, ledger_decimal, ledger_time
from costtrail.schema.events import MAX_STRING, check_attributes, new_event_id, normalize_event_input


class Outcome(BaseModel):
    """What one run of a workflow achieved.

    >>> Outcome.parse({"run_id": "r1", "outcome": "ticket_resolved", "success": True}).success
    True
    """

    model_config = ConfigDict(extra="forbid")

    outcome_id: str = Field(default_factory=new_event_id, min_length=1, max_length=128)
    run_id: str = Field(min_length=1, max_length=MAX_STRING)
    workflow: str | None = Field(default=None, max_length=MAX_STRING)
    outcome: str = Field(min_length=1, max_length=MAX_STRING)
    success: bool
    value_usd: Decimal | None = None
    recorded_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    feature: str | None = Field(default=None, max_length=MAX_STRING)
    customer_id: str | None = Field(default=None, max_length=MAX_STRING)
    tenant_id: str | None = Field(default=None, max_length=MAX_STRING)
    environment: str | None = Field(default=None, max_length=MAX_STRING)
    attributes: dict[str, str] = Field(default_factory=dict)

    @classmethod
    def parse(cls, data: dict[str, Any]) -> Outcome:
        return cls.model_validate(data)

    @model_validator(mode="before")
    @classmethod
    def _normalize(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            raise ValueError("an outcome must be a JSON object")
        return normalize_event_input(data, set(cls.model_fields))

    @field_validator("attributes")
    @classmethod
    def _bounded(cls, value: dict[str, str]) -> dict[str, str]:
        return check_attributes(value)

    @field_validator("value_usd")
    @classmethod
    def _storable(cls, value: Decimal | None) -> Decimal | None:
        return ledger_decimal(value, AMOUNT)

    @field_validator("recorded_at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return ledger_time(value)
