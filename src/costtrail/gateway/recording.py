"""Turning a forwarded call into a priced event and handing it to a sink, off the response path.

A :class:`ForwardedCall` is one request the gateway forwards upstream; the
:class:`ForwardedCallRecorder` queues its event, folds the client's retries into
one call and settles its budget reservation. (The SDK's counterpart, a call made
in-process, is :class:`costtrail.sdk.calls.InstrumentedCall`; both end the call
with :meth:`costtrail.wire.Reading.finish`.)

The sink (:class:`costtrail.sdk.sink.EventSink`: a local ledger or the
collector) only queues the event; a background thread writes it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Protocol

from pydantic import ValidationError

from costtrail.controls.gate import Decision, RequestGate
from costtrail.gateway.routes import WireRoute
from costtrail.pricing import Pricer
from costtrail.pricing.costing import USAGE_REFUSED
from costtrail.schema import TOKEN_FIELDS, TOOL_FEE_FIELDS, CostSource, Event, new_event_id
from costtrail.schema.events import MAX_ATTRIBUTE_KEY, MAX_ATTRIBUTE_VALUE, MAX_ATTRIBUTES
from costtrail.wire import Flavor, Reading, flavor_for_path

# No single call uses this many tokens of one kind: a count past it is a provider's (or a fake's)
# nonsense, which the ledger's integer columns and sums need not hold (docs/reliability.md).
MAX_CALL_TOKENS = 10**12

log = logging.getLogger("costtrail.gateway")


class RecordSink(Protocol):
    """What the gateway records to (the SDK's ``EventSink`` fits): ``submit`` never blocks."""

    def submit(self, event: dict[str, Any]) -> bool: ...

    def flush(self, timeout: float | None = None) -> bool: ...

    def close(self, timeout: float | None = None) -> None: ...


@dataclass
class ForwardedCall:
    """One call the gateway forwards upstream, from the moment it arrived."""

    route: WireRoute
    request_model: str | None
    fields: dict[str, str]
    attributes: dict[str, str]
    payload_bytes: int
    decision: Decision
    event_id: str = field(default_factory=new_event_id)
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    started: float = field(default_factory=time.perf_counter)
    provider_account: str | None = None
    prompt: str | None = None  # the request text, set only when content storage is on
    stream_text: list[bytes] | None = None
    recorded: bool = False  # its event was handed to the recorder (which settles the reservation)
    request: Mapping[str, Any] = field(default_factory=dict)  # the decoded request body
    # The client's own retries (x-stainless-retry-count): attempt N of one logical call, whose
    # attempts share retry_key (the client, the route and the request body's digest).
    attempt: int = 0
    retry_key: str | None = None
    retry_after_s: float | None = None  # what the upstream told the client to wait before a retry
    provider: str | None = None  # who bills the call (the upstream host's provider); else the route's
    path: str | None = None  # the path forwarded, when not the route's own (an Azure deployment's)
    model: str | None = None  # the model an Azure deployment is mapped to: wins over the response's

    @property
    def flavor(self) -> Flavor:
        found = flavor_for_path(self.route.path)
        if found is None:
            raise ValueError(f"no wire flavor for the priced route {self.route.path}")
        return found


def failure_status(http_status: int | None, failure: str | None) -> tuple[str | None, str | None]:
    """The status and error type of a call whose answer did not arrive (``failure``, or no HTTP status).

    ``(None, None)`` when it did: then the reading's own rule (shared with the SDK,
    :meth:`Reading.finish`) decides.
    """
    if failure == "upstream_timeout":
        return "timeout", failure
    if failure is not None:
        return "error", failure if http_status is not None else "upstream_unreachable"
    if http_status is None:
        return "error", "upstream_unreachable"
    return None, None


def build_event(
    call: ForwardedCall,
    reading: Reading,
    pricer: Pricer,
    *,
    http_status: int | None,
    failure: str | None = None,
) -> Event:
    """The priced event of a call (a failed call is priced on whatever usage it reported).

    Built defensively, since the provider has already answered: attributes over
    the envelope's limit are trimmed (``costtrail.attributes_dropped`` says how
    many), token counts past :data:`MAX_CALL_TOKENS` are not stored and the event
    is unpriced (``costtrail.usage_refused`` names them), and a field the
    envelope refuses is left out (``costtrail.fields_dropped`` names it).
    """
    status, error_type = reading.finish(http_status, call.request, *failure_status(http_status, failure))
    attributes = {"http.status_code": str(http_status)} if http_status is not None else {}
    attributes.update(
        (k[:MAX_ATTRIBUTE_KEY], v[:MAX_ATTRIBUTE_VALUE])
        for k, v in {**reading.attributes(), **call.attributes}.items()
    )
    counts = reading.envelope_fields()
    absurd = sorted(k for k in (*TOKEN_FIELDS, *TOOL_FEE_FIELDS, "tool_calls") if counts[k] > MAX_CALL_TOKENS)
    flags: dict[str, str] = {}
    if absurd:
        flags[USAGE_REFUSED] = ",".join(f"{k}={counts[k]}" for k in absurd)[:512]
    for name in absurd:
        counts[name] = 0
    room = MAX_ATTRIBUTES - len(flags) - 2  # room for the flags below
    if len(attributes) > room:
        flags["costtrail.attributes_dropped"] = str(len(attributes) - room)
        attributes = dict(list(attributes.items())[:room])
    values: dict[str, Any] = {
        "event_id": call.event_id,
        "kind": call.route.kind,
        "started_at": call.started_at,
        "ended_at": datetime.now(UTC),
        "latency_ms": (time.perf_counter() - call.started) * 1000.0,
        "provider": call.provider or call.route.upstream,
        "model": call.model or reading.model or call.request_model or "unknown",
        "request_id": reading.request_id,
        "service_tier": reading.service_tier,
        "status": status,
        "error_type": error_type,
        "payload_bytes": call.payload_bytes,
        "provider_account": call.provider_account,
        "retry_count": call.attempt,
        **counts,
        **call.fields,
    }
    event = _event(values, {**attributes, **flags})
    price = pricer.price(event)
    event.cost_usd, event.price_ref, event.unpriced = price.cost_usd, price.price_ref, price.unpriced
    event.cost_source = CostSource.COMPUTED if not price.unpriced else None
    event.cost_estimate_usd = price.estimate_usd
    return event


def _event(values: dict[str, Any], attributes: dict[str, str]) -> Event:
    """The event, leaving out (and naming) any field the envelope refuses rather than losing the call."""
    dropped: list[str] = []
    for _ in range(len(values)):
        try:
            return Event(**values, attributes=attributes)
        except ValidationError as exc:
            bad = {str(e["loc"][0]) for e in exc.errors() if e["loc"]} & (set(values) - {"event_id"})
            if not bad:
                raise
            for name in bad:
                values.pop(name)
            dropped += sorted(bad)
            attributes = {**attributes, "costtrail.fields_dropped": ",".join(dropped)}
    raise AssertionError("unreachable: every field was dropped")


def cost_header(event: Event) -> str:
    """``X-Costtrail-Cost``: the exact USD amount, or ``unpriced``."""
    if event.unpriced or event.cost_usd is None:
        return "unpriced"
    return format(event.cost_usd.normalize() if event.cost_usd else Decimal(0), "f")


# An attempt the client may retry (the SDKs retry 408, 409, 429 and 5xx) waits for its retry as
# long as the SDK would wait (the upstream's retry-after, else the SDKs' backoff: 0.5 s doubling to
# 8 s) plus this grace, at most RETRY_WINDOW_S, before it is recorded on its own.
RETRY_GRACE_S = 1.0
RETRY_WINDOW_S = 61.0
_RETRYABLE = frozenset({408, 409, 429})


def retry_wait(call: ForwardedCall) -> float:
    """How long a retryable failure of ``call`` waits for the client's retry."""
    backoff = call.retry_after_s if call.retry_after_s is not None else min(8.0, 0.5 * 2**call.attempt)
    return min(RETRY_WINDOW_S, backoff + RETRY_GRACE_S)


def retryable(event: Event) -> bool:
    status = event.attributes.get("http.status_code", "")
    return status.isdigit() and (int(status) in _RETRYABLE or int(status) >= 500)


class ForwardedCallRecorder:
    """Queues events on the sink and settles the budget reservation; never raises into the proxy.

    A failed attempt the client may retry is held (per ``ForwardedCall.retry_key``) until its retry
    arrives, which then records as the one event of the logical call with ``retry_count`` its
    attempt number, as the SDK path records it; a held attempt no retry follows within
    :func:`retry_wait` is recorded on its own.
    """

    def __init__(self, sink: RecordSink, gate: RequestGate) -> None:
        self.sink = sink
        self.gate = gate
        self.dropped = 0
        self._checked_at = -1.0
        self._can_record = True
        self._held: dict[str, tuple[Event, Decision, asyncio.TimerHandle | None]] = {}

    def record_attempt(
        self, call: ForwardedCall, event: Event, content: dict[str, str] | None = None
    ) -> None:
        """Record ``event`` of ``call``, folding it into the client's retries of the same call."""
        key = call.retry_key
        held = self._held.pop(key, None) if key is not None else None
        if held is not None:
            earlier, decision, timer = held
            if timer is not None:
                timer.cancel()
            if call.attempt > 0:  # the retry of the held attempt: one logical call
                self._settle(decision, earlier.cost_usd)
            else:
                self.record(earlier, decision)
        if key is not None and content is None and retryable(event):
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                loop = None
            if loop is not None:
                timer = loop.call_later(retry_wait(call), self._release_held, key)
                self._held[key] = (event, call.decision, timer)
                return
        self.record(event, call.decision, content)

    def _release_held(self, key: str) -> None:
        held = self._held.pop(key, None)
        if held is not None:
            self.record(held[0], held[1])

    def flush_held(self) -> None:
        """Record every held attempt now (the gateway is stopping)."""
        for key in list(self._held):
            held = self._held.pop(key)
            if held[2] is not None:
                held[2].cancel()
            self.record(held[0], held[1])

    def _settle(self, decision: Decision, cost: Decimal | None) -> None:
        try:
            self.gate.settle(decision, cost)
        except Exception:
            log.exception("settling a budget reservation failed")

    def can_record(self) -> bool:
        """False while events wait in the sink's spool (its collector unreachable); checked once a second."""
        now = time.monotonic()
        if now - self._checked_at >= 1.0:
            self._checked_at = now
            stats = getattr(self.sink, "stats", None)
            try:
                waiting = int(stats().get("spool_files", 0)) if callable(stats) else 0
            except Exception:
                waiting = 0
            self._can_record = waiting == 0
        return self._can_record

    def record(self, event: Event, decision: Decision, content: dict[str, str] | None = None) -> None:
        try:
            data = event.model_dump(exclude_none=True)
            if content is not None:
                data["_content"] = content  # the sink's CONTENT_KEY: goes to the content table
            if not self.sink.submit(data):
                self.dropped += 1
                log.warning("gateway event %s dropped: the sink's queue is full", event.event_id)
        except Exception:  # the proxy must keep serving whatever the sink does
            log.exception("recording gateway event %s failed", event.event_id)
        try:  # an incomplete call still spent: its budget counts the estimate
            spent = event.cost_usd if event.cost_usd is not None else event.cost_estimate_usd
            self.gate.settle(decision, spent)
        except Exception:
            log.exception("settling the budget reservation of %s failed", event.event_id)

    def release(self, decision: Decision) -> None:
        """Free the reservation of a call that was not forwarded (nothing to record)."""
        try:
            self.gate.settle(decision, None)
        except Exception:
            log.exception("releasing a budget reservation failed")
