"""Stopping a run that loops: calls per ``run_id`` in a sliding window, in the request path.

When one run makes more than ``max_events`` calls within ``window_minutes``,
the guard raises a ``retry_loop`` alert and, with ``block: true``, denies that
run id (HTTP 429 in the gateway) until the window has passed. Memory is bounded:
at most ``max_tracked_runs`` runs are tracked, least recently seen dropped first.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict, deque
from datetime import datetime, timedelta
from decimal import Decimal

from costtrail.controls.alerts import Alert, AlertDispatcher
from costtrail.controls.config import RetryLoopConfig
from costtrail.controls.gate import ALLOW, Decision, RequestContext
from costtrail.controls.periods import Clock, as_utc, utc_now


class RunLoopGuard:
    """A :class:`~costtrail.controls.gate.RequestGate` counting calls per run id."""

    def __init__(
        self, config: RetryLoopConfig, *, clock: Clock = utc_now, alerts: AlertDispatcher | None = None
    ) -> None:
        self.config = config
        self.window = timedelta(minutes=config.window_minutes)
        self.clock = clock
        self.alerts = alerts
        self._lock = threading.Lock()
        self._calls: OrderedDict[str, deque[datetime]] = OrderedDict()
        self._blocked: dict[str, datetime] = {}

    def reserve(self, ctx: RequestContext, estimated_cost: Decimal) -> Decision:
        if not ctx.run_id or not self.config.enabled:
            return ALLOW
        now = as_utc(self.clock())
        alert: Alert | None = None
        with self._lock:
            until = self._blocked.get(ctx.run_id)
            if until is not None:
                if now < until:
                    return self._denial(ctx.run_id, until, now)
                del self._blocked[ctx.run_id]
                until = None
            calls = self._calls.pop(ctx.run_id, None) or deque()
            self._calls[ctx.run_id] = calls  # most recently seen last
            while calls and now - calls[0] >= self.window:
                calls.popleft()
            calls.append(now)
            while len(self._calls) > self.config.max_tracked_runs:
                self._calls.popitem(last=False)
            if len(calls) > self.config.max_events:
                alert = self._alert(ctx, len(calls), calls[0], now)
                if self.config.block:
                    until = now + self.window
                    self._blocked[ctx.run_id] = until
                    calls.clear()
        if alert is not None and self.alerts is not None:
            self.alerts.emit(alert)
        if until is not None and self.config.block:
            return self._denial(ctx.run_id, until, now)
        return ALLOW

    def _denial(self, run_id: str, until: datetime, now: datetime) -> Decision:
        return Decision(
            allowed=False,
            reason=(
                f"run {run_id!r} made more than {self.config.max_events} calls "
                f"in {self.config.window_minutes} minutes (retry loop); it is stopped until the window passes"
            ),
            rule="retry_loop",
            scope={"run_id": run_id},
            retry_after_s=max(1, math.ceil((until - now).total_seconds())),
            kind="retry_loop",
            unit="calls",
        )

    def _alert(self, ctx: RequestContext, calls: int, first: datetime, now: datetime) -> Alert:
        return Alert(
            kind="retry_loop",
            key=f"retry_loop:{ctx.run_id}",
            severity="critical",
            title=f"run {ctx.run_id} is looping: {calls} calls in {self.config.window_minutes} min",
            message=(
                f"run {ctx.run_id!r} of workflow {ctx.workflow!r} made {calls} calls between "
                f"{first.isoformat()} and {now.isoformat()} (limit {self.config.max_events})"
                + ("; further calls are denied" if self.config.block else "")
            ),
            scope={k: v for k, v in (("workflow", ctx.workflow), ("tenant_id", ctx.tenant_id)) if v},
            evidence={
                "run_id": ctx.run_id,
                "workflow": ctx.workflow,
                "events": calls,
                "window_minutes": self.config.window_minutes,
                "first_at": first,
                "last_at": now,
                "model": ctx.model,
                "blocked": self.config.block,
            },
            raised_at=now,
        )

    def settle(self, decision: Decision, actual_cost: Decimal | None) -> None:
        return None
