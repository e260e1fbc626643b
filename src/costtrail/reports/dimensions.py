"""Report dimensions: what a report can group and filter by.

Every business and workflow field of the event envelope is a dimension under
its own name, plus computed ones: ``day`` (UTC date of ``started_at``),
``payload_band`` and ``input_band`` (configurable :class:`Bands`), ``kind``,
``status``, ``error_type``, and ``attributes.<key>`` for any free-form
attribute. Short names are accepted: ``customer``, ``tenant``, ``tool``,
``payload-band``.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Literal

from costtrail.ledger.store import Dialect
from costtrail.schema import DIMENSIONS


class ReportError(ValueError):
    """A report was asked for something that does not exist; the message names it and the choices."""


@dataclass(frozen=True)
class Dimension:
    """A group-by/filter expression; ``sort_sql`` (an aggregate) orders groups when set."""

    name: str
    sql: str
    sort_sql: str | None = None


BandMeasure = Literal["payload_bytes", "input_tokens"]


@dataclass(frozen=True)
class Bands:
    """Size bands of ``payload_bytes`` or ``input_tokens``: ``edges`` are the lower bounds of bands 2..n.

    >>> Bands().labels()
    ['<1KB', '1KB-10KB', '10KB-100KB', '100KB-1MB', '>=1MB']
    >>> Bands("input_tokens", (1000, 10000)).labels()
    ['<1k', '1k-10k', '>=10k']
    """

    measure: BandMeasure = "payload_bytes"
    edges: tuple[int, ...] = (1_024, 10_240, 102_400, 1_048_576)

    def __post_init__(self) -> None:
        if not self.edges or list(self.edges) != sorted(set(self.edges)) or self.edges[0] <= 0:
            raise ReportError(f"band edges must be increasing positive numbers, got {list(self.edges)}")
        if self.measure not in ("payload_bytes", "input_tokens"):
            raise ReportError(f"bands measure payload_bytes or input_tokens, not {self.measure!r}")

    def _size(self, n: int) -> str:
        steps = (
            ((1 << 30, "GB"), (1 << 20, "MB"), (1 << 10, "KB"))
            if self.measure == "payload_bytes"
            else ((10**9, "G"), (10**6, "M"), (10**3, "k"))
        )
        for size, suffix in steps:
            if n >= size and n % size == 0:
                return f"{n // size}{suffix}"
        return f"{n}B" if self.measure == "payload_bytes" else str(n)

    def labels(self) -> list[str]:
        sizes = [self._size(e) for e in self.edges]
        middle = [f"{lo}-{hi}" for lo, hi in itertools.pairwise(sizes)]
        return [f"<{sizes[0]}", *middle, f">={sizes[-1]}"]

    def sql(self) -> str:
        labels = self.labels()
        whens = " ".join(
            f"WHEN {self.measure} < {edge} THEN '{label}'"
            for edge, label in zip(self.edges, labels, strict=False)
        )
        return f"CASE {whens} ELSE '{labels[-1]}' END"


DIMENSION_ALIASES: dict[str, str] = {
    "customer": "customer_id",
    "tenant": "tenant_id",
    "tool": "tool_name",
    "payload-band": "payload_band",
    "input-band": "input_band",
    "user": "user_id",
}

_PLAIN = (*DIMENSIONS, "kind", "status", "error_type")
_COMPUTED = ("day", "payload_band", "input_band")
ATTRIBUTE_PREFIX = "attributes."


def dimension_names() -> list[str]:
    """Every dimension name a report accepts (besides ``attributes.<key>``)."""
    return [*_PLAIN, *_COMPUTED]


TAG_PREFIX = "tag."


def canonical_dimension(name: str) -> str:
    """The canonical name of a dimension (``customer`` -> ``customer_id``; a gateway tag
    ``tag.release`` -> ``attributes.tag.release``, the attribute the gateway stores it as)."""
    if name.startswith(TAG_PREFIX) and len(name) > len(TAG_PREFIX):
        return ATTRIBUTE_PREFIX + name
    return DIMENSION_ALIASES.get(name, name)


def resolve_dimension(
    name: str, dialect: Dialect, payload_bands: Bands | None = None, input_bands: Bands | None = None
) -> Dimension:
    """The SQL of one dimension for a store's dialect."""
    canonical = canonical_dimension(name)
    if canonical in _PLAIN:
        return Dimension(canonical, canonical)
    if canonical == "day":
        return Dimension("day", dialect.day("started_at"))
    if canonical == "payload_band":
        bands = payload_bands or Bands("payload_bytes")
        return Dimension("payload_band", bands.sql(), f"min({bands.measure})")
    if canonical == "input_band":
        bands = input_bands or Bands("input_tokens", (1_000, 4_000, 16_000, 64_000))
        return Dimension("input_band", bands.sql(), f"min({bands.measure})")
    if canonical.startswith(ATTRIBUTE_PREFIX) and len(canonical) > len(ATTRIBUTE_PREFIX):
        key = canonical[len(ATTRIBUTE_PREFIX) :]
        if not key.replace("_", "").replace("-", "").replace(".", "").isalnum() or "" in key.split("."):
            raise ReportError(
                f"attribute keys in reports use letters, digits, '_', '-' or '.' between names: {key!r}"
            )
        # attributes are a flat map: a key with dots (tag.release) is one key, quoted in the JSON path
        return Dimension(canonical, dialect.json_value("attributes", f'"{key}"'))
    raise ReportError(
        f"unknown dimension {name!r}: choose one of {', '.join(dimension_names())}, attributes.<key> "
        "or tag.<name> (a gateway tag)"
    )
