"""From a set of per-unit prices to one effective price per event usage field.

genai-prices prices *leaf* usage: a priced unit is charged for its own count
minus the counts of the more specific priced units inside it (``input_tokens``
minus ``cache_read_tokens`` minus ``input_audio_tokens`` ...). That
subtraction is linear, so for a fixed set of prices the whole calculation
collapses to ``cost = sum(event_field * effective_price)``: one multiply-add
per event field. This module does that collapse once per resolved price (the
same algebra as ``genai_prices.decompose.compute_leaf_values``, run on symbols
instead of numbers) and records the conditions under which genai-prices would
reject the usage, so the bulk path can flag those rows the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from genai_prices.data_units import unit_data
from genai_prices.units import UnitDef, UnitRegistry

from costtrail.schema.events import TOOL_FEE_FIELDS

# Event field -> genai-prices usage key. The event's conventions are genai-prices' own:
# input_tokens includes cache reads/writes and input audio; output_tokens includes
# reasoning and output audio.
EVENT_USAGE_KEYS: dict[str, str] = {
    "input_tokens": "input_tokens",
    "output_tokens": "output_tokens",
    "cache_read_tokens": "cache_read_tokens",
    "cache_write_tokens": "cache_write_tokens",
    "input_audio_tokens": "input_audio_tokens",
    "output_audio_tokens": "output_audio_tokens",
    "reasoning_tokens": "output_reasoning_tokens",
    "cache_write_1h_tokens": "cache_write_1h_tokens",
}

# Tool fees: event field -> genai-prices usage key, each priced per use (``web_searches_kcount``...).
FEE_USAGE_KEYS: dict[str, str] = {
    "web_searches": "web_searches",
    "file_searches": "storage_searches",
    "code_executions": "code_executions",
}

# The columns of an effective-price vector: the event's usage fields, then the
# request count (per-request fees, ``requests_kcount``), the query count
# (retrieval rate cards) and the tool uses billed per use.
# The schema's TOKEN_FIELDS in the order of a vector's columns, which the decomposition of
# counts inside others (cache writes, audio, reasoning) depends on: not the schema's order.
VECTOR_TOKEN_FIELDS: tuple[str, ...] = tuple(EVENT_USAGE_KEYS)
FEE_FIELDS: tuple[str, ...] = TOOL_FEE_FIELDS
RATE_FIELDS: tuple[str, ...] = (*VECTOR_TOKEN_FIELDS, "request_count", "queries", *FEE_FIELDS)
REQUESTS = RATE_FIELDS.index("request_count")
QUERIES = RATE_FIELDS.index("queries")
FEE_INDEX: dict[str, int] = {FEE_USAGE_KEYS[f]: RATE_FIELDS.index(f) for f in FEE_FIELDS}
_FIELD_INDEX = {EVENT_USAGE_KEYS[f]: i for i, f in enumerate(VECTOR_TOKEN_FIELDS)}


def unit_registry() -> UnitRegistry:
    """genai-prices' unit registry, built from its bundled unit table."""
    return UnitRegistry(unit_data)


@dataclass(frozen=True)
class Check:
    """A condition that makes genai-prices reject a usage.

    ``kind == "negative"``: the linear form ``coefs . fields`` is below zero (a
    more specific count exceeds the count that should contain it).
    ``kind == "ambiguous"``: every field in ``coefs`` (non-zero entries) is positive,
    which genai-prices cannot split without a count the event does not carry.
    ``kind == "unpriced"``: as ``ambiguous``, for a count nothing prices (a tool fee).
    """

    kind: str
    coefs: tuple[int, ...]
    message: str

    def violated(self, values: tuple[int, ...]) -> bool:
        if self.kind == "negative":
            return sum(c * v for c, v in zip(self.coefs, values, strict=False)) < 0
        return all(v > 0 for c, v in zip(self.coefs, values, strict=False) if c)


@dataclass(frozen=True)
class Collapsed:
    """Effective prices (USD per unit of each RATE_FIELDS entry) and the rejection checks."""

    prices: tuple[Decimal, ...]
    checks: tuple[Check, ...]
    carried: bool  # False when every priced unit is one the event cannot carry (e.g. audio hours)


def _zero() -> list[int]:
    return [0] * len(VECTOR_TOKEN_FIELDS)


def _is_within(ancestor: UnitDef, unit: UnitDef) -> bool:
    return ancestor.dimensions.items() <= unit.dimensions.items()


def _missing_value_checks(unit: UnitDef, registry: UnitRegistry) -> list[Check]:
    """When genai-prices would refuse to assume 0 for a priced unit the event does not report."""
    reported = [registry.units[key] for key in _FIELD_INDEX]
    checks = []
    for r in reported:
        if r is not unit and _is_within(unit, r):
            coefs = _zero()
            coefs[_FIELD_INDEX[r.usage_key]] = 1
            message = f"{r.usage_key} needs an explicit {unit.usage_key}"
            checks.append(Check("ambiguous", tuple(coefs), message))
    ordered = sorted(reported, key=lambda u: u.usage_key)
    for i, left in enumerate(ordered):
        for right in ordered[i + 1 :]:
            if not left.is_compatible_with(right) or _is_within(left, right) or _is_within(right, left):
                continue
            if dict(unit.dimensions) == {**left.dimensions, **right.dimensions}:
                coefs = _zero()
                coefs[_FIELD_INDEX[left.usage_key]] = 1
                coefs[_FIELD_INDEX[right.usage_key]] = 1
                message = (
                    f"{left.usage_key} and {right.usage_key} overlap: the model prices "
                    f"{unit.usage_key} separately and the event does not say how many there were"
                )
                checks.append(Check("ambiguous", tuple(coefs), message))
    return checks


def collapse(unit_prices: Mapping[str, Decimal], registry: UnitRegistry) -> Collapsed:
    """Collapse per-unit prices (usage key -> USD per ``unit.per``) into effective prices.

    ``requests`` is charged once per request and a tool fee once per use; every
    other unit is decomposed into leaves exactly as genai-prices does.
    """
    units = sorted(
        (registry.units[k] for k in unit_prices if k != "requests" and k not in FEE_INDEX),
        key=lambda u: (-len(u.dimensions), u.usage_key),
    )
    leaves: dict[str, list[int]] = {}
    checks: list[Check] = []
    for unit in units:
        if unit.usage_key in _FIELD_INDEX:
            leaf = _zero()
            leaf[_FIELD_INDEX[unit.usage_key]] = 1
        else:
            leaf = _zero()
            checks.extend(_missing_value_checks(unit, registry))
        for other in units:
            if other is not unit and _is_within(unit, other):
                leaf = [a - b for a, b in zip(leaf, leaves[other.usage_key], strict=True)]
        leaves[unit.usage_key] = leaf
        if any(c < 0 for c in leaf):
            checks.append(Check("negative", tuple(leaf), _negative_message(unit, leaf)))
    prices = [Decimal(0)] * len(RATE_FIELDS)
    for unit in units:
        per_unit = unit_prices[unit.usage_key] / unit.per
        for i, c in enumerate(leaves[unit.usage_key]):
            if c:
                prices[i] += c * per_unit
    if "requests" in unit_prices:
        prices[REQUESTS] += unit_prices["requests"] / registry.units["requests"].per
    for key, index in FEE_INDEX.items():
        if key in unit_prices:
            prices[index] += unit_prices[key] / registry.units[key].per
    carried = (
        not unit_prices
        or "requests" in unit_prices
        or any(k in FEE_INDEX for k in unit_prices)
        or any(u.usage_key in _FIELD_INDEX for u in units)
    )
    return Collapsed(tuple(prices), tuple(_dedupe(checks)), carried)


def _negative_message(unit: UnitDef, leaf: list[int]) -> str:
    parts = [VECTOR_TOKEN_FIELDS[i] for i, c in enumerate(leaf) if c < 0]
    own = [VECTOR_TOKEN_FIELDS[i] for i, c in enumerate(leaf) if c > 0]
    container = own[0] if own else unit.usage_key
    return f"{' + '.join(parts)} exceed {container} (counts inside it must not be larger than it)"


def _dedupe(checks: list[Check]) -> list[Check]:
    seen: set[tuple[str, tuple[int, ...]]] = set()
    out = []
    for c in checks:
        if (c.kind, c.coefs) not in seen:
            seen.add((c.kind, c.coefs))
            out.append(c)
    return out
