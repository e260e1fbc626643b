"""Time bounds as people type them: ``2026-03-01``, ``2026-03-01T12:00``, ``7d``, ``12h``, ``2w``."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from costtrail.reports.dimensions import ReportError
from costtrail.schema.bounds import EARLIEST, LATEST

_RELATIVE = re.compile(r"^(\d+)\s*([mhdw])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_time(text: str, *, now: datetime | None = None) -> datetime:
    """An absolute UTC time from an ISO date/datetime or a span back from ``now`` (``7d`` = 7 days ago).

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
            span = timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
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
