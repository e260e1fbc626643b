"""One provider call in progress: what the wrappers and the HTTP capture learn, turned into one event.

An :class:`InstrumentedCall` is opened by an instrumented SDK method (or, for SDK paths we
do not wrap, by the HTTP capture itself), collects attempts, payload size,
request id and usage as they become known, and is finished exactly once:
when the method returns, when it raises, or when its stream ends. (The gateway's
counterpart is :class:`costtrail.gateway.recording.ForwardedCall`; both end the call
with :meth:`costtrail.wire.Reading.finish`.)
"""

from __future__ import annotations

import functools
import logging
import os
import time
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from costtrail.schema import TOKEN_FIELDS
from costtrail.sdk.context import current_attribution, read_attribution
from costtrail.wire import Flavor, Reading, StreamReading, flavor_named, read_body
from costtrail.wire.azure import deployment_in_path

if TYPE_CHECKING:
    from costtrail.sdk.recorder import Recorder

log = logging.getLogger("costtrail.sdk")

RecorderRef = Callable[[], "Recorder | None"]

# The call the current SDK method is making, so the HTTP layer can attach its attempts to it.
CURRENT_CALL: ContextVar[InstrumentedCall | None] = ContextVar("costtrail_call", default=None)

_REQUEST_ID_HEADERS = ("x-request-id", "request-id")

# A wrapped SDK call on the fast path (see SentCall): its HTTP attempts are noted in it.
SENT_CALL: ContextVar[SentCall | None] = ContextVar("costtrail_sent_call", default=None)


def classify_error(exc: BaseException) -> tuple[str, str]:
    """(status, error_type) for an exception raised by a provider call."""
    name = type(exc).__name__
    if name == "CancelledError" or isinstance(exc, KeyboardInterrupt):
        return "failure", name
    if "Timeout" in name:
        return "timeout", name
    return "error", name


def sent_body(request: Any) -> tuple[bytes | None, int]:
    """An HTTP request's body and size (a body not read yet: ``None`` and its ``content-length``)."""
    try:
        body: bytes = request.content
        return body, len(body)
    except Exception:
        length = request.headers.get("content-length")
        return None, int(length) if length and length.isdigit() else 0


class InstrumentedCall:
    """A provider call made in this process by an instrumented client; :meth:`finish` emits its one event."""

    __slots__ = (
        "attempts",
        "attributes",
        "attribution",
        "by_http",
        "deployment",
        "deployments",
        "done",
        "endpoint",
        "error_type",
        "flavor",
        "hide_usage_chunk",
        "http_status",
        "kind",
        "later",
        "payload_bytes",
        "provider",
        "read_later",
        "reading",
        "recorded_as",
        "recorder_ref",
        "request_body",
        "request_id",
        "requested_model",
        "response_headers",
        "started",
        "started_wall",
        "streaming",
    )

    def __init__(
        self,
        recorder_ref: RecorderRef,
        provider: str,
        endpoint: str,
        kind: str,
        requested_model: str | None,
        recorded_as: str | None = None,
        deployments: Mapping[str, str] | None = None,
        flavor: Flavor | None = None,
        *,
        by_http: bool = False,
    ) -> None:
        self.recorder_ref = recorder_ref
        self.provider, self.endpoint, self.kind = provider, endpoint, kind  # provider: the wire format's
        self.recorded_as = recorded_as or provider  # who bills the call: the host's provider
        self.requested_model = requested_model
        # Azure OpenAI (``deployments`` given): the call names a deployment, mapped to its model.
        self.deployments = deployments
        self.deployment: str | None = None
        self.attribution: Mapping[str, Any] = current_attribution()
        self.started_wall = time.time()
        self.started = time.perf_counter()
        self.attempts = 0
        self.payload_bytes = 0
        self.request_id: str | None = None
        self.response_headers: Any = None  # the last attempt's, read for its request id when built
        self.http_status: int | None = None
        self.error_type: str | None = None
        self.flavor: Flavor = flavor or flavor_named(provider, endpoint)
        self.reading: Reading | None = None  # what the response said (costtrail.wire)
        # Or how to read it: a finished body read on the sink's writer thread, off the caller's.
        self.read_later: Callable[[], Reading] | None = None
        self.request_body: bytes = b""  # read only to estimate an incomplete call's input
        self.attributes: dict[str, str] = {}
        self.hide_usage_chunk = False
        self.streaming = False
        self.done = False
        self.later: tuple[str | None, str | None, float, Mapping[str, Any]] | None = None  # see finish()
        # Opened by the HTTP capture for a request no wrapped SDK method made (a Gemini call):
        # its one attempt's answer finishes it.
        self.by_http = by_http

    def attempt(self, path: str, body: bytes | None, payload_bytes: int) -> None:
        """One HTTP attempt of this call: its URL path, its body (``None``: not read) and size."""
        self.attempts += 1
        if self.deployments is not None:
            self.deployment = deployment_in_path(path) or self.requested_model
        if body is not None:
            self.request_body = body
        self.payload_bytes = payload_bytes

    def on_response(self, response: Any) -> int:
        """One attempt's answer (its status, returned; its headers, read when the event is built)."""
        status: int = response.status_code
        self.http_status = status
        if self.response_headers is not None:
            self.take_request_id()  # an earlier attempt's id counts unless a later one names its own
        self.response_headers = response.headers
        return status

    def take_request_id(self) -> None:
        """The provider's request id, from the headers of the last response seen (once)."""
        headers, self.response_headers = self.response_headers, None
        if headers is None:
            return
        for name in _REQUEST_ID_HEADERS:
            value = headers.get(name)
            if value:
                self.request_id = value
                break

    def read_now(self) -> Reading | None:
        """The reading, reading the body kept for later now if there is one."""
        read_later = self.read_later
        if read_later is not None:
            self.read_later = None
            self.reading = read_later()
        return self.reading

    def fail(self, exc: BaseException) -> None:
        reading = self.read_now()
        self.take_request_id()
        if reading is not None and not reading.complete and self.http_status and self.http_status < 300:
            self.finish()  # the SDK could not parse a 2xx body it received: the reading says incomplete
            return
        status, error_type = classify_error(exc)
        code = getattr(exc, "status_code", None)
        if isinstance(code, int):
            self.http_status = code
        request_id = getattr(exc, "request_id", None)
        if isinstance(request_id, str) and request_id:
            self.request_id = request_id
        self.finish(status, error_type)

    def finish(self, status: str | None = None, error_type: str | None = None) -> None:
        """Emit this call's event (once; later calls do nothing). Never raises.

        Without a ``status`` the reading decides (``success``, ``error`` or ``incomplete``).
        The caller's thread only takes the time; the body is read and the event built on the
        sink's writer thread when the recorder can defer it (:meth:`Recorder.emit_later`).
        """
        if self.done:
            return
        self.done = True
        elapsed = time.perf_counter() - self.started
        try:
            recorder = self.recorder_ref()
            if recorder is None:
                return
            self.later = (status, error_type or self.error_type, elapsed, recorder.defaults)
            recorder.emit_later(self)  # the call itself is queued: few objects for the GC to walk
        except Exception:
            log.warning("costtrail: could not record a %s call", self.provider, exc_info=True)

    def __call__(self) -> dict[str, Any]:
        """The finished call's whole event: defaults, attribution of its start, what it did."""
        later = self.later
        if later is None:
            raise RuntimeError("the call is not finished")
        status, error_type, elapsed, defaults = later
        event = {**defaults, **self.attribution, **self._event(status, error_type, elapsed)}
        event.setdefault("event_id", os.urandom(16).hex())  # as Recorder.emit's fast_event_id
        return event

    def _event(self, status: str | None, error_type: str | None, elapsed: float) -> dict[str, Any]:
        reading = self.read_now() or Reading(complete=False, ended_by="no_response_read")
        self.take_request_id()
        status, error_type = reading.finish(self.http_status, self.request_body, status, error_type)
        event: dict[str, Any] = {
            "kind": self.kind,
            "provider": self.recorded_as,
            "model": self._model(reading),
            "started_at": self.started_wall,
            "ended_at": self.started_wall + elapsed,
            "latency_ms": elapsed * 1000.0,
            "status": status,
            "retry_count": max(0, self.attempts - 1),
            "payload_bytes": self.payload_bytes,
            "request_id": self.request_id,
            "tool_calls": reading.tool_call_count,
        }
        for key in TOKEN_FIELDS:  # Reading.envelope_fields() without the zeros
            value = getattr(reading, key)
            if value:
                event[key] = value
        if reading.tool_calls or reading.web_searches or reading.file_searches or reading.code_executions:
            event.update((k, v) for k, v in reading.tool_fees().items() if v)  # priced per use
        if reading.service_tier:
            event["service_tier"] = reading.service_tier
        if error_type:
            event["error_type"] = error_type
        attributes = {**reading.attributes(), **self.attributes}
        attributes["endpoint"] = self.endpoint
        if self.http_status is not None and not 200 <= self.http_status < 300:
            attributes["http_status"] = str(self.http_status)
        if self.deployment:
            attributes["azure_deployment"] = self.deployment
        event["attributes"] = attributes
        return event

    def _model(self, reading: Reading) -> str | None:
        """The model the response names; for an Azure deployment, the model it is mapped to first."""
        if self.deployments is not None and self.deployment:
            return self.deployments.get(self.deployment) or reading.model or self.deployment
        return reading.model or self.requested_model


def read_whole(flavor: Flavor, content: bytes, headers: Any) -> Reading:
    """A body read whole: JSON, or a whole SSE stream (its headers are looked at here, off the caller)."""
    if "text/event-stream" not in headers.get("content-type", ""):
        return read_body(flavor, content)
    stream = StreamReading(flavor)
    stream.feed(content)
    stream.close()
    return stream.reading


class SentCall:
    """A wrapped SDK call on the fast path: what the caller's thread notes, replayed into an event later.

    With no enforced budgets and no stream asked for, the caller's thread only notes the
    attribution and time of the call's start and, for each HTTP attempt, the request and the
    answer read whole (``exchanges``); the sink's writer thread replays them into the
    :class:`InstrumentedCall` the full path would have made (:meth:`replay`), which builds the
    same event (:func:`built_later`). The fast path exists because each Python call made on the
    caller's thread costs ~1-2 us there (its code is cold in the CPU caches after the SDK's own
    ~1 ms of work), and the full path makes twenty. An answer read as a stream, or a call that
    raises, is replayed at once (:attr:`live`) and goes on as the full path does.
    """

    __slots__ = ("attribution", "exchanges", "live", "open", "requested_model", "started", "started_wall")

    def __init__(self, open_call: Callable[[str | None], InstrumentedCall], requested_model: Any) -> None:
        self.open, self.requested_model = open_call, requested_model
        self.attribution = read_attribution()
        self.started_wall = time.time()
        self.started = time.perf_counter()
        # One per request the client sent meanwhile: [request, its answer read whole or None, and
        # the client's route_of, which tells a model call (an attempt) from any other request].
        self.exchanges: list[list[Any]] = []
        self.live: InstrumentedCall | None = None

    def replay(self) -> InstrumentedCall:
        """The :class:`InstrumentedCall` of what was noted so far (made once; the call goes on with it)."""
        if self.live is not None:
            return self.live
        model = self.requested_model
        call = self.open(model if isinstance(model, str) else None)
        call.attribution, call.started_wall, call.started = self.attribution, self.started_wall, self.started
        for request, response, route_of in self.exchanges:
            path = request.url.path
            if route_of(path) is None:
                continue  # not this call's (an auth token's request...)
            call.attempt(path, *sent_body(request))
            if response is not None and 200 <= call.on_response(response) < 300:
                call.read_later = functools.partial(
                    read_whole, call.flavor, response.content, response.headers
                )
        self.live = call
        return call


def built_later(sent: SentCall, ended: float, defaults: Mapping[str, Any]) -> dict[str, Any]:
    """The event of a fast-path call that returned (on the sink's writer thread)."""
    call = sent.replay()
    call.done = True
    call.later = (None, None, ended - sent.started, defaults)
    return call()
