"""Reading a usage block, with genai-prices' own extractor mappings compiled into plain dict lookups.

genai-prices (0.2.3) ships, per provider and API flavor, the paths of each
usage count (``extract_usage``). Those mappings are the data this module
reads; the generic ``extract_usage`` call itself costs ~165-220 us a body
(path validation, warnings, a model lookup), so each extractor's mappings are
compiled once into tuples of keys and walked with ``dict.get`` (~2 us).
A ``null`` count (``"prompt_tokens_details": null``) counts as 0.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from genai_prices import data_snapshot
from genai_prices.types import ArrayMatch, ClauseEquals

# genai-prices usage key -> Reading field.
_FIELDS: dict[str, str] = {
    "input_tokens": "input_tokens",
    "output_tokens": "output_tokens",
    "cache_read_tokens": "cache_read_tokens",
    "cache_write_tokens": "cache_write_tokens",
    "cache_write_1h_tokens": "cache_write_1h_tokens",
    "output_reasoning_tokens": "reasoning_tokens",
    "input_audio_tokens": "input_audio_tokens",
    "output_audio_tokens": "output_audio_tokens",
    "input_image_tokens": "input_image_tokens",
    "output_image_tokens": "output_image_tokens",
    "web_searches": "web_searches",  # Anthropic usage.server_tool_use.web_search_requests
}


# The :class:`~costtrail.wire.reading.Reading` fields a usage block fills.
USAGE_FIELDS: tuple[str, ...] = tuple(dict.fromkeys(_FIELDS.values()))


Step = str | tuple[str, str, Any]  # a key, or (list field, match field, equals) for an array match


@dataclass(frozen=True)
class _Mapping:
    path: tuple[Step, ...]
    field: str
    required: bool


@dataclass(frozen=True)
class UsageMap:
    """One provider flavor's usage paths (from genai-prices), read with plain lookups."""

    provider: str
    flavor: str
    root: tuple[str, ...]
    mappings: tuple[_Mapping, ...]

    def block(self, body: Any) -> Any:
        """The usage block at the extractor's root, or ``None``."""
        for key in self.root:
            body = body.get(key) if isinstance(body, Mapping) else None
        return body if isinstance(body, Mapping) else None

    def read(self, usage: Any) -> dict[str, int] | None:
        """Reading fields of a usage block; ``None`` when a required count is missing."""
        if not isinstance(usage, Mapping):
            return None
        out: dict[str, int] = {}
        index: dict[tuple[int, str], dict[Any, Any]] = {}  # array-match lists indexed once per read
        for m in self.mappings:
            path = m.path
            head = path[0]
            if len(path) == 1 and isinstance(head, str):  # most counts: one key, read inline
                raw = usage.get(head)
                value = (
                    (int(raw) if raw > 0 else 0)
                    if isinstance(raw, int | float) and type(raw) is not bool
                    else None
                )
            elif (head if isinstance(head, str) else head[0]) not in usage:
                value = None
            else:
                value = _walk(usage, path, index)
            if value is None:
                if m.required:
                    return None
                continue
            out[m.field] = out.get(m.field, 0) + value
        return out


def _walk(data: Any, path: tuple[Step, ...], index: dict[tuple[int, str], dict[Any, Any]]) -> int | None:
    for step in path:
        if isinstance(step, str):
            data = data.get(step) if isinstance(data, Mapping) else None
        else:
            items, key, equals = step
            found = data.get(items) if isinstance(data, Mapping) else None
            if not isinstance(found, list):
                return None
            table = index.get((id(found), key))
            if table is None:  # one pass over the list serves every modality looked up in it
                table = index[(id(found), key)] = {
                    i.get(key): i for i in reversed(found) if isinstance(i, Mapping) and _plain(i.get(key))
                }
            data = table.get(equals)
        if data is None:
            return None
    if isinstance(data, bool) or not isinstance(data, int | float):
        return None
    return int(data) if data > 0 else 0


def _plain(value: Any) -> bool:
    return isinstance(value, str | int)


@functools.cache
def usage_map(provider: str, flavor: str) -> UsageMap:
    """The compiled extractor of genai-prices' ``provider`` and ``api_flavor`` (cached)."""
    snapshot = data_snapshot.get_snapshot()
    found = next((p for p in snapshot.providers if p.id == provider), None)
    extractor = next((e for e in (found.extractors or ()) if e.api_flavor == flavor), None) if found else None
    if extractor is None:
        raise ValueError(f"genai-prices has no usage extractor for {provider} {flavor}")
    root = (extractor.root,) if isinstance(extractor.root, str) else tuple(str(r) for r in extractor.root)
    mappings = []
    for m in extractor.mappings:
        if m.dest not in _FIELDS:
            continue
        raw = (m.path,) if isinstance(m.path, str) else tuple(m.path)
        mappings.append(_Mapping(_compile(raw), _FIELDS[m.dest], m.required))
    return UsageMap(provider, flavor, root, tuple(mappings))


def _compile(raw: tuple[Any, ...]) -> tuple[Step, ...]:
    """Keys stay keys; ``[list_key, ArrayMatch(field, equals)]`` becomes one (list_key, field, equals)."""
    out: list[Step] = []
    for item in raw:
        if isinstance(item, ArrayMatch) and isinstance(item.match, ClauseEquals) and out:
            previous = out.pop()
            if not isinstance(previous, str):
                raise ValueError(f"genai-prices extractor path {raw!r} is not supported")
            out.append((previous, item.field, item.match.equals))
        elif isinstance(item, str):
            out.append(item)
        else:
            raise ValueError(f"genai-prices extractor path {raw!r} is not supported")
    return tuple(out)
