"""A billing period: a month (``2026-10``) or an explicit day range (``2026-10-01..2026-10-15``)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_RANGE = re.compile(r"^(\d{4}-\d{2}-\d{2})\.\.(\d{4}-\d{2}-\d{2})$")


class PeriodError(ValueError):
    """A period string that is neither ``YYYY-MM`` nor ``YYYY-MM-DD..YYYY-MM-DD``."""


@dataclass(frozen=True)
class Period:
    """A half-open UTC interval ``[start, end)`` with the label it was parsed from.

    >>> p = Period.parse("2026-10")
    >>> (p.start.isoformat(), p.end.isoformat(), p.days)
    ('2026-10-01T00:00:00+00:00', '2026-11-01T00:00:00+00:00', 31)
    """

    label: str
    start: datetime
    end: datetime

    @classmethod
    def parse(cls, text: str) -> Period:
        text = text.strip()
        month = _MONTH.match(text)
        if month:
            year, mon = int(month.group(1)), int(month.group(2))
            if not 1 <= mon <= 12:
                raise PeriodError(f"period {text!r}: month must be 01..12")
            start = datetime(year, mon, 1, tzinfo=UTC)
            end = datetime(year + (mon == 12), 1 if mon == 12 else mon + 1, 1, tzinfo=UTC)
            return cls(text, start, end)
        days = _RANGE.match(text)
        if days:
            try:
                first, last = date.fromisoformat(days.group(1)), date.fromisoformat(days.group(2))
            except ValueError as exc:
                raise PeriodError(f"period {text!r}: {exc}") from exc
            if last < first:
                raise PeriodError(f"period {text!r}: the last day is before the first")
            start = datetime(first.year, first.month, first.day, tzinfo=UTC)
            return cls(text, start, datetime(last.year, last.month, last.day, tzinfo=UTC) + timedelta(days=1))
        raise PeriodError(
            f"period {text!r} is not understood: "
            "use a month (2026-10) or a day range (2026-10-01..2026-10-15)"
        )

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    def previous(self) -> Period:
        """The period of the same length just before this one (the previous month for a month)."""
        if _MONTH.match(self.label):
            prev_end = self.start
            last = prev_end - timedelta(days=1)
            return Period.parse(f"{last.year:04d}-{last.month:02d}")
        span = self.end - self.start
        start = self.start - span
        last = self.start - timedelta(days=1)
        return Period(f"{start.date().isoformat()}..{last.date().isoformat()}", start, self.start)

    def where(self, column: str, literal: Callable[[Any], str]) -> str:
        """``column >= start AND column < end``, quoted by a store dialect's ``literal``."""
        return f"{column} >= {literal(self.start)} AND {column} < {literal(self.end)}"
