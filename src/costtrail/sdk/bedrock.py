"""``instrument(client)`` for a boto3 ``bedrock-runtime`` client: Converse, InvokeModel and their streams.

boto3 is synchronous only (there is no async Bedrock client in boto3), so are these wrappers.
Each of ``converse``, ``converse_stream``, ``invoke_model`` and
``invoke_model_with_response_stream`` is wrapped on the client instance; the
call becomes one event when the method returns or raises, or, for a stream,
when the caller has read it to its end (or stopped reading, or it broke).
A botocore ``before-send`` handler counts the attempts botocore's own retries
make and the request body's size. A ``converse`` or ``invoke_model`` that returns, with
no budgets enforced, takes a fast path that does less on the caller's thread and records
the same event (:class:`_QuickCall`). Responses are read by :mod:`costtrail.wire.bedrock`
(the one reading of Bedrock); the event's ``model`` is the requested ``modelId``
(its cross-region profile ``us.``/``eu.``/``global.`` decides the price), its
``region`` the ARN's or the client's ``region_name``, its provider ``aws``.
"""

from __future__ import annotations

import functools
import io
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from contextvars import ContextVar
from typing import Any

from costtrail.sdk.calls import CURRENT_CALL, InstrumentedCall, RecorderRef
from costtrail.sdk.context import read_attribution
from costtrail.sdk.enforcement import check_before_send
from costtrail.wire.bedrock import BedrockStream, bedrock_model, read_converse, read_invoke
from costtrail.wire.flavors import AWS
from costtrail.wire.reading import STREAM_CUT

log = logging.getLogger("costtrail.sdk")

SERVICE = "bedrock-runtime"
# SDK method -> (wire endpoint, streamed)
_OPERATIONS = {
    "converse": ("converse", False),
    "converse_stream": ("converse", True),
    "invoke_model": ("invoke", False),
    "invoke_model_with_response_stream": ("invoke", True),
}


def is_bedrock_client(client: Any) -> bool:
    """True for a boto3/botocore ``bedrock-runtime`` client (boto3 itself is not imported)."""
    service = getattr(getattr(getattr(client, "meta", None), "service_model", None), "service_name", None)
    return bool(service == SERVICE)


class BedrockCall(InstrumentedCall):
    """A Bedrock call: an :class:`InstrumentedCall` that also records the region the call ran in."""

    __slots__ = ("region",)

    def __init__(self, recorder_ref: RecorderRef, endpoint: str, kind: str, model: str, region: str | None):
        super().__init__(recorder_ref, AWS, endpoint, kind, model, AWS)
        self.region = region

    def _event(self, status: str | None, error_type: str | None, elapsed: float) -> dict[str, Any]:
        event = super()._event(status, error_type, elapsed)
        event["model"] = self.requested_model  # the body names the bare model, not the profile priced
        if self.region:
            event["region"] = self.region
        return event


# A client calls few model ids: each is resolved once (BedrockModel is frozen).
_where = functools.lru_cache(maxsize=1024)(bedrock_model)


def _open(
    recorder_ref: RecorderRef, endpoint: str, kwargs: dict[str, Any], region: str | None
) -> BedrockCall:
    model_id = kwargs.get("modelId")
    where = _where(model_id if isinstance(model_id, str) else "", region)
    kind = "embedding" if endpoint == "invoke" and "embed" in where.model else "llm"
    call = BedrockCall(
        recorder_ref, "invoke_embedding" if kind == "embedding" else endpoint, kind, where.model, where.region
    )
    if where.arn:
        call.attributes["model_arn"] = where.arn
    if where.profile:
        call.attributes["inference_profile"] = where.profile
    return call


def _on_send(request: Any, **_: Any) -> None:
    """botocore's ``before-send``: one attempt of the current call (returns None: a value would answer it)."""
    call = _QUICK_CALL.get() or CURRENT_CALL.get()
    if call is None:
        return
    try:
        call.attempts += 1
        body = request.body
        if isinstance(body, bytes | bytearray):
            call.request_body = bytes(body)
            call.payload_bytes = len(body)
    except Exception:
        log.warning("costtrail: could not read a Bedrock request", exc_info=True)


def _metadata(call: InstrumentedCall, response: Any) -> dict[str, str]:
    meta = response.get("ResponseMetadata") if isinstance(response, dict) else None
    if not isinstance(meta, dict):
        return {}
    status = meta.get("HTTPStatusCode")
    call.http_status = status if isinstance(status, int) else call.http_status
    rid = meta.get("RequestId")
    call.request_id = rid if isinstance(rid, str) and rid else call.request_id
    headers = meta.get("HTTPHeaders")
    return headers if isinstance(headers, dict) else {}


def _failed(call: InstrumentedCall, exc: BaseException) -> None:
    """botocore's ClientError carries the HTTP status, the request id and AWS's error code."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        _metadata(call, response)
        code = response.get("Error", {}).get("Code") if isinstance(response.get("Error"), dict) else None
        if code:
            call.error_type = str(code)
    if call.http_status is not None and call.http_status < 300:
        call.http_status = None  # the error came after a 2xx (a body that could not be read)
    call.fail(exc)


def _returned(call: InstrumentedCall, streamed: bool, response: Any) -> Any:
    try:
        headers = _metadata(call, response)
        if streamed:
            key = "stream" if call.endpoint == "converse" else "body"
            inner = response.get(key)
            if inner is not None:
                reader = BedrockStream("converse" if call.endpoint == "converse" else "invoke")
                response[key] = _Events(inner, call, reader)
                call.streaming = True
                return response
        elif call.endpoint == "converse":
            # Read on the writer thread, from a copy: the caller owns the dict (and may pop its keys).
            call.read_later = functools.partial(read_converse, dict(response))
        else:
            body = response["body"]
            data = body.read()
            response["body"] = _streaming_body(body, data)
            call.read_later = functools.partial(read_invoke, data, dict(headers))
    except Exception:
        log.warning("costtrail: could not read a Bedrock response", exc_info=True)
    call.finish()
    return response


def _streaming_body(original: Any, data: bytes) -> Any:
    """The body already read, handed back as the same botocore ``StreamingBody`` type."""
    return type(original)(io.BytesIO(data), len(data))


class _Events:
    """The botocore ``EventStream`` as the caller iterates it, read on the way; the call ends with it."""

    def __init__(self, inner: Any, call: InstrumentedCall, reader: BedrockStream) -> None:
        self._inner, self._call, self._reader = inner, call, reader

    def __iter__(self) -> Iterator[Any]:
        reader, call = self._reader, self._call
        try:
            for event in self._inner:
                try:
                    reader.feed(event)
                except Exception:
                    log.warning("costtrail: could not read a Bedrock stream event", exc_info=True)
                yield event
        except GeneratorExit:
            reader.abandon()
            raise
        except BaseException as exc:
            response = getattr(exc, "response", None)
            code = response.get("Error", {}).get("Code") if isinstance(response, dict) else None
            if code:
                reader.error(str(code))  # an exception event: modelStreamErrorException...
            reader.end(STREAM_CUT)
            self._inner.close()  # nothing more can be read: give the connection back
            raise
        finally:
            reader.end(STREAM_CUT)
            call.reading = reader.reading
            call.finish()

    def close(self) -> None:
        try:
            self._inner.close()
        finally:
            self._abandoned()

    def _abandoned(self) -> None:
        if not self._call.done:
            self._reader.abandon()
            self._call.reading = self._reader.reading
            self._call.finish()

    def __del__(self) -> None:  # a stream dropped unread still records its call and frees its socket
        try:
            self.close()
        except Exception:
            log.warning("costtrail: could not close a dropped Bedrock stream", exc_info=True)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def _wrap(original: Callable[..., Any], recorder_ref: RecorderRef, method: str, region: str | None) -> Any:
    endpoint, streamed = _OPERATIONS[method]

    @functools.wraps(original)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        check_before_send(recorder_ref, AWS, {"model": kwargs.get("modelId"), **kwargs})
        try:
            call = _open(recorder_ref, endpoint, kwargs, region)
        except Exception:
            log.warning("costtrail: could not start recording a Bedrock call", exc_info=True)
            return original(*args, **kwargs)
        token = CURRENT_CALL.set(call)
        try:
            response = original(*args, **kwargs)
        except BaseException as exc:
            _failed(call, exc)
            raise
        finally:
            CURRENT_CALL.reset(token)
        return _returned(call, streamed, response)

    return wrapper if streamed else _wrap_quick(original, wrapper, (recorder_ref, endpoint, region))


class _QuickCall:
    """A ``converse``/``invoke_model`` call on the fast path; called, it returns its event.

    The caller waits while its call is recorded, after botocore's own work has
    pushed costtrail's code and objects out of the CPU's caches: each Python function
    and object touched then costs more than its instructions. So a call that returns,
    with no budgets enforced, takes on the caller's thread only the clocks, the
    attribution, the attempts and the answer, into this one object queued whole; the
    sink's writer thread calls it to open the :class:`BedrockCall` the full path would
    have and build the same event. Failures, streams and enforced budgets take the full path.
    """

    __slots__ = (
        "answer",
        "attempts",
        "attribution",
        "body",
        "defaults",
        "elapsed",
        "model_id",
        "payload_bytes",
        "request_body",
        "site",
        "started",
        "started_wall",
    )

    answer: dict[str, Any]  # a copy of botocore's response dict: the caller owns the original
    attempts: int
    attribution: Mapping[str, Any]
    body: bytes  # an invoke_model body, read
    defaults: Mapping[str, Any]
    elapsed: float
    model_id: Any
    payload_bytes: int
    request_body: bytes
    site: tuple[RecorderRef, str, str | None]  # the client's: recorder, wire endpoint, region
    started: float
    started_wall: float

    def opened(self) -> BedrockCall:
        """The call the full path opens, with what this one has taken so far."""
        recorder_ref, endpoint, region = self.site
        call = _open(recorder_ref, endpoint, {"modelId": self.model_id}, region)
        call.attribution, call.started_wall, call.started = self.attribution, self.started_wall, self.started
        call.attempts, call.payload_bytes = self.attempts, self.payload_bytes
        call.request_body = self.request_body
        return call

    def __call__(self) -> dict[str, Any]:
        call = self.opened()
        headers = _metadata(call, self.answer)
        if self.site[1] == "converse":
            call.reading = read_converse(self.answer)
        else:
            call.reading = read_invoke(self.body, headers)
        call.done = True
        call.later = (None, None, self.elapsed, self.defaults)
        return call()


# The fast path's call in progress, for _on_send (the full path's is CURRENT_CALL).
_QUICK_CALL: ContextVar[_QuickCall | None] = ContextVar("costtrail_bedrock_call", default=None)


def _wrap_quick(
    original: Callable[..., Any], full: Callable[..., Any], site: tuple[RecorderRef, str, str | None]
) -> Any:
    recorder_ref, endpoint, _ = site
    clock, wall_clock = time.perf_counter, time.time

    @functools.wraps(original)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        recorder = recorder_ref()
        if recorder is None or recorder.observer is not None:
            return full(*args, **kwargs)  # enforced budgets see the call before it is sent
        quick = _QuickCall()
        quick.site, quick.model_id, quick.attribution = site, kwargs.get("modelId"), read_attribution()
        quick.attempts, quick.payload_bytes, quick.request_body = 0, 0, b""
        quick.started_wall, quick.started = wall_clock(), clock()
        token = _QUICK_CALL.set(quick)
        try:
            response = original(*args, **kwargs)
        except BaseException as exc:
            _quick_failed(quick, exc)
            raise
        finally:
            _QUICK_CALL.reset(token)
        try:
            if endpoint == "invoke":
                body = response["body"]
                quick.body = body.read()
                response["body"] = _streaming_body(body, quick.body)
            quick.answer = dict(response)
        except Exception:
            _unread(quick, response)
            return response
        quick.elapsed, quick.defaults = clock() - quick.started, recorder.defaults
        lane = recorder.quick_lane  # emit_later(quick) without its Python calls
        if lane is not None and len(lane[0]) < lane[1]:
            lane[0].append(quick)
        else:
            recorder.emit_later(quick)
        return response

    return wrapper


def _quick_failed(quick: _QuickCall, exc: BaseException) -> None:
    try:
        call = quick.opened()
    except Exception:
        log.warning("costtrail: could not start recording a Bedrock call", exc_info=True)
        return
    _failed(call, exc)


def _unread(quick: _QuickCall, response: Any) -> None:
    """An answer that could not be taken (its body broke mid-read) ends as on the full path."""
    log.warning("costtrail: could not read a Bedrock response", exc_info=True)
    try:
        call = quick.opened()
        _metadata(call, response)
    except Exception:
        log.warning("costtrail: could not record a Bedrock call", exc_info=True)
        return
    call.finish()


def instrument_bedrock(client: Any, recorder_ref: RecorderRef) -> Any:
    """Instrument a boto3 ``bedrock-runtime`` client in place (idempotent) and return it."""
    if getattr(client, "_costtrail_instrumented", False):
        return client
    region = getattr(client.meta, "region_name", None)
    client.meta.events.register(f"before-send.{SERVICE}", _on_send, unique_id="costtrail-bedrock-send")
    for method in _OPERATIONS:
        original = getattr(client, method, None)
        if original is not None:
            setattr(client, method, _wrap(original, recorder_ref, method, region))
    client._costtrail_instrumented = True
    return client
