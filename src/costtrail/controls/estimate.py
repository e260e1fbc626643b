"""Estimating a request's cost before it is sent, for the reservation.

The estimate is meant to be an upper bound: input tokens are taken as the
request body's UTF-8 bytes divided by 3 (real tokenizers average 3.5-4.5 bytes
per token on text and JSON), output as the request's ``max_tokens`` (or
``default_max_output`` when the caller set none), at the model's per-token
price for a million-token request (its highest context tier). A call can only
cost more than its estimate when it has no output cap and writes more than
``default_max_output`` tokens, or its input tokenizes at under 3 bytes a token.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from costtrail.controls.policy import MTOK, UnitPrices

BYTES_PER_TOKEN = 3
DEFAULT_MAX_OUTPUT = 4096
_OUTPUT_CAPS = ("max_tokens", "max_completion_tokens", "max_output_tokens")


@dataclass(frozen=True)
class Estimate:
    """Estimated tokens and cost (``cost_usd`` is ``None`` for a model with no known price)."""

    input_tokens: int
    output_tokens: int
    cost_usd: Decimal | None

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens


class CostEstimator:
    """Upper-bound cost of a request from its size and output cap.

    >>> est = CostEstimator().estimate("openai", "gpt-4o-mini", body_bytes=3000, max_output_tokens=1000)
    >>> est.input_tokens, est.output_tokens
    (1000, 1000)
    """

    def __init__(
        self, prices: UnitPrices | None = None, *, default_max_output: int = DEFAULT_MAX_OUTPUT
    ) -> None:
        self.prices = prices or UnitPrices()
        self.default_max_output = default_max_output

    def estimate(
        self,
        provider: str | None,
        model: str | None,
        *,
        body_bytes: int,
        max_output_tokens: int | None = None,
        at: datetime | None = None,
    ) -> Estimate:
        from costtrail.controls.periods import utc_now

        input_tokens = math.ceil(max(body_bytes, 0) / BYTES_PER_TOKEN)
        output_tokens = max_output_tokens if max_output_tokens is not None else self.default_max_output
        if not model:
            return Estimate(input_tokens, output_tokens, None)
        inp, out = self.prices.per_mtok(provider, model, at or utc_now())
        if inp is None or out is None:
            return Estimate(input_tokens, output_tokens, None)
        cost = (inp * input_tokens + out * output_tokens) / MTOK
        return Estimate(input_tokens, output_tokens, cost)

    def estimate_body(
        self, provider: str | None, body: Mapping[str, Any], *, body_bytes: int, at: datetime | None = None
    ) -> Estimate:
        """Estimate from a parsed OpenAI/Anthropic request body (its model and output cap)."""
        cap = next((body[k] for k in _OUTPUT_CAPS if isinstance(body.get(k), int)), None)
        model = body.get("model") if isinstance(body.get("model"), str) else None
        return self.estimate(provider, model, body_bytes=body_bytes, max_output_tokens=cap, at=at)
