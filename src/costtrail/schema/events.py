"""The event envelope: one row per cost-generating event.

Every model call, embedding batch, retrieval query, tool call or metered
infrastructure usage becomes one :class:`Event`. Input is forgiving (aliases
such as ``prompt_tokens`` or ``workflow_type`` are normalized, unknown fields
go to ``attributes``); what is stored is strict.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from costtrail.schema.bounds import (
    EVENT_COST,
    QUANTITY,
    Count,
    LatencyMs,
    LedgerTime,
    StrictFlag,
    ledger_decimal,
)
from costtrail.schema.providers import RAW_ATTRIBUTE, canonical_provider, is_canonical

SCHEMA_VERSION = 1


class EventKind(StrEnum):
    LLM = "llm"
    EMBEDDING = "embedding"
    RETRIEVAL = "retrieval"
    TOOL = "tool"
    INFRA = "infra"
    OTHER = "other"


class EventStatus(StrEnum):
    SUCCESS = "success"
    RETRY = "retry"
    TIMEOUT = "timeout"
    FAILURE = "failure"
    ERROR = "error"
    INCOMPLETE = "incomplete"  # its usage is unknown (cut or abandoned stream, unreadable body)


class CostSource(StrEnum):
    COMPUTED = "computed"
    REPORTED = "reported"


# Input names accepted and what they mean in the envelope.
EVENT_ALIASES: dict[str, str] = {
    "workflow_type": "workflow",
    "workflow_id": "run_id",
    "agent_id": "agent",
    "agent_name": "agent",
    "step_name": "step",
    "prompt_tokens": "input_tokens",
    "completion_tokens": "output_tokens",
    "request_status": "status",
    "estimated_cost_usd": "cost_usd",
}

TOKEN_FIELDS: tuple[str, ...] = (
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "cache_write_1h_tokens",
    "reasoning_tokens",
    "input_audio_tokens",
    "output_audio_tokens",
)

# Uses of a provider's server-side tools, each billed per use beside the tokens (tool fees).
TOOL_FEE_FIELDS: tuple[str, ...] = ("web_searches", "file_searches", "code_executions")

COUNT_FIELDS: tuple[str, ...] = (
    *TOKEN_FIELDS,
    *TOOL_FEE_FIELDS,
    "request_count",
    "query_count",
    "payload_bytes",
    "tool_calls",
)

# The business and workflow dimensions reports group and filter by.
DIMENSIONS: tuple[str, ...] = (
    "workflow",
    "run_id",
    "session_id",
    "agent",
    "step",
    "tool_name",
    "provider",
    "model",
    "service_tier",
    "region",
    "provider_account",
    "product",
    "feature",
    "customer_id",
    "tenant_id",
    "plan_tier",
    "environment",
    "team",
    "cost_center",
    "user_id",
    "cloud_provider",
    "cluster",
    "namespace",
    "workload",
    "gpu_type",
)

CACHE_1H_MESSAGE = (
    "cache_write_1h_tokens ({}) is more than cache_write_tokens ({}): one-hour cache writes are a part "
    "of all cache writes, so send cache_write_tokens as the total (5-minute plus 1-hour writes)"
)

MAX_STRING = 512
# Free-form attributes are bounded so one record cannot bloat the ledger (docs/reliability.md).
MAX_ATTRIBUTES = 128
MAX_ATTRIBUTE_KEY = 256
MAX_ATTRIBUTE_VALUE = 8192


def check_attributes(value: dict[str, str]) -> dict[str, str]:
    """Refuse more than MAX_ATTRIBUTES entries, or a key/value over its length limit."""
    if len(value) > MAX_ATTRIBUTES:
        raise ValueError(
            f"{len(value)} attributes, over the limit of {MAX_ATTRIBUTES}: send fewer (unknown fields count)"
        )
    for key, item in value.items():
        if len(key) > MAX_ATTRIBUTE_KEY:
            raise ValueError(f"attribute name '{key[:40]}...' is over {MAX_ATTRIBUTE_KEY} characters")
        if len(item) > MAX_ATTRIBUTE_VALUE:
            raise ValueError(f"attribute '{key[:80]}' is over {MAX_ATTRIBUTE_VALUE} characters: shorten it")
    return value


def new_event_id() -> str:
    """A fresh, unique event id (UUID4 hex)."""
    return uuid.uuid4().hex


class Event(BaseModel):
    """One cost-generating event (the envelope of DESIGN.md).

    >>> e = Event.parse({"kind": "llm", "provider": "openai", "model": "gpt-4o-mini",
    ...                  "prompt_tokens": 100, "completion_tokens": 20})
    >>> (e.input_tokens, e.output_tokens)
    (100, 20)
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=False, use_enum_values=True)

    # identity
    event_id: str = Field(default_factory=new_event_id, min_length=1, max_length=128)
    kind: EventKind = EventKind.LLM
    schema_version: int = SCHEMA_VERSION
    # time
    started_at: LedgerTime = Field(default_factory=lambda: datetime.now(UTC))
    ended_at: LedgerTime | None = None
    latency_ms: LatencyMs | None = None
    # workflow context
    workflow: str | None = Field(default=None, max_length=MAX_STRING)
    run_id: str | None = Field(default=None, max_length=MAX_STRING)
    session_id: str | None = Field(default=None, max_length=MAX_STRING)
    agent: str | None = Field(default=None, max_length=MAX_STRING)
    step: str | None = Field(default=None, max_length=MAX_STRING)
    parent_event_id: str | None = Field(default=None, max_length=128)
    request_id: str | None = Field(default=None, max_length=MAX_STRING)
    retry_count: Count = 0
    status: EventStatus = EventStatus.SUCCESS
    error_type: str | None = Field(default=None, max_length=MAX_STRING)
    tool_calls: Count = 0
    tool_name: str | None = Field(default=None, max_length=MAX_STRING)
    # provider and model
    provider: str | None = Field(default=None, max_length=MAX_STRING)
    model: str | None = Field(default=None, max_length=MAX_STRING)
    service_tier: str | None = Field(default=None, max_length=MAX_STRING)
    region: str | None = Field(default=None, max_length=MAX_STRING)
    provider_account: str | None = Field(default=None, max_length=MAX_STRING)
    # usage
    input_tokens: Count = 0
    output_tokens: Count = 0
    cache_read_tokens: Count = 0
    cache_write_tokens: Count = 0
    # The part of cache_write_tokens written with a one-hour TTL (Anthropic), priced at its own rate.
    cache_write_1h_tokens: Count = 0
    reasoning_tokens: Count = 0
    input_audio_tokens: Count = 0
    output_audio_tokens: Count = 0
    # Server-side tool uses billed per use: OpenAI web_search_call / file_search_call /
    # code_interpreter_call items, Anthropic server_tool_use (web search requests, code execution).
    web_searches: Count = 0
    file_searches: Count = 0
    code_executions: Count = 0
    request_count: Count = 1
    query_count: Count = 0
    payload_bytes: Count = 0
    compute_seconds: Decimal | None = Field(default=None, ge=0)
    gpu_type: str | None = Field(default=None, max_length=MAX_STRING)
    # business context
    product: str | None = Field(default=None, max_length=MAX_STRING)
    feature: str | None = Field(default=None, max_length=MAX_STRING)
    customer_id: str | None = Field(default=None, max_length=MAX_STRING)
    tenant_id: str | None = Field(default=None, max_length=MAX_STRING)
    plan_tier: str | None = Field(default=None, max_length=MAX_STRING)
    environment: str | None = Field(default=None, max_length=MAX_STRING)
    team: str | None = Field(default=None, max_length=MAX_STRING)
    cost_center: str | None = Field(default=None, max_length=MAX_STRING)
    user_id: str | None = Field(default=None, max_length=MAX_STRING)
    # infrastructure context
    cloud_provider: str | None = Field(default=None, max_length=MAX_STRING)
    cluster: str | None = Field(default=None, max_length=MAX_STRING)
    namespace: str | None = Field(default=None, max_length=MAX_STRING)
    workload: str | None = Field(default=None, max_length=MAX_STRING)
    # cost
    cost_usd: Decimal | None = None
    cost_source: CostSource | None = None
    price_ref: str | None = Field(default=None, max_length=MAX_STRING)
    unpriced: StrictFlag = False
    # An incomplete call's estimated cost (its token counts are then estimates too): never in cost_usd.
    cost_estimate_usd: Decimal | None = None
    # free-form
    attributes: dict[str, str] = Field(default_factory=dict)

    @classmethod
    def parse(cls, data: dict[str, Any]) -> Event:
        """Validate one raw event (aliases and extra fields allowed)."""
        return cls.model_validate(data)

    @model_validator(mode="before")
    @classmethod
    def _normalize(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            raise ValueError("an event must be a JSON object")
        return normalize_event_input(data, set(cls.model_fields))

    @field_validator("attributes")
    @classmethod
    def _bounded(cls, value: dict[str, str]) -> dict[str, str]:
        return check_attributes(value)

    @field_validator("cost_usd", "cost_estimate_usd")
    @classmethod
    def _cost_not_negative(cls, value: Decimal | None, info: ValidationInfo) -> Decimal | None:
        if value is not None and (not value.is_finite() or value < 0):
            raise ValueError(f"{info.field_name} must be a finite, non-negative amount in USD")
        return ledger_decimal(value, EVENT_COST)

    @field_validator("compute_seconds")
    @classmethod
    def _storable_quantity(cls, value: Decimal | None) -> Decimal | None:
        return ledger_decimal(value, QUANTITY)

    @model_validator(mode="after")
    def _check(self) -> Event:
        if self.ended_at is not None and self.ended_at < self.started_at:
            raise ValueError("ended_at is before started_at: send timestamps in order (UTC, ISO 8601)")
        if self.kind in (EventKind.LLM, EventKind.EMBEDDING) and not self.model:
            raise ValueError(
                f"model is required on a '{self.kind}' event: send the model name the provider returned"
            )
        if self.cache_write_1h_tokens > self.cache_write_tokens:
            raise ValueError(CACHE_1H_MESSAGE.format(self.cache_write_1h_tokens, self.cache_write_tokens))
        if self.latency_ms is None and self.ended_at is not None:
            self.latency_ms = (self.ended_at - self.started_at).total_seconds() * 1000.0
        if self.cost_usd is not None and self.cost_source is None:
            self.cost_source = CostSource.REPORTED
        return self


def normalize_event_input(data: dict[str, Any], known: set[str]) -> dict[str, Any]:
    """Map aliases to canonical names and move unknown fields into ``attributes``."""
    out: dict[str, Any] = {}
    attributes: dict[str, str] = {}
    raw_attrs = data.get("attributes")
    if raw_attrs is not None:
        if not isinstance(raw_attrs, dict):
            raise ValueError("attributes must be an object of string keys to string values")
        attributes.update({str(k): _attr_str(v) for k, v in raw_attrs.items()})
    for key, value in data.items():
        if key == "attributes":
            continue
        canonical = EVENT_ALIASES.get(key, key)
        if canonical in known:
            if canonical in out and out[canonical] is not None and key != canonical:
                continue  # the canonical name wins over its alias
            out[canonical] = value
        elif value is not None:
            attributes[key] = _attr_str(value)
    provider = out.get("provider")
    if not is_canonical(provider):
        assert isinstance(provider, str)
        out["provider"] = canonical_provider(provider)
        attributes.setdefault(RAW_ATTRIBUTE, provider)
    if attributes:
        out["attributes"] = attributes
    return out


def _attr_str(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
