"""How deeply a JSON text nests, measured before anything parses it.

A parser that recurses (the standard library's, pydantic's error messages, a
``repr``) fails with ``RecursionError`` somewhere past a thousand levels, and
that surfaces as a 500. Every door that reads JSON from the network calls
:func:`check_json_depth` first and answers a 4xx naming the body.

The measure runs at C speed (bytes methods and two regular expressions, no
Python loop over the text): escapes and strings are cut out, every byte but a
bracket deleted, then the innermost ``[]``/``{}`` pairs are removed one level
per pass, at most ``limit + 1`` passes.
"""

from __future__ import annotations

import re

MAX_JSON_DEPTH = 64
"""Arrays and objects nested deeper than this are refused (an event needs 3, OTLP JSON about 12)."""

_KEEP_QUOTES = bytes(b for b in range(256) if b not in b'[]{}"')
_STRING = re.compile(rb'"[^"]*"')


class JsonTooDeep(ValueError):
    """A JSON text nests arrays/objects deeper than the limit."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            f"the JSON nests arrays or objects more than {limit} levels deep: flatten it "
            f"(at most {limit} levels are accepted)"
        )
        self.limit = limit


def _brackets(raw: bytes) -> bytes:
    """The text's structural brackets only (those inside strings removed)."""
    if b"\\" in raw:
        # Escapes pair up left to right as a parser reads them: an escaped backslash, then an
        # escaped quote; other escapes (\n, \u...) hold no quote or bracket.
        raw = raw.replace(b"\\\\", b"").replace(b'\\"', b"")
    reduced = raw.translate(None, _KEEP_QUOTES)
    if b'"' in reduced:
        # Adjacent quotes are an empty string or the gap between two strings (with no bracket
        # between them): dropping them keeps every remaining quote's parity.
        reduced = _STRING.sub(b"", reduced.replace(b'""', b""))
    return reduced.replace(b'"', b"")


def json_depth_over(body: bytes | str, limit: int = MAX_JSON_DEPTH) -> bool:
    """True when ``body`` nests more than ``limit`` levels (malformed text is measured as far as it goes).

    >>> json_depth_over(b'{"a": [1, {"b": "[[[["}]}', limit=3)
    False
    >>> json_depth_over(b"[" * 5 + b"]" * 5, limit=4)
    True
    """
    raw = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else body
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return False
    brackets = _brackets(raw)
    if _run_of_openers(brackets, limit + 1):
        return True
    for passes in range(limit + 1):
        if not brackets:
            return False
        before = len(brackets)
        brackets = _without_innermost(brackets)
        if len(brackets) == before:
            # Unbalanced: a parser still descends into the unclosed openers before it fails.
            return _run_of_openers(brackets, limit + 1 - passes)
    return True


def _without_innermost(brackets: bytes) -> bytes:
    """One level fewer: every ``[]`` and ``{}`` present removed (a pair they uncover stays)."""
    return brackets.replace(b"[]", b"|").replace(b"{}", b"|").replace(b"|", b"")


def _run_of_openers(brackets: bytes, n: int) -> bool:
    """True when ``n`` or more opening brackets follow one another (so the depth is at least ``n``)."""
    return re.search(rb"[\[{]{%d}" % max(n, 1), brackets) is not None


def check_json_depth(body: bytes | str, limit: int = MAX_JSON_DEPTH) -> None:
    """Raise :class:`JsonTooDeep` when ``body`` nests more than ``limit`` levels."""
    if json_depth_over(body, limit):
        raise JsonTooDeep(limit)
