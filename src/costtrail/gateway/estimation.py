"""An estimated cost before a call is sent: what the budget check reserves.

Input tokens are estimated from the request's text (about four characters a
token, the usual rule for English with OpenAI and Anthropic tokenizers). Output
tokens are the request's own cap (``max_tokens``, ``max_completion_tokens`` or
``max_output_tokens``); for an uncapped call, the most the model can write: the
rate card's ``max_output_tokens`` for it, else its context window in
genai-prices less the input, else the gateway's configured default
(:data:`DEFAULT_OUTPUT_TOKENS`). Tool fees the request foresees (a web search or file
search tool: :func:`costtrail.wire.request_tool_uses`) are added at the fee's price, when the
model's prices or the rate card have one. The estimate errs high on output, on purpose:
a budget should stop a call that could overrun it (docs/controls.md).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from costtrail.pricing import Pricer
from costtrail.schema import Event
from costtrail.wire import request_input_tokens, request_tool_uses

DEFAULT_OUTPUT_TOKENS = 4096
_OUTPUT_CAPS = ("max_completion_tokens", "max_output_tokens", "max_tokens")
_MAX_CAP = 10**12  # no call writes more (recording.MAX_CALL_TOKENS); keeps the estimate storable


def output_limit(pricer: Pricer, provider: str, model: str, input_tokens: int) -> int | None:
    """The most output tokens ``model`` can write after ``input_tokens``, when known."""
    card_limit, window = _model_limits(pricer, provider, model)
    if card_limit is not None:
        return card_limit
    return None if window is None else max(1, window - input_tokens)


@functools.lru_cache(maxsize=4096)
def _model_limits(pricer: Pricer, provider: str, model: str) -> tuple[int | None, int | None]:
    """(the rate card's max_output_tokens, genai-prices' context window) of a model (cached)."""
    card = pricer.rate_card
    for entry in card.models if card else ():
        if entry.max_output_tokens is not None and entry.selects(provider, model, None):
            return entry.max_output_tokens, None
    try:
        _, info = pricer.resolver.snapshot.find_provider_model(model, None, provider, None)
    except LookupError:
        return None, None
    return None, info.context_window


def estimate_tokens(
    body: Mapping[str, Any],
    *,
    embedding: bool = False,
    limit: Callable[[int], int | None] = lambda _: None,
    default_output_tokens: int = DEFAULT_OUTPUT_TOKENS,
) -> tuple[int, int]:
    """(input, output) tokens a request may use; ``limit(input)`` is the model's output limit."""
    input_tokens = request_input_tokens(body)
    if embedding:
        return input_tokens, 0
    known = limit(input_tokens)
    for cap in _OUTPUT_CAPS:
        value = body.get(cap)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            # A cap past the model's limit (or past any call's) bounds nothing the model can write.
            return input_tokens, min(value, known if known is not None else _MAX_CAP)
    return input_tokens, known if known is not None else default_output_tokens


def estimate_cost(
    pricer: Pricer,
    provider: str,
    body: Mapping[str, Any],
    *,
    embedding: bool = False,
    default_output_tokens: int = DEFAULT_OUTPUT_TOKENS,
) -> Decimal:
    """The estimated cost of a request; zero when its model has no price (see :func:`estimate_price`)."""
    cost = estimate_price(
        pricer, provider, body, embedding=embedding, default_output_tokens=default_output_tokens
    )
    return Decimal(0) if cost is None else cost


def estimate_price(
    pricer: Pricer,
    provider: str,
    body: Mapping[str, Any],
    *,
    embedding: bool = False,
    default_output_tokens: int = DEFAULT_OUTPUT_TOKENS,
) -> Decimal | None:
    """The estimated cost of a request; ``None`` when its model has no price (a USD budget denies it)."""
    model = body.get("model")
    if not isinstance(model, str) or not model:
        return None
    input_tokens, output_tokens = estimate_tokens(
        body,
        embedding=embedding,
        limit=lambda n: output_limit(pricer, provider, model, n),
        default_output_tokens=default_output_tokens,
    )
    event = Event(
        kind="embedding" if embedding else "llm",
        provider=provider,
        model=model,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
    )
    tools = {} if embedding else request_tool_uses(body)
    if tools:  # the tool fees the request foresees, priced as the call's event will be
        with_fees = pricer.price(event.model_copy(update=tools)).cost_usd
        if with_fees is not None:
            return with_fees
    return pricer.price(event).cost_usd
