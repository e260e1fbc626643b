"""The controls file: budgets, model policies, guardrails and alert sinks, as validated YAML.

Example (every section is optional)::

    budgets:
      - name: prod-daily
        scope: {environment: production}      # any of SCOPE_FIELDS; {} is everything
        period: day                           # day | week | month | rolling
        limit_usd: 250                        # or limit_tokens: 50000000
        action: block                         # block (HTTP 429) or alert
        thresholds: [50, 80, 100]             # percent of the limit that raise an alert
        owner: platform@acme.example
      - name: acme-hourly
        scope: {tenant_id: acme, feature: chat}
        period: rolling
        window: 1h                            # rolling windows: 30m, 6h, 7d ...
        limit_usd: 5
    model_policies:
      - name: support-models
        scope: {workflow: support_reply}
        allowed_models: [gpt-4o-mini, "claude-haiku-*"]
        action: reroute                       # reject | reroute | alert
        reroute_to: gpt-4o-mini
    guardrails:
      cost_spike: {factor: 2, baseline_days: 7}
      retry_loop: {max_events: 40, max_retries: 5, window_minutes: 10, block: true}
    alerts:
      cooldown_minutes: 60
      webhooks: [{url: "https://hooks.slack.com/services/...", format: slack}]

Errors name the file, the line and the field (``budgets[0] (name 'x').limit_usd``).
"""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from costtrail.schema.yaml_source import ExactLoader, describe_errors, parse_mapping, read_source

SCOPE_FIELDS: tuple[str, ...] = (
    "environment",
    "tenant_id",
    "customer_id",
    "feature",
    "workflow",
    "team",
    "provider_account",
)

_DURATION = re.compile(r"^\s*(\d+)\s*(s|m|h|d|w)\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


class ControlsConfigError(ValueError):
    """The controls file cannot be used; the message names the file, line and field."""


def parse_duration(text: str | int) -> timedelta:
    """``"30m"``, ``"6h"``, ``"7d"``, ``"1w"`` or a number of seconds."""
    if isinstance(text, int):
        return timedelta(seconds=text)
    m = _DURATION.match(text)
    if not m:
        raise ValueError(f"{text!r} is not a duration; write e.g. 30m, 6h, 7d or 1w")
    return timedelta(seconds=int(m.group(1)) * _UNIT_SECONDS[m.group(2)])


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_scope(value: dict[str, str]) -> dict[str, str]:
    unknown = sorted(set(value) - set(SCOPE_FIELDS))
    if unknown:
        raise ValueError(f"unknown scope field(s) {unknown}; use any of {list(SCOPE_FIELDS)}")
    return {k: str(v) for k, v in value.items()}


class BudgetConfig(_Strict):
    """One budget: a limit on spend (USD) or tokens in a scope over a period."""

    name: str = Field(min_length=1, max_length=200)
    scope: dict[str, str] = Field(default_factory=dict)
    period: Literal["day", "week", "month", "rolling"] = "month"
    window: str | None = None
    limit_usd: Decimal | None = Field(default=None, gt=0)
    limit_tokens: int | None = Field(default=None, gt=0)
    action: Literal["block", "alert"] = "block"
    thresholds: tuple[int, ...] = (50, 80, 100)
    owner: str | None = None

    _scope = field_validator("scope")(_check_scope)

    @field_validator("thresholds")
    @classmethod
    def _percents(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if any(t <= 0 or t > 1000 for t in value):
            raise ValueError("thresholds are percents of the limit between 1 and 1000, e.g. [50, 80, 100]")
        return tuple(sorted(set(value)))

    @model_validator(mode="after")
    def _consistent(self) -> BudgetConfig:
        if (self.limit_usd is None) == (self.limit_tokens is None):
            raise ValueError("set exactly one of limit_usd or limit_tokens")
        if self.period == "rolling":
            if not self.window:
                raise ValueError("a rolling budget needs window: (e.g. 1h, 24h, 7d)")
            if parse_duration(self.window) < timedelta(seconds=60):
                raise ValueError("a rolling window must be at least 60s")
        elif self.window:
            raise ValueError(
                f"window applies only to period: rolling (this budget's period is {self.period})"
            )
        return self

    @property
    def window_delta(self) -> timedelta:
        return parse_duration(self.window or "0s")

    @property
    def unit(self) -> str:
        return "usd" if self.limit_usd is not None else "tokens"

    @property
    def limit(self) -> Decimal:
        return self.limit_usd if self.limit_usd is not None else Decimal(self.limit_tokens or 0)


class ModelPolicyConfig(_Strict):
    """Which models a workflow or feature may use, and what happens to a call outside the policy."""

    name: str = Field(min_length=1, max_length=200)
    scope: dict[str, str] = Field(default_factory=dict)
    allowed_models: tuple[str, ...] | None = None
    max_input_usd_per_mtok: Decimal | None = Field(default=None, gt=0)
    max_output_usd_per_mtok: Decimal | None = Field(default=None, gt=0)
    action: Literal["reject", "reroute", "alert"] = "alert"
    reroute_to: str | None = None

    _scope = field_validator("scope")(_check_scope)

    @model_validator(mode="after")
    def _consistent(self) -> ModelPolicyConfig:
        limits = (self.allowed_models, self.max_input_usd_per_mtok, self.max_output_usd_per_mtok)
        if all(v is None for v in limits):
            raise ValueError("set allowed_models or max_input_usd_per_mtok / max_output_usd_per_mtok")
        if self.action == "reroute" and not self.reroute_to:
            raise ValueError("action: reroute needs reroute_to: <model>")
        return self


class CostSpikeConfig(_Strict):
    enabled: bool = True
    factor: Decimal = Field(default=Decimal(2), gt=1)
    baseline_days: int = Field(default=7, ge=1)
    window_hours: int = Field(default=24, ge=1)
    min_runs: int = Field(default=5, ge=1)
    min_baseline_runs: int = Field(default=20, ge=1)


class RetryLoopConfig(_Strict):
    enabled: bool = True
    max_events: int = Field(default=40, ge=2)
    max_retries: int = Field(default=5, ge=1)
    window_minutes: int = Field(default=10, ge=1)
    block: bool = False
    lookback_hours: int = Field(default=24, ge=1)
    max_tracked_runs: int = Field(default=100_000, ge=100)


class PacingConfig(_Strict):
    enabled: bool = True
    # Too early in a period one busy hour extrapolates to anything; wait for this share of it.
    min_elapsed_fraction: float = Field(default=0.1, gt=0, lt=1)


class TenantAnomalyConfig(_Strict):
    enabled: bool = True
    history_days: int = Field(default=28, ge=3)
    min_history_days: int = Field(default=7, ge=2)
    threshold: float = Field(default=5.0, gt=0)
    min_deviation_fraction: float = Field(default=0.25, ge=0)
    min_daily_usd: Decimal = Field(default=Decimal("0.01"), ge=0)
    # A tenant with traffic on fewer days than this share of its history has no "usual" day to judge.
    min_active_fraction: float = Field(default=0.5, ge=0, le=1)


class GuardrailsConfig(_Strict):
    cost_spike: CostSpikeConfig = CostSpikeConfig()
    retry_loop: RetryLoopConfig = RetryLoopConfig()
    pacing: PacingConfig = PacingConfig()
    tenant_anomaly: TenantAnomalyConfig = TenantAnomalyConfig()


class WebhookConfig(_Strict):
    url: str = Field(pattern=r"^https?://")
    format: Literal["json", "slack"] = "json"
    timeout_s: float = Field(default=5.0, gt=0)


class AlertsConfig(_Strict):
    cooldown_minutes: int = Field(default=60, ge=0)
    log: bool = True
    ledger: bool = True
    webhooks: tuple[WebhookConfig, ...] = ()


class ControlsConfig(_Strict):
    """Everything in a controls file."""

    budgets: tuple[BudgetConfig, ...] = ()
    model_policies: tuple[ModelPolicyConfig, ...] = ()
    guardrails: GuardrailsConfig = GuardrailsConfig()
    alerts: AlertsConfig = AlertsConfig()

    @model_validator(mode="after")
    def _unique_names(self) -> ControlsConfig:
        for section in ("budgets", "model_policies"):
            names = [b.name for b in getattr(self, section)]
            dupes = sorted({n for n in names if names.count(n) > 1})
            if dupes:
                raise ValueError(f"{section}: names must be unique; repeated: {dupes}")
        return self

    @classmethod
    def load(cls, path: str | Path) -> ControlsConfig:
        """Read and validate a controls file; raises :class:`ControlsConfigError` naming file, line, field."""
        return cls.from_yaml(read_source(path, ControlsConfigError, "controls file"), source=str(path))

    @classmethod
    def from_yaml(cls, text: str, *, source: str = "<controls>") -> ControlsConfig:
        # ExactLoader: a SafeLoader subclass (no arbitrary objects) reading floats as exact decimals
        node, data = parse_mapping(
            text,
            source,
            ControlsConfigError,
            "a controls file is a YAML mapping (budgets:, guardrails:, ...)",
            loader=ExactLoader,
        )
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise ControlsConfigError(
                describe_errors(exc, data, node, source, title="invalid controls file", default="controls")
            ) from exc
