"""Turning validation failures into messages that name the field and the fix."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Problem:
    """Why one input record was rejected."""

    index: int
    field: str
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"index": self.index, "field": self.field, "reason": self.reason}


def problems_from(error: ValidationError, index: int) -> list[Problem]:
    out: list[Problem] = []
    for item in error.errors(include_url=False):
        loc = ".".join(str(p) for p in item.get("loc", ())) or "(record)"
        msg = str(item.get("msg", "invalid"))
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, ") :]
        if item.get("type") == "extra_forbidden":
            msg = "unknown field"
        out.append(Problem(index=index, field=loc, reason=msg))
    return out


def validate_many(model: type[M], records: list[Any]) -> tuple[list[M], list[Problem]]:
    """Validate each record on its own: good ones are kept, bad ones are explained."""
    good: list[M] = []
    bad: list[Problem] = []
    for i, raw in enumerate(records):
        try:
            good.append(model.model_validate(raw))
        except ValidationError as exc:
            bad.extend(problems_from(exc, i))
        except (TypeError, ValueError) as exc:
            bad.append(Problem(index=i, field="(record)", reason=str(exc)))
    return good, bad
