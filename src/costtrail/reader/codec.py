"""JSON that keeps exact types: ``Decimal``, ``datetime`` and ``date`` come back as they went.

Both readers pass every answer through it, so an answer read here and one read through a
collector are the same Python values.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from typing import Any

_TAG = "$costtrail"


def _tagged(value: Any) -> Any:
    if isinstance(value, Decimal):
        return {_TAG: "decimal", "v": str(value)}
    if isinstance(value, datetime):
        return {_TAG: "datetime", "v": value.isoformat()}
    if isinstance(value, date):
        return {_TAG: "date", "v": value.isoformat()}
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, tuple | set | frozenset):
        return list(value)
    raise TypeError(f"a read answer holds a {type(value).__name__}, which has no JSON form")


def _untagged(obj: dict[str, Any]) -> Any:
    kind = obj.get(_TAG)
    if kind == "decimal":
        return Decimal(obj["v"])
    if kind == "datetime":
        return datetime.fromisoformat(obj["v"])
    if kind == "date":
        return date.fromisoformat(obj["v"])
    return obj


def dumps(value: Any) -> str:
    return json.dumps(value, default=_tagged)


def loads(text: str | bytes) -> Any:
    return json.loads(text, object_hook=_untagged)
