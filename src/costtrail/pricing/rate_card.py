"""The user's rate card: a YAML file of prices that add to or override genai-prices.

Example (every section is optional except ``version``)::

    version: acme-2025-06
    models:
      - id: support-ft                    # names the entry in price_ref
        provider: openai
        model: "ft:gpt-4o-mini:acme:*"    # exact name or glob, case-insensitive
        prices: {input_mtok: 0.30, output_mtok: 1.20, cache_read_mtok: 0.15}
      - id: anthropic-contract
        provider: anthropic
        model: "claude-*"
        discount_percent: 12.5            # off the genai-prices list price
        valid_from: 2025-01-01            # UTC dates; valid_to is exclusive
      - id: bedrock-eu-sonnet            # a price for one region (the event's region, glob)
        provider: aws
        model: "eu.anthropic.claude-sonnet-4-5*"
        region: "eu-central-*"
        prices: {input_mtok: 3.63, output_mtok: 18.15}
      - id: llama-onprem
        model: llama-3.1-70b-onprem
        gpu_time: true                    # compute_seconds x gpus[gpu_type].usd_per_hour
        request_fee_usd: 0.0001           # added per request
    gpus:
      - {gpu_type: a100-80gb, usd_per_hour: 2.21}
    retrieval:
      - {id: pinecone, provider: pinecone, usd_per_1k_queries: 0.40}
    tools:
      - {id: web-search, tool_name: web_search, usd_per_call: 0.01}

Entries are tried in file order and the first that matches wins, so put the
specific ones before the broad ones.
"""

from __future__ import annotations

import fnmatch
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from costtrail.pricing.decomposition import unit_registry
from costtrail.schema.yaml_source import describe_errors, parse_mapping, read_source


class RateCardError(ValueError):
    """A rate card cannot be read; the message names the file, line, entry and field."""


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str | None = Field(default=None, max_length=200)
    valid_from: date | None = None
    valid_to: date | None = None

    @model_validator(mode="after")
    def _window(self) -> _Entry:
        if self.valid_from and self.valid_to and self.valid_to <= self.valid_from:
            raise ValueError("valid_to must be after valid_from (valid_to is exclusive)")
        return self

    def valid_on(self, day: date) -> bool:
        return (self.valid_from is None or day >= self.valid_from) and (
            self.valid_to is None or day < self.valid_to
        )

    def boundaries(self) -> list[date]:
        return [d for d in (self.valid_from, self.valid_to) if d is not None]


def _matches(pattern: str | None, value: str | None) -> bool:
    if pattern is None:
        return True
    if value is None:
        return False
    return fnmatch.fnmatchcase(value.strip().lower(), pattern.strip().lower())


class TierPrice(BaseModel):
    """A context-size tier: ``price`` applies to the whole request once input_tokens > ``start``."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    start: int = Field(ge=0)
    price: Decimal = Field(ge=0)


class TieredPrice(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    base: Decimal = Field(ge=0)
    tiers: list[TierPrice]


class ModelRate(_Entry):
    """Prices for matching model calls: explicit prices, GPU time, or the list price with a discount."""

    provider: str | None = Field(default=None, description="provider, case-insensitive; omit for any")
    model: str = Field(min_length=1, description="model name or glob (``*``, ``?``), case-insensitive")
    service_tier: str | None = Field(default=None, description="only events with this service_tier")
    region: str | None = Field(
        default=None, description="only events in this region or glob (eu-*), case-insensitive"
    )
    prices: dict[str, Decimal | TieredPrice] | None = Field(
        default=None, description="genai-prices price keys (input_mtok, output_mtok, cache_read_mtok, ...)"
    )
    gpu_time: bool = Field(default=False, description="price by compute_seconds x the gpus table")
    discount_percent: Decimal | None = Field(default=None, ge=0, le=100)
    request_fee_usd: Decimal | None = Field(default=None, ge=0)
    max_output_tokens: int | None = Field(
        default=None, gt=0, description="most output tokens a call can write (the gateway's budget estimate)"
    )

    @field_validator("prices")
    @classmethod
    def _known_keys(cls, value: dict[str, Decimal | TieredPrice] | None) -> Any:
        if value is None:
            return value
        registry = unit_registry()
        known = {u.price_key for u in registry.units.values()}
        unknown = sorted(set(value) - known)
        if unknown:
            raise ValueError(
                f"unknown price key {', '.join(unknown)}: use genai-prices keys such as "
                "input_mtok, output_mtok, cache_read_mtok, cache_write_mtok, input_audio_mtok, "
                "output_audio_mtok, requests_kcount"
            )
        for key, price in value.items():
            if isinstance(price, Decimal) and (not price.is_finite() or price < 0):
                raise ValueError(f"{key} must be a finite, non-negative USD amount")
        from genai_prices.validation import validate_model_price

        try:
            validate_model_price(set(value), registry)
        except ValueError as exc:
            raise ValueError(f"{exc} (a more specific price needs the price it refines)") from exc
        return value

    @model_validator(mode="after")
    def _one_basis(self) -> ModelRate:
        if self.prices is not None and self.gpu_time:
            raise ValueError("give either prices or gpu_time, not both")
        basis = (self.prices, self.discount_percent, self.request_fee_usd)
        if not self.gpu_time and all(v is None for v in basis):
            raise ValueError("give prices, gpu_time: true, discount_percent or request_fee_usd")
        return self

    def selects(
        self, provider: str | None, model: str | None, service_tier: str | None, region: str | None = None
    ) -> bool:
        if self.service_tier is not None and (service_tier or "").lower() != self.service_tier.lower():
            return False
        return (
            _matches(self.provider, provider)
            and _matches(self.model, model)
            and _matches(self.region, region)
        )


class GpuRate(_Entry):
    """What an hour of one GPU of ``gpu_type`` costs (self-hosted models, infra events)."""

    gpu_type: str = Field(min_length=1)
    usd_per_hour: Decimal = Field(ge=0)


class RetrievalRate(_Entry):
    """Retrieval queries: USD per 1,000 queries, for events of kind ``retrieval``."""

    provider: str | None = None
    model: str | None = None
    tool_name: str | None = None
    usd_per_1k_queries: Decimal = Field(ge=0)
    request_fee_usd: Decimal | None = Field(default=None, ge=0)

    def selects(self, provider: str | None, model: str | None, tool_name: str | None) -> bool:
        return (
            _matches(self.provider, provider)
            and _matches(self.model, model)
            and _matches(self.tool_name, tool_name)
        )


class ToolRate(_Entry):
    """Tool calls: USD per call, for events of kind ``tool``."""

    tool_name: str = Field(min_length=1, description="tool name or glob")
    provider: str | None = None
    usd_per_call: Decimal = Field(ge=0)

    def selects(self, provider: str | None, tool_name: str | None) -> bool:
        return _matches(self.provider, provider) and _matches(self.tool_name, tool_name)


class RateCard(BaseModel):
    """A versioned rate card. Load one with :meth:`load`; pass it to ``Pricer(rate_card=...)``.

    >>> card = RateCard.from_yaml("version: v1\\ntools: [{tool_name: web_search, usd_per_call: 0.01}]")
    >>> card.tools[0].usd_per_call
    Decimal('0.01')
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: str = Field(min_length=1, max_length=100, description="recorded in every price_ref")
    models: list[ModelRate] = Field(default_factory=list)
    gpus: list[GpuRate] = Field(default_factory=list)
    retrieval: list[RetrievalRate] = Field(default_factory=list)
    tools: list[ToolRate] = Field(default_factory=list)

    @field_validator("version", mode="before")
    @classmethod
    def _version_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int | float | date) else value

    @classmethod
    def load(cls, path: str | Path) -> RateCard:
        """Read and validate a rate card file; raises :class:`RateCardError` naming file, line and field."""
        return cls.from_yaml(read_source(path, RateCardError, "rate card"), source=str(path))

    @classmethod
    def from_yaml(cls, text: str, *, source: str = "<rate card>") -> RateCard:
        node, data = parse_mapping(
            text,
            source,
            RateCardError,
            "a rate card is a YAML mapping with at least 'version:'",
            empty_ok=False,
        )
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise RateCardError(
                describe_errors(
                    exc,
                    data,
                    node,
                    source,
                    title="invalid rate card",
                    default="rate card",
                    name_key="id",
                    in_path=_in_yaml,
                )
            ) from exc

    def entry_label(self, section: str, index: int) -> str:
        entry: _Entry = getattr(self, section)[index]
        return entry.id or getattr(entry, "gpu_type", None) or f"{section}[{index}]"

    def gpu_rate(self, gpu_type: str | None, day: date) -> tuple[int, GpuRate] | None:
        for i, g in enumerate(self.gpus):
            if _matches(g.gpu_type, gpu_type) and g.valid_on(day):
                return i, g
        return None


def _in_yaml(part: Any) -> bool:
    """pydantic adds the union member's name to the path; drop it so the path is the YAML's."""
    return not (isinstance(part, str) and ("[" in part or part in ("decimal", "TieredPrice")))
