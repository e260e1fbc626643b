"""The global filters every page shares, kept in the URL.

Time range (a preset such as ``30d`` counted back from the ledger's latest
event, or explicit ``since``/``until`` days) plus one value per business
dimension. A tenant-scoped viewer's tenant is forced and cannot be changed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from urllib.parse import urlencode

from costtrail.reports.timespec import days_back
from costtrail.schema.bounds import EARLIEST, LATEST

# URL name -> ledger column.
DIMENSIONS: dict[str, str] = {
    "environment": "environment",
    "tenant": "tenant_id",
    "workflow": "workflow",
    "feature": "feature",
    "customer": "customer_id",
    "model": "model",
}
RANGES: dict[str, int | None] = {"7d": 7, "30d": 30, "90d": 90, "all": None}
DEFAULT_RANGE = "30d"


class FilterError(ValueError):
    """A filter in the URL cannot be read; the message names the parameter and the fix."""


def _parse_day(name: str, text: str) -> date:
    try:
        day = date.fromisoformat(text)
    except ValueError as exc:
        raise FilterError(f"{name}={text!r} is not a day: use YYYY-MM-DD") from exc
    if not EARLIEST.date() <= day < LATEST.date():
        raise FilterError(
            f"{name}={text!r} is outside the ledger's range: pick a day from 1970-01-01 to 2999-12-31"
        )
    return day


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


@dataclass(frozen=True)
class Filters:
    """What the reader asked to see. ``since`` inclusive, ``until`` exclusive (UTC)."""

    range: str = DEFAULT_RANGE
    since: datetime | None = None
    until: datetime | None = None
    values: Mapping[str, str] = field(default_factory=dict)  # URL name -> value
    locked: frozenset[str] = frozenset()  # URL names the viewer may not change

    @classmethod
    def from_query(
        cls, query: Mapping[str, str], *, latest: datetime | None, tenant: str | None = None
    ) -> Filters:
        """Read the filters from a URL's query; ``latest`` anchors presets at the newest data."""
        values = {k: query[k].strip() for k in DIMENSIONS if query.get(k, "").strip()}
        locked: frozenset[str] = frozenset()
        if tenant is not None:
            values["tenant"] = tenant
            locked = frozenset({"tenant"})
        since_text, until_text = query.get("since", "").strip(), query.get("until", "").strip()
        if since_text or until_text:
            since = _midnight(_parse_day("since", since_text)) if since_text else None
            until = _midnight(_parse_day("until", until_text)) + timedelta(days=1) if until_text else None
            if since and until and until <= since:
                raise FilterError("until is before since: pick an end day on or after the start day")
            return cls("custom", since, until, values, locked)
        preset = query.get("range", "").strip() or DEFAULT_RANGE
        if preset not in RANGES:
            raise FilterError(f"range={preset!r} is not one of {', '.join(RANGES)}")
        days = RANGES[preset]
        if days is None or latest is None:
            return cls(preset, None, None, values, locked)
        until = _midnight(latest.astimezone(UTC).date()) + timedelta(days=1)
        # the same "last N days" as the CLI's --since Nd: the latest day and the N whole days before
        return cls(preset, days_back(days, latest), until, values, locked)

    def where(self) -> dict[str, str]:
        """The dimension filters as ledger column -> value (what the report API takes)."""
        return {DIMENSIONS[k]: v for k, v in self.values.items()}

    def previous(self) -> Filters | None:
        """The period of the same length just before this one (None for an open range)."""
        if self.since is None or self.until is None:
            return None
        length = self.until - self.since
        return replace(self, since=self.since - length, until=self.since)

    def params(self, **changes: str | None) -> dict[str, str]:
        """This view's URL parameters with some changed (None removes one)."""
        out: dict[str, str] = {}
        if self.range == "custom":
            if self.since is not None:
                out["since"] = self.since.date().isoformat()
            if self.until is not None:
                out["until"] = (self.until - timedelta(days=1)).date().isoformat()
        elif self.range != DEFAULT_RANGE:
            out["range"] = self.range
        out.update({k: v for k, v in self.values.items() if k not in self.locked})
        for key, value in changes.items():
            if value is None:
                out.pop(key, None)
            else:
                out[key] = value
        return out

    def query(self, **changes: str | None) -> str:
        """``?a=b&...`` for links that keep the filters (empty string when there are none)."""
        params = self.params(**changes)
        return "?" + urlencode(params) if params else ""

    @property
    def label(self) -> str:
        """The time range in words, for page headings."""
        if self.since is None and self.until is None:
            return "all time"
        start = self.since.date().isoformat() if self.since else "start"
        end = (self.until - timedelta(days=1)).date().isoformat() if self.until else "now"
        return f"{start} to {end}"
