"""The HTTP side of instrumentation: a wrapper around the SDK client's ``send``.

It sees every attempt the SDK makes (so retries are counted and the request
body's size is exact), reads the provider's request id, reads each response
body through :mod:`costtrail.wire` (the reading every door shares; a whole body is
kept and read on the sink's writer thread, off the caller's) and threads
streamed responses through :class:`~costtrail.wire.StreamReading`. For model
calls made through SDK methods costtrail does not wrap (``with_raw_response``,
helpers, copies made by ``with_options``), it records the exchange itself
from the HTTP body, so no call goes unrecorded.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import json
import logging
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from costtrail.sdk.calls import (
    CURRENT_CALL,
    SENT_CALL,
    InstrumentedCall,
    RecorderRef,
    SentCall,
    read_whole,
    sent_body,
)
from costtrail.sdk.context import current_attribution, read_attribution
from costtrail.sdk.enforcement import check_before_send, hook_of
from costtrail.wire import (
    Flavor,
    StreamReading,
    flavor_for_path,
    flavor_named,
    model_from_path,
    read_body,
)

if TYPE_CHECKING:
    from costtrail.sdk.recorder import Recorder

log = logging.getLogger("costtrail.sdk")

MAX_JSON_CAPTURE = 64 * 1024 * 1024
MAX_ROUTES = 1024


def endpoint_of(path: str) -> tuple[str, str] | None:
    """(endpoint, event kind) for a model-call URL path, or ``None`` for other API paths."""
    flavor = flavor_for_path(path)
    return (flavor.name, flavor.kind) if flavor is not None else None


_Route = tuple[str, str, str | None, Flavor]


def _route(provider: str, path: str) -> _Route | None:
    """(endpoint, kind, model the path names, flavor) of a model-call path (``None``: another path)."""
    found = endpoint_of(path)
    if found is None:
        return None
    endpoint, kind = found
    return endpoint, kind, model_from_path(path), flavor_named(provider, endpoint)


class _StreamScan:
    """A streamed SSE body read through :class:`StreamReading`; the call finishes when it closes."""

    def __init__(self, call: InstrumentedCall, stream: StreamReading) -> None:
        self.call, self.stream = call, stream
        self.failed: BaseException | None = None
        self.ended = False

    def feed(self, chunk: bytes) -> bytes:
        return self.stream.feed(chunk)

    def end(self) -> bytes:
        self.ended = True
        return self.stream.close()

    def abort(self, exc: BaseException) -> None:
        if not isinstance(exc, GeneratorExit):  # the caller stopped iterating: abandoned, not failed
            self.failed = exc

    def closed(self) -> None:
        """Read to the end, cut by the network, or abandoned by the caller: emit the call's event."""
        try:
            if not self.ended:
                self.stream.abandon() if self.failed is None else self.stream.close()
            self.call.reading = self.stream.reading
            if self.failed is not None and not self.stream.reading.complete:
                self.call.fail(self.failed)
            else:
                self.call.finish()
        except Exception:
            log.warning("costtrail: could not finish a streamed call", exc_info=True)


@functools.cache
def _stream_classes(library: str) -> tuple[type[Any], type[Any]]:
    """Byte-stream wrappers deriving from the client library's own base classes (httpx or httpx2)."""
    module = importlib.import_module(library)

    class SyncScan(module.SyncByteStream):  # type: ignore[misc,name-defined]
        def __init__(self, inner: Any, scanner: Any) -> None:
            self._inner, self._scanner = inner, scanner

        def __iter__(self) -> Iterator[bytes]:
            scanner = self._scanner
            try:
                for chunk in self._inner:
                    out = scanner.feed(chunk)
                    if out:
                        yield out
                tail = scanner.end()
                if tail:
                    yield tail
            except BaseException as exc:
                scanner.abort(exc)
                raise

        def close(self) -> None:
            try:
                self._inner.close()
            finally:
                self._scanner.closed()

    class AsyncScan(module.AsyncByteStream):  # type: ignore[misc,name-defined]
        def __init__(self, inner: Any, scanner: Any) -> None:
            self._inner, self._scanner = inner, scanner

        async def __aiter__(self) -> AsyncIterator[bytes]:
            scanner = self._scanner
            try:
                async for chunk in self._inner:
                    out = scanner.feed(chunk)
                    if out:
                        yield out
                tail = scanner.end()
                if tail:
                    yield tail
            except BaseException as exc:
                scanner.abort(exc)
                raise

        async def aclose(self) -> None:
            try:
                await self._inner.aclose()
            finally:
                self._scanner.closed()

    return SyncScan, AsyncScan


def _library_of(http_client: Any) -> str:
    for cls in type(http_client).__mro__:
        root = cls.__module__.split(".")[0]
        if root in ("httpx", "httpx2"):
            return root
    raise TypeError(f"not an httpx client: {type(http_client).__name__}")


class _JsonCollector:
    """For an unwrapped, non-SSE streamed body: keep the bytes and read usage when it closes."""

    def __init__(self, call: InstrumentedCall, provider: str) -> None:
        self.call, self.provider = call, provider
        self.parts: list[bytes] = []
        self.size = 0
        self.failed: str | None = None

    def feed(self, chunk: bytes) -> bytes:
        if self.size <= MAX_JSON_CAPTURE:
            self.parts.append(chunk)
            self.size += len(chunk)
        return chunk

    def end(self) -> bytes:
        return b""

    def abort(self, exc: BaseException) -> None:
        self.failed = type(exc).__name__

    def closed(self) -> None:
        if self.failed:
            self.call.finish("error", self.failed)
            return
        flavor, parts = self.call.flavor, self.parts
        self.call.read_later = lambda: read_body(flavor, b"".join(parts))  # on the writer thread
        self.call.finish()


class _Sender:
    """What every request one patched HTTP client sends shares (the routes of its paths, kept)."""

    __slots__ = (
        "check_budgets",
        "deployments",
        "methods_wrapped",
        "provider",
        "recorded_as",
        "recorder_ref",
        "routes",
    )

    def __init__(
        self,
        provider: str,
        recorder_ref: RecorderRef,
        recorded_as: str,
        deployments: Mapping[str, str] | None,
        *,
        check_budgets: bool,
        methods_wrapped: bool,
    ) -> None:
        self.provider, self.recorder_ref = provider, recorder_ref
        self.recorded_as, self.deployments = recorded_as, deployments
        self.check_budgets, self.methods_wrapped = check_budgets, methods_wrapped
        self.routes: dict[str, _Route | None] = {}

    def route_of(self, path: str) -> _Route | None:
        """The route of a path (a client calls few paths: the first 1,024 are kept)."""
        routes = self.routes
        if path in routes:
            return routes[path]
        found = _route(self.provider, path)
        if len(routes) < MAX_ROUTES:
            routes[path] = found
        return found


class _Attached:
    """An HTTP attempt of the SDK call in progress (a wrapped method's, counted already): its answer kept."""

    __slots__ = ("call",)

    def __init__(self, call: InstrumentedCall) -> None:
        self.call = call

    def received(self, response: Any, stream_cls: type[Any]) -> Any:
        """Kept for the writer thread to read, or its stream read as the caller iterates it. Never raises."""
        try:
            call = self.call
            status = call.on_response(response)
            if 200 <= status < 300:
                content = getattr(response, "_content", None)
                if isinstance(content, bytes):  # read whole: read when the event is built, on the writer
                    headers = call.response_headers
                    call.read_later = functools.partial(read_whole, call.flavor, content, headers)
                else:
                    _read_as_streamed(call, response, stream_cls)
        except Exception:
            log.warning("costtrail: could not read a provider response", exc_info=True)
        return response

    def failed(self, exc: BaseException) -> None:
        """Nothing: the wrapped method records its call's failure."""


class _OwnRequest:
    """A model call no wrapped SDK method made (each Gemini request): one attempt, its own event.

    Made when the request is sent on the full path (enforced budgets, a stream, no answer); a
    request answered whole on the fast path is queued as a partial of :func:`_answered` instead.
    Either way the caller's thread only notes what the event needs (the attribution and time of
    its start, the request's path and body, the answer's status, headers, body and time) and the
    :class:`InstrumentedCall` is made on the sink's writer thread. An answer read as a stream, or
    no answer, makes it at once (:meth:`open`).
    """

    __slots__ = (
        "attribution",
        "body",
        "content",
        "defaults",
        "ended",
        "headers",
        "path",
        "payload_bytes",
        "recorder",
        "route",
        "sender",
        "started",
        "started_wall",
        "status",
    )

    def __init__(
        self,
        sender: _Sender,
        recorder: Recorder,
        route: _Route,
        path: str,
        request: Any,
        attribution: Mapping[str, Any],
        started_wall: float,
        started: float,
    ) -> None:
        self.sender, self.recorder, self.route, self.path = sender, recorder, route, path
        self.attribution, self.started_wall, self.started = attribution, started_wall, started
        self.body, self.payload_bytes = sent_body(request)

    def open(self) -> InstrumentedCall:
        """This request as an :class:`InstrumentedCall`, started when it was sent."""
        call = _own_call(self.sender, self.route, self.path, self.body, self.payload_bytes, self.attribution)
        call.started_wall, call.started = self.started_wall, self.started
        return call

    def received(self, response: Any, stream_cls: type[Any]) -> Any:
        """A body read whole is queued as it is; a stream is read as the caller iterates it. Never raises."""
        try:
            content = getattr(response, "_content", None)
            if isinstance(content, bytes):
                self.ended = time.perf_counter()
                self.status, self.headers, self.content = response.status_code, response.headers, content
                self.defaults = self.recorder.defaults
                self.recorder.emit_later(self)
                return response
            call = self.open()
            status = call.on_response(response)
            if 200 <= status < 300:
                _read_as_streamed(call, response, stream_cls)
            else:
                call.finish("error", f"http_{status}")
        except Exception:
            log.warning("costtrail: could not read a provider response", exc_info=True)
        return response

    def failed(self, exc: BaseException) -> None:
        """No answer (refused, timed out, cancelled): the call's failure is its event. Never raises."""
        try:
            self.open().fail(exc)
        except Exception:
            log.warning("costtrail: could not record a failed request", exc_info=True)

    def __call__(self) -> dict[str, Any]:
        """The event (on the writer thread; on the caller's when enforced budgets must count it first)."""
        call = self.open()
        return _answered_whole(call, self.status, self.headers, self.content, self.ended, self.defaults)


def _own_call(
    sender: _Sender,
    route: _Route,
    path: str,
    body: bytes | None,
    payload_bytes: int,
    attribution: Mapping[str, Any],
) -> InstrumentedCall:
    """The :class:`InstrumentedCall` of a request of its own: its one attempt made."""
    endpoint, kind, model, flavor = route
    if model is None:
        model = _requested_model(body)
    call = InstrumentedCall(
        sender.recorder_ref,
        sender.provider,
        endpoint,
        kind,
        model,
        sender.recorded_as,
        sender.deployments,
        flavor,
        by_http=True,
    )
    call.attribution = attribution
    call.attempt(path, body, payload_bytes)
    return call


def _answered_whole(
    call: InstrumentedCall,
    status: int,
    headers: Any,
    content: bytes,
    ended: float,
    defaults: Mapping[str, Any],
) -> dict[str, Any]:
    """The event of a request of its own whose answer was read whole (on the writer thread)."""
    call.http_status, call.response_headers = status, headers
    call.reading = read_whole(call.flavor, content, headers)  # an error body names the error
    call.done = True
    call.later = (None, None, ended - call.started, defaults)
    return call()


def _answered(
    sender: _Sender,
    recorder: Recorder,
    route: _Route,
    path: str,
    body: bytes,
    attribution: Mapping[str, Any],
    started_wall: float,
    started: float,
    ended: float,
    response: tuple[int, Any, bytes],
) -> dict[str, Any]:
    """The event of a request of its own answered whole on the fast path (on the writer thread).

    Only plain values are kept from the request and the answer (the answer's status, headers and
    body): the objects themselves are freed by the SDK as they would be without costtrail.
    """
    call = _own_call(sender, route, path, body, len(body), attribution)
    call.started_wall, call.started = started_wall, started
    status, headers, content = response
    return _answered_whole(call, status, headers, content, ended, recorder.defaults)


def _answered_live(sent: SentCall, sender: _Sender, response: Any, stream_cls: type[Any]) -> Any:
    """A fast-path call answered with a stream: it goes on as the full path's call. Never raises."""
    try:
        if sender.route_of(response.request.url.path) is None:
            sent.exchanges.pop()  # not a model call: not this call's attempt
            return response
        call = sent.replay()
    except Exception:
        log.warning("costtrail: could not read a provider response", exc_info=True)
        return response
    return _Attached(call).received(response, stream_cls)


def _begin(sender: _Sender, request: Any) -> _Attached | _OwnRequest | None:
    """What one HTTP attempt belongs to: the SDK call in progress, or a request of its own.

    A request of its own is first asked of enforced budgets when the sender checks them
    (:func:`check_request_budget`, which raises ``BudgetExceeded``).
    """
    try:
        path = request.url.path
        found = sender.route_of(path)
        if found is None:
            return None
        if sender.methods_wrapped:
            sent = SENT_CALL.get()
            call = CURRENT_CALL.get() if sent is None else sent.replay()
            if call is not None:
                call.attempt(path, *sent_body(request))
                return _Attached(call)
        recorder = sender.recorder_ref()
        if recorder is None:
            return None
    except Exception:
        log.warning("costtrail: could not read an outgoing request", exc_info=True)
        return None
    if sender.check_budgets and recorder.observer is not None and hook_of(recorder) is not None:
        check_request_budget(sender, found, request)
    try:
        attribution, started_wall, started = current_attribution(), time.time(), time.perf_counter()
        return _OwnRequest(sender, recorder, found, path, request, attribution, started_wall, started)
    except Exception:
        log.warning("costtrail: could not read an outgoing request", exc_info=True)
        return None


def _read_as_streamed(call: InstrumentedCall, response: Any, stream_cls: type[Any]) -> None:
    """A 2xx body not read yet: an SSE stream is read as the caller iterates it; any other body,
    of a call of its own, is kept whole until it closes."""
    if "text/event-stream" in response.headers.get("content-type", ""):
        reading = StreamReading(call.flavor, strip_usage=call.hide_usage_chunk)
        response.stream = stream_cls(response.stream, _StreamScan(call, reading))
        call.streaming = True
    elif call.by_http:
        response.stream = stream_cls(response.stream, _JsonCollector(call, call.provider))


def _requested_model(body: bytes | None) -> str | None:
    """The body's ``model`` (a Gemini URL names it instead: read by :func:`_route`)."""
    try:
        data = json.loads(body) if body is not None else None
    except Exception:
        return None
    model = data.get("model") if isinstance(data, dict) else None
    return model if isinstance(model, str) else None


def check_request_budget(sender: _Sender, route: _Route, request: Any) -> None:
    """Enforced budgets (asked only when enforced), before a request no wrapped SDK method checked.

    Priced as the gateway prices it: the model the path names, the body's size and its
    ``generationConfig.maxOutputTokens``. Raises :class:`~costtrail.controls.gate.BudgetExceeded`.
    """
    try:
        body = json.loads(request.content)
    except Exception:
        body = None
    priced: dict[str, Any] = dict(body) if isinstance(body, dict) else {}
    config = priced.get("generationConfig")
    cap = config.get("maxOutputTokens") if isinstance(config, dict) else None
    if isinstance(cap, int):
        priced["max_output_tokens"] = cap
    if route[2] is not None:
        priced["model"] = route[2]
    check_before_send(sender.recorder_ref, sender.recorded_as, priced)


def patch_send(
    http_client: Any,
    provider: str,
    recorder_ref: RecorderRef,
    recorded_as: str | None = None,
    deployments: Mapping[str, str] | None = None,
    *,
    check_budgets: bool = False,
    methods_wrapped: bool = True,
) -> bool:
    """Wrap ``http_client.send`` (an httpx/httpx2 ``Client`` or ``AsyncClient``) once; True if patched now.

    ``provider`` names the wire format; ``recorded_as`` the provider events are recorded as
    (the host's, see :func:`costtrail.wire.provider_for_url`), ``provider`` by default;
    ``deployments`` (Azure OpenAI) maps deployment names to models; ``check_budgets``: ask
    enforced budgets before sending a model call no wrapped method asked (:func:`check_request_budget`);
    ``methods_wrapped=False`` (google-genai: no method of the client is wrapped): each model request
    is a call of its own, never an attempt of an SDK call in progress (that one is another client's).
    """
    recorded = recorded_as or provider
    if getattr(http_client, "_costtrail_patched", False):
        return False
    sync_cls, async_cls = _stream_classes(_library_of(http_client))
    original = http_client.send
    sender = _Sender(
        provider,
        recorder_ref,
        recorded,
        deployments,
        check_budgets=check_budgets,
        methods_wrapped=methods_wrapped,
    )

    routes, route_of, clock, now = sender.routes, sender.route_of, time.perf_counter, time.time
    # The fast paths below are written out in each send (sync and async): on the caller's
    # thread each Python call costs ~1-2 us, so they make as few as they can (see SentCall).
    # Anything else (enforced budgets, the first request to a path, a stream) takes _begin's path.

    if inspect.iscoroutinefunction(original):

        async def send_async(request: Any, *args: Any, **kwargs: Any) -> Any:
            if methods_wrapped:  # an attempt of the wrapped method's call on its fast path
                sent = SENT_CALL.get()
                if sent is not None and sent.live is None:
                    exchange = [request, None, route_of]  # the replay skips a request of no model call
                    sent.exchanges.append(exchange)
                    response = await original(request, *args, **kwargs)  # raised: the method records it
                    if isinstance(getattr(response, "_content", None), bytes):
                        exchange[1] = response
                        return response
                    return _answered_live(sent, sender, response, async_cls)
            else:  # a request of its own (Google's): noted, its event built on the writer thread
                try:
                    path = request.url.path
                    route = routes[path] if path in routes else route_of(path)
                    recorder = None if route is None else recorder_ref()
                except Exception:  # _begin below reads it again, and says what failed
                    route = recorder = None
                body = getattr(request, "_content", None)  # None: a streamed upload, not read
                if (
                    route is not None
                    and recorder is not None
                    and recorder.observer is None
                    and body is not None
                ):
                    attribution, started_wall, started = read_attribution(), now(), clock()
                    try:
                        response = await original(request, *args, **kwargs)
                    except BaseException as exc:
                        own = _OwnRequest(
                            sender, recorder, route, path, request, attribution, started_wall, started
                        )
                        own.failed(exc)
                        raise
                    content = getattr(response, "_content", None)
                    if isinstance(content, bytes):
                        answer = (response.status_code, response.headers, content)
                        noted = (sender, recorder, route, path, body, attribution, started_wall, started)
                        built = functools.partial(_answered, *noted, clock(), answer)
                        lane = recorder.quick_lane  # emit_later(built) without its Python calls
                        if lane is not None and len(lane[0]) < lane[1]:
                            lane[0].append(built)
                        else:
                            recorder.emit_later(built)
                        return response
                    own = _OwnRequest(
                        sender, recorder, route, path, request, attribution, started_wall, started
                    )
                    return own.received(response, async_cls)
            seen = _begin(sender, request)
            if seen is None:
                return await original(request, *args, **kwargs)
            try:
                response = await original(request, *args, **kwargs)
            except BaseException as exc:
                seen.failed(exc)
                raise
            return seen.received(response, async_cls)

        http_client.send = send_async
    else:

        def send(request: Any, *args: Any, **kwargs: Any) -> Any:
            if methods_wrapped:  # an attempt of the wrapped method's call on its fast path
                sent = SENT_CALL.get()
                if sent is not None and sent.live is None:
                    exchange = [request, None, route_of]  # the replay skips a request of no model call
                    sent.exchanges.append(exchange)
                    response = original(request, *args, **kwargs)  # raised: the method records it
                    if isinstance(getattr(response, "_content", None), bytes):
                        exchange[1] = response
                        return response
                    return _answered_live(sent, sender, response, sync_cls)
            else:  # a request of its own (Google's): noted, its event built on the writer thread
                try:
                    path = request.url.path
                    route = routes[path] if path in routes else route_of(path)
                    recorder = None if route is None else recorder_ref()
                except Exception:  # _begin below reads it again, and says what failed
                    route = recorder = None
                body = getattr(request, "_content", None)  # None: a streamed upload, not read
                if (
                    route is not None
                    and recorder is not None
                    and recorder.observer is None
                    and body is not None
                ):
                    attribution, started_wall, started = read_attribution(), now(), clock()
                    try:
                        response = original(request, *args, **kwargs)
                    except BaseException as exc:
                        own = _OwnRequest(
                            sender, recorder, route, path, request, attribution, started_wall, started
                        )
                        own.failed(exc)
                        raise
                    content = getattr(response, "_content", None)
                    if isinstance(content, bytes):
                        answer = (response.status_code, response.headers, content)
                        noted = (sender, recorder, route, path, body, attribution, started_wall, started)
                        built = functools.partial(_answered, *noted, clock(), answer)
                        lane = recorder.quick_lane  # emit_later(built) without its Python calls
                        if lane is not None and len(lane[0]) < lane[1]:
                            lane[0].append(built)
                        else:
                            recorder.emit_later(built)
                        return response
                    own = _OwnRequest(
                        sender, recorder, route, path, request, attribution, started_wall, started
                    )
                    return own.received(response, sync_cls)
            seen = _begin(sender, request)
            if seen is None:
                return original(request, *args, **kwargs)
            try:
                response = original(request, *args, **kwargs)
            except BaseException as exc:
                seen.failed(exc)
                raise
            return seen.received(response, sync_cls)

        http_client.send = send
    http_client._costtrail_patched = True
    return True
