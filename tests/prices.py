"""Expected costs, from genai-prices itself: never from the code under test."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from genai_prices import Usage, calc_price

# An event's usage column -> genai-prices' Usage field, where the names differ.
_NAMES = {"reasoning_tokens": "output_reasoning_tokens"}
_COLUMNS = (
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "input_audio_tokens",
    "output_audio_tokens",
)


def genai_price(provider: str, model: str, **usage: int) -> Decimal:
    """What genai-prices says the usage costs today; usage named as on an event.

    As on an event, ``input_tokens`` counts cache reads and writes too.
    """
    tokens = Usage(**{_NAMES.get(name, name): n for name, n in usage.items() if n})  # type: ignore[arg-type]
    return calc_price(tokens, model, provider_id=provider).total_price


def row_price(row: dict[str, Any]) -> Decimal:
    """genai-prices' cost of a stored event row's own provider, model and token counts."""
    usage = {c: int(row[c]) for c in _COLUMNS if row.get(c)}
    return genai_price(str(row["provider"]), str(row["model"]), **usage)
