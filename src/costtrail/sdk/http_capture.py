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
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any

from costtrail.sdk.calls import CURRENT_CALL, InstrumentedCall, RecorderRef
from costtrail.sdk.enforcement import check_before_send, hook_of
from costtrail.wire import StreamReading, flavor_for_path, model_from_path, read_body

log = logging.getLogger("costtrail.sdk")

MAX_JSON_CAPTURE = 64 * 1024 * 1024


def endpoint_of(path: str) -> tuple[str, str] | None:
    """(endpoint, event kind) for a model-call URL path, or ``None`` for other API paths."""
    flavor = flavor_for_path(path)
    return (flavor.name, flavor.kind) if flavor is not None else None


@functools.lru_cache(maxsize=1024)
def _route(path: str) -> tuple[str, str, str | None] | None:
    """(endpoint, kind, model the path names) of a model-call path; a client calls few distinct paths."""
    found = endpoint_of(path)
    return None if found is None else (*found, model_from_path(path))


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


class _Exchange:
    """One HTTP attempt, attached to the current SDK call or recorded on its own."""

    def __init__(
        self,
        provider: str,
        recorder_ref: RecorderRef,
        request: Any,
        recorded_as: str,
        deployments: Mapping[str, str] | None = None,
    ) -> None:
        self.provider = provider
        self.call: InstrumentedCall | None = None
        self.own = False
        found = _route(request.url.path)
        if found is None:
            return
        call = CURRENT_CALL.get()
        if call is None:
            endpoint, kind, model = found
            if model is None:
                model = _requested_model(request)
            call = InstrumentedCall(recorder_ref, provider, endpoint, kind, model, recorded_as, deployments)
            self.own = True
        call.on_request(request)
        self.call = call

    def failed(self, exc: BaseException) -> None:
        if self.call is not None and self.own:
            self.call.fail(exc)

    def received(self, response: Any, stream_cls: type[Any]) -> Any:
        call = self.call
        if call is None:
            return response
        call.on_response(response)
        status = response.status_code
        ok = 200 <= status < 300
        if ok and "text/event-stream" in response.headers.get("content-type", ""):
            reading = StreamReading(call.flavor, strip_usage=call.hide_usage_chunk)
            response.stream = stream_cls(response.stream, _StreamScan(call, reading))
            call.streaming = True
        elif self.own and not ok:
            content = getattr(response, "_content", None)
            if isinstance(content, bytes):  # the error body names the error, as the gateway reads it
                call.read_later = functools.partial(read_body, call.flavor, content)
                call.finish()
            else:
                call.finish("error", f"http_{status}")
        elif ok:
            content = getattr(response, "_content", None)
            if isinstance(content, bytes):  # read when the event is built: on the writer thread
                call.read_later = functools.partial(read_body, call.flavor, content)
                if self.own:
                    call.finish()
            elif self.own:
                response.stream = stream_cls(response.stream, _JsonCollector(call, self.provider))
        return response


def _requested_model(request: Any) -> str | None:
    """The body's ``model`` (a Gemini URL names it instead: read by :func:`_route`)."""
    try:
        body = json.loads(request.content)
    except Exception:
        return None
    model = body.get("model") if isinstance(body, dict) else None
    return model if isinstance(model, str) else None


def check_request_budget(recorder_ref: RecorderRef, recorded_as: str, request: Any) -> None:
    """Enforced budgets, asked before a request no wrapped SDK method checked (a Gemini call).

    Priced as the gateway prices it: the model the path names, the body's size and its
    ``generationConfig.maxOutputTokens``. Raises :class:`~costtrail.controls.gate.BudgetExceeded`.
    """
    if hook_of(recorder_ref()) is None:
        return  # not enforced: nothing is decoded
    found = _route(request.url.path)
    if found is None or CURRENT_CALL.get() is not None:
        return
    try:
        body = json.loads(request.content)
    except Exception:
        body = None
    priced: dict[str, Any] = dict(body) if isinstance(body, dict) else {}
    config = priced.get("generationConfig")
    cap = config.get("maxOutputTokens") if isinstance(config, dict) else None
    if isinstance(cap, int):
        priced["max_output_tokens"] = cap
    if found[2] is not None:
        priced["model"] = found[2]
    check_before_send(recorder_ref, recorded_as, priced)


def _begin(
    provider: str,
    recorder_ref: RecorderRef,
    request: Any,
    recorded_as: str,
    deployments: Mapping[str, str] | None,
) -> _Exchange | None:
    try:
        exchange = _Exchange(provider, recorder_ref, request, recorded_as, deployments)
    except Exception:
        log.warning("costtrail: could not read an outgoing request", exc_info=True)
        return None
    return exchange if exchange.call is not None else None


def _received(exchange: _Exchange, response: Any, stream_cls: type[Any]) -> Any:
    try:
        return exchange.received(response, stream_cls)
    except Exception:
        log.warning("costtrail: could not read a provider response", exc_info=True)
        return response


def _failed(exchange: _Exchange, exc: BaseException) -> None:
    try:
        exchange.failed(exc)
    except Exception:
        log.warning("costtrail: could not record a failed request", exc_info=True)


def patch_send(
    http_client: Any,
    provider: str,
    recorder_ref: RecorderRef,
    recorded_as: str | None = None,
    deployments: Mapping[str, str] | None = None,
    *,
    check_budgets: bool = False,
) -> bool:
    """Wrap ``http_client.send`` (an httpx/httpx2 ``Client`` or ``AsyncClient``) once; True if patched now.

    ``provider`` names the wire format; ``recorded_as`` the provider events are recorded as
    (the host's, see :func:`costtrail.wire.provider_for_url`), ``provider`` by default;
    ``deployments`` (Azure OpenAI) maps deployment names to models; ``check_budgets``: ask
    enforced budgets before sending a model call no wrapped method asked (:func:`check_request_budget`).
    """
    recorded = recorded_as or provider
    if getattr(http_client, "_costtrail_patched", False):
        return False
    sync_cls, async_cls = _stream_classes(_library_of(http_client))
    original = http_client.send

    if inspect.iscoroutinefunction(original):

        async def send_async(request: Any, *args: Any, **kwargs: Any) -> Any:
            if check_budgets:
                check_request_budget(recorder_ref, recorded, request)
            exchange = _begin(provider, recorder_ref, request, recorded, deployments)
            if exchange is None:
                return await original(request, *args, **kwargs)
            try:
                response = await original(request, *args, **kwargs)
            except BaseException as exc:
                _failed(exchange, exc)
                raise
            return _received(exchange, response, async_cls)

        http_client.send = send_async
    else:

        def send(request: Any, *args: Any, **kwargs: Any) -> Any:
            if check_budgets:
                check_request_budget(recorder_ref, recorded, request)
            exchange = _begin(provider, recorder_ref, request, recorded, deployments)
            if exchange is None:
                return original(request, *args, **kwargs)
            try:
                response = original(request, *args, **kwargs)
            except BaseException as exc:
                _failed(exchange, exc)
                raise
            return _received(exchange, response, sync_cls)

        http_client.send = send
    http_client._costtrail_patched = True
    return True
