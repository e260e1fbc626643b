"""An estimated cost before a call is sent: what the budget check reserves.

Input tokens are estimated from the request's text (about four characters a
token, the usual rule for English with OpenAI and Anthropic tokenizers); output
tokens are the request's own cap (``max_tokens``, ``max_completion_tokens`` or
``max_output_tokens``), else :data:`DEFAULT_OUTPUT_TOKENS`. The estimate errs
high on output, on purpose: a budget should stop a call that could overrun it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from costtrail.pricing import Pricer
from costtrail.schema import Event

DEFAULT_OUTPUT_TOKENS = 1024
_TEXT_FIELDS = ("messages", "input", "prompt", "system", "instructions", "tools")
_OUTPUT_CAPS = ("max_completion_tokens", "max_output_tokens", "max_tokens")


def _chars(value: Any) -> int:
    if isinstance(value, str):
        return len(value)
    if isinstance(value, list):
        return sum(_chars(v) for v in value)
    if isinstance(value, dict):
        return sum(_chars(v) for k, v in value.items() if k not in ("type", "role"))
    return 0


def estimate_tokens(body: Mapping[str, Any], *, embedding: bool = False) -> tuple[int, int]:
    """(input, output) tokens a request may use."""
    input_tokens = max(1, math.ceil(sum(_chars(body.get(f)) for f in _TEXT_FIELDS) / 4))
    if embedding:
        return input_tokens, 0
    for cap in _OUTPUT_CAPS:
        value = body.get(cap)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return input_tokens, value
    return input_tokens, DEFAULT_OUTPUT_TOKENS


def estimate_cost(
    pricer: Pricer, provider: str, body: Mapping[str, Any], *, embedding: bool = False
) -> Decimal:
    """The estimated cost of a request; zero when its model has no price (the gate then sees $0)."""
    model = body.get("model")
    if not isinstance(model, str) or not model:
        return Decimal(0)
    input_tokens, output_tokens = estimate_tokens(body, embedding=embedding)
    event = Event(
        kind="embedding" if embedding else "llm",
        provider=provider,
        model=model,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
    )
    price = pricer.price(event)
    return price.cost_usd if price.cost_usd is not None else Decimal(0)
