"""Budget periods in UTC: calendar day, ISO week (Monday), calendar month, or a rolling window."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The default clock; tests and the demo inject their own."""
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """Naive datetimes are UTC (as the ledger stores them)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def period_bounds(period: str, at: datetime) -> tuple[datetime, datetime]:
    """The calendar period containing ``at``: ``[start, end)`` in UTC.

    >>> period_bounds("month", datetime(2026, 2, 14, 9, tzinfo=UTC))[1]
    datetime.datetime(2026, 3, 1, 0, 0, tzinfo=datetime.timezone.utc)
    """
    at = as_utc(at)
    day = at.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "day":
        return day, day + timedelta(days=1)
    if period == "week":
        start = day - timedelta(days=day.weekday())
        return start, start + timedelta(days=7)
    if period == "month":
        start = day.replace(day=1)
        end = (
            start.replace(year=start.year + 1, month=1)
            if start.month == 12
            else start.replace(month=start.month + 1)
        )
        return start, end
    raise ValueError(f"not a calendar period: {period!r} (day, week or month)")
