"""Prometheus metrics at ``/metrics`` on the collector and the gateway.

Counters by ``provider``, ``model``, ``workflow`` and ``environment``::

    costtrail_spend_usd_total          cost of priced events (USD)
    costtrail_tokens_total             tokens, with direction="input" | "output"
    costtrail_requests_total           events, with status="success" | "retry" | ...
    costtrail_unpriced_events_total    events with no price (never counted as $0)

and, where budgets are enforced (the gateway), gauges per budget::

    costtrail_budget_limit / costtrail_budget_spend  (label unit="usd" | "tokens")
    costtrail_budget_utilization_ratio               (spend + reserved) / limit; >= 1 is exhausted

Label cardinality is bounded: each label keeps its first ``max_values`` distinct
values and folds the rest into ``"other"`` (tenants and customers are never
labels). The collector counts what the ledger holds (rows ingested since the
last scrape, so re-sent duplicates are not counted twice); the gateway counts
each event it records.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from costtrail.controls.budgets import BudgetGate
from costtrail.ledger.store import LedgerStore

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LABELS = ("provider", "model", "workflow", "environment")
DEFAULT_MAX_VALUES = {"provider": 20, "model": 100, "workflow": 50, "environment": 20, "status": 10}
OTHER = "other"
_Key = tuple[str, ...]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(names: tuple[str, ...], values: _Key) -> str:
    return ",".join(f'{n}="{_escape(v)}"' for n, v in zip(names, values, strict=True))


def _number(value: Decimal | int | float) -> str:
    if isinstance(value, Decimal):
        return format(value.normalize(), "f") if value else "0"
    return repr(value) if isinstance(value, float) else str(value)


class CostMetrics:
    """Thread-safe counters with bounded labels, rendered in the Prometheus text format."""

    def __init__(
        self, *, budgets: BudgetGate | None = None, max_values: Mapping[str, int] | None = None
    ) -> None:
        self.budgets = budgets
        self.max_values = {**DEFAULT_MAX_VALUES, **(max_values or {})}
        self._lock = threading.Lock()
        self._seen: dict[str, set[str]] = {name: set() for name in self.max_values}
        self._spend: dict[_Key, Decimal] = {}
        self._tokens: dict[tuple[_Key, str], int] = {}
        self._requests: dict[tuple[_Key, str], int] = {}
        self._unpriced: dict[_Key, int] = {}

    def _bounded(self, name: str, value: Any) -> str:
        text = "" if value is None else str(value)
        seen = self._seen[name]
        if text in seen:
            return text
        if len(seen) < self.max_values[name]:
            seen.add(text)
            return text
        return OTHER

    def add(
        self,
        labels: Mapping[str, Any],
        *,
        cost: Decimal | None,
        input_tokens: int = 0,
        output_tokens: int = 0,
        requests: int = 1,
        status: str | None = "success",
        unpriced: int = 0,
    ) -> None:
        """Count ``requests`` events with these labels (``cost`` None: unpriced)."""
        with self._lock:
            key = tuple(self._bounded(n, labels.get(n)) for n in LABELS)
            st = self._bounded("status", status or "success")
            if cost is not None:
                self._spend[key] = self._spend.get(key, Decimal(0)) + cost
            self._tokens[(key, "input")] = self._tokens.get((key, "input"), 0) + input_tokens
            self._tokens[(key, "output")] = self._tokens.get((key, "output"), 0) + output_tokens
            self._requests[(key, st)] = self._requests.get((key, st), 0) + requests
            if unpriced:
                self._unpriced[key] = self._unpriced.get(key, 0) + unpriced

    def observe(self, event: Mapping[str, Any]) -> None:
        """Count one event given as a dict (envelope field names)."""
        cost = event.get("cost_usd")
        unpriced = bool(event.get("unpriced")) or cost is None
        self.add(
            event,
            cost=Decimal(str(cost)) if cost is not None else None,
            input_tokens=int(event.get("input_tokens") or 0),
            output_tokens=int(event.get("output_tokens") or 0),
            status=event.get("status"),
            unpriced=1 if unpriced else 0,
        )

    def render(self) -> str:
        """The text exposition format."""
        out: list[str] = []
        with self._lock:
            spend, tokens = dict(self._spend), dict(self._tokens)
            requests, unpriced = dict(self._requests), dict(self._unpriced)
        out += [
            "# HELP costtrail_spend_usd_total Cost of priced events in USD.",
            "# TYPE costtrail_spend_usd_total counter",
        ]
        out += [
            f"costtrail_spend_usd_total{{{_labels(LABELS, k)}}} {_number(v)}"
            for k, v in sorted(spend.items())
        ]
        names = (*LABELS, "direction")
        out += ["# HELP costtrail_tokens_total Tokens by direction.", "# TYPE costtrail_tokens_total counter"]
        out += [
            f"costtrail_tokens_total{{{_labels(names, (*k, d))}}} {v}" for (k, d), v in sorted(tokens.items())
        ]
        names = (*LABELS, "status")
        out += ["# HELP costtrail_requests_total Events recorded.", "# TYPE costtrail_requests_total counter"]
        out += [
            f"costtrail_requests_total{{{_labels(names, (*k, s))}}} {v}"
            for (k, s), v in sorted(requests.items())
        ]
        out += [
            "# HELP costtrail_unpriced_events_total Events with no matching price.",
            "# TYPE costtrail_unpriced_events_total counter",
        ]
        out += [
            f"costtrail_unpriced_events_total{{{_labels(LABELS, k)}}} {v}"
            for k, v in sorted(unpriced.items())
        ]
        out += self._budget_lines()
        return "\n".join(out) + "\n"

    def _budget_lines(self) -> list[str]:
        if self.budgets is None:
            return []
        statuses = self.budgets.status()
        out = [
            "# HELP costtrail_budget_limit Budget limit in its unit.",
            "# TYPE costtrail_budget_limit gauge",
            *(f'costtrail_budget_limit{{budget="{_escape(s.name)}",unit="{s.unit}"}} {_number(s.limit)}'
              for s in statuses),
            "# HELP costtrail_budget_spend Spend in the current period, in the budget's unit.",
            "# TYPE costtrail_budget_spend gauge",
            *(f'costtrail_budget_spend{{budget="{_escape(s.name)}",unit="{s.unit}"}} {_number(s.spent)}'
              for s in statuses),
            "# HELP costtrail_budget_utilization_ratio (spend + reserved) / limit; 1 or more is exhausted.",
            "# TYPE costtrail_budget_utilization_ratio gauge",
            *(f'costtrail_budget_utilization_ratio{{budget="{_escape(s.name)}"}} {s.utilization!r}'
              for s in statuses),
        ]  # fmt: skip
        return out


class LedgerMetrics:
    """Feeds :class:`CostMetrics` from a ledger: rows ingested since the previous scrape.

    The first refresh aggregates the whole ledger once; later ones read only rows
    whose ``ingested_at`` is past the watermark.
    """

    def __init__(self, store: LedgerStore, metrics: CostMetrics | None = None) -> None:
        self.store = store
        self.metrics = metrics or CostMetrics()
        self._watermark: Any = None
        self._lock = threading.Lock()

    def refresh(self) -> None:
        with self._lock:
            events = self.store.dialect.final("events")
            top = self.store.query(f"SELECT max(ingested_at) AS hi FROM {events}")[0]["hi"]
            if top is None or top == self._watermark:
                return
            lit = self.store.dialect.literal
            where = f"ingested_at <= {lit(top)}"
            if self._watermark is not None:
                where += f" AND ingested_at > {lit(self._watermark)}"
            rows = self.store.query(
                f"SELECT provider, model, workflow, environment, status, count(*) AS n, "
                f"sum(cost_usd) AS cost, "
                f"sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens, "
                f"sum(CASE WHEN unpriced THEN 1 ELSE 0 END) AS unpriced FROM {events} WHERE {where} "
                f"GROUP BY provider, model, workflow, environment, status"
            )
            for r in rows:
                self.metrics.add(
                    r,
                    cost=Decimal(str(r["cost"])) if r["cost"] is not None else None,
                    input_tokens=int(r["input_tokens"] or 0),
                    output_tokens=int(r["output_tokens"] or 0),
                    requests=int(r["n"]),
                    status=r["status"],
                    unpriced=int(r["unpriced"] or 0),
                )
            self._watermark = top

    def render(self) -> str:
        self.refresh()
        return self.metrics.render()


class MeteredSink:
    """Wraps the gateway's event sink: counts each submitted event, then hands it on unchanged."""

    def __init__(self, sink: Any, metrics: CostMetrics) -> None:
        self.sink = sink
        self.metrics = metrics

    def submit(self, event: dict[str, Any]) -> bool:
        # A malformed event is the sink's to reject; metrics never break recording.
        with contextlib.suppress(TypeError, ValueError, ArithmeticError):
            self.metrics.observe(event)
        return bool(self.sink.submit(event))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.sink, name)


def gateway_metrics_response(
    metrics: CostMetrics, keys: Any, headers: Mapping[str, str]
) -> tuple[int, str, bytes]:
    """``(status, content type, body)`` for the gateway's ``GET /metrics``.

    ``keys`` is the gateway's key ring when it requires keys: then scraping needs a
    read (or admin) key not scoped to a tenant, in ``X-Costtrail-Key`` or
    ``Authorization: Bearer``; without a key ring the metrics are open.
    """
    if keys is None:
        return 200, CONTENT_TYPE, metrics.render().encode()
    from costtrail.auth import Scope

    auth = headers.get("authorization", "")
    token = auth[7:].strip() if auth[:7].lower() == "bearer " else headers.get("x-costtrail-key")
    key = keys.verify(token) if token else None
    if key is None:
        return 401, "text/plain; charset=utf-8", b"GET /metrics needs a read key (X-Costtrail-Key)\n"
    if not key.allows(Scope.READ) or key.tenant is not None:
        return 403, "text/plain; charset=utf-8", b"GET /metrics needs a read key created without --tenant\n"
    return 200, CONTENT_TYPE, metrics.render().encode()
