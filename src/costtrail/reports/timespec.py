"""Time bounds as people type them: ``2026-03-01``, ``2026-03-01T12:00``, ``7d``, ``12h``, ``2w``."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from costtrail.reports.dimensions import ReportError
from costtrail.schema.bounds import EARLIEST, LATEST

_RELATIVE = re.compile(r"^(\d+)\s*([mhdw])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def days_back(days: int, anchor: datetime) -> datetime:
    """The start of "the last ``days`` days" as every view means it (the CLI's ``--since 30d``, the
    dashboard's ``30d``): midnight UTC ``days`` days before ``anchor``'s day, so the window holds
    ``anchor``'s own day and the ``days`` whole days before it.

    >>> days_back(30, datetime(2026, 12, 3, 9, 30, tzinfo=UTC)).isoformat()
    '2026-11-03T00:00:00+00:00'
    """
    midnight = anchor.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return midnight - timedelta(days=days)


def parse_time(text: str, *, now: datetime | None = None) -> datetime:
    """An absolute UTC time from an ISO date/datetime or a span back from ``now``: ``12h`` is 12 hours
    ago; ``7d`` and ``2w`` count whole days (:func:`days_back`), as the dashboard's ranges do.

    >>> parse_time("7d", now=datetime(2026, 3, 8, tzinfo=UTC)).isoformat()
    '2026-03-01T00:00:00+00:00'
    >>> parse_time("2026-03-01").isoformat()
    '2026-03-01T00:00:00+00:00'

    Times outside the ledger's range (1970 to 2999 UTC) are brought to its edge: no event lies
    beyond it, and a bound there would overflow the date arithmetic of the queries.

    >>> parse_time("99999999999d", now=datetime(2026, 3, 8, tzinfo=UTC)).isoformat()
    '1970-01-01T00:00:00+00:00'
    """
    text = text.strip()
    match = _RELATIVE.match(text.lower())
    if match:
        try:
            unit, count = match.group(2), int(match.group(1))
            if unit in ("d", "w"):
                return _in_ledger_range(
                    days_back(count * (7 if unit == "w" else 1), now or datetime.now(UTC))
                )
            span = timedelta(**{_UNITS[unit]: count})
            return _in_ledger_range((now or datetime.now(UTC)) - span)
        except OverflowError:  # further back than any date: the start of the ledger
            return EARLIEST
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ReportError(
            f"cannot read the time {text!r}: use an ISO date (2026-03-01), a datetime "
            "(2026-03-01T12:00Z) or a span back from now (30m, 12h, 7d, 2w)"
        ) from None
    if value.tzinfo is None:
        return _in_ledger_range(value.replace(tzinfo=UTC))
    try:
        return _in_ledger_range(value.astimezone(UTC))
    except OverflowError:  # an offset time near year 1 or 9999
        return EARLIEST if value.year < 2000 else LATEST


def _in_ledger_range(value: datetime) -> datetime:
    return min(max(value, EARLIEST), LATEST)
