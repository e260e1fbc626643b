"""``instrument(client)``: wrap the official ``openai`` and ``anthropic`` clients, sync and async.

Each wrapped method opens a :class:`~costtrail.sdk.calls.InstrumentedCall` for the
duration of the SDK's work (including its own retries) so that the call
becomes exactly one event: finished when the method returns, raises, or, for
a stream, when the stream ends. OpenAI streams get
``stream_options={"include_usage": True}`` when the caller did not ask for it
(the extra usage chunk is then hidden from them).
"""

from __future__ import annotations

import functools
import inspect
import logging
import sys
import time
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any

from costtrail.sdk.bedrock import instrument_bedrock, is_bedrock_client
from costtrail.sdk.calls import (
    CURRENT_CALL,
    SENT_CALL,
    InstrumentedCall,
    RecorderRef,
    SentCall,
    built_later,
)
from costtrail.sdk.enforcement import check_before_send
from costtrail.sdk.gemini import instrument_gemini, is_gemini_client
from costtrail.sdk.http_capture import patch_send
from costtrail.wire import provider_for_url, read_body
from costtrail.wire.azure import AZURE

log = logging.getLogger("costtrail.sdk")

# (resource path on the client, SDK method, endpoint name, event kind)
_OPENAI = (
    ("chat.completions", "create", "chat", "llm"),
    ("completions", "create", "completions", "llm"),
    ("responses", "create", "responses", "llm"),
    ("embeddings", "create", "embeddings", "embedding"),
)
_ANTHROPIC = (("messages", "create", "messages", "llm"),)
_INJECTS_USAGE = frozenset({"chat", "completions"})


def provider_of(client: Any) -> str:
    root = type(client).__module__.split(".")[0]
    if root not in ("openai", "anthropic"):
        raise TypeError(
            "costtrail.instrument() supports the official openai and anthropic clients, "
            "google-genai's genai.Client and boto3's bedrock-runtime client, "
            f"not {type(client).__name__}"
        )
    return root


def is_azure(client: Any) -> bool:
    """An ``openai.AzureOpenAI`` or ``AsyncAzureOpenAI`` client (whatever host it points at)."""
    openai = sys.modules.get("openai")  # loaded: the client is one of its classes, or no Azure client
    azure = getattr(openai, "AzureOpenAI", None), getattr(openai, "AsyncAzureOpenAI", None)
    return any(isinstance(cls, type) and isinstance(client, cls) for cls in azure)


def recorded_provider(client: Any, provider: str) -> str:
    """The provider of the client's ``base_url`` host (``groq`` for ``https://api.groq.com/openai/v1``).

    Unknown hosts (``localhost``, a private vLLM) keep the wire format's ``provider``; an Azure
    OpenAI client is ``azure`` wherever it points.
    """
    if is_azure(client):
        return AZURE
    base_url = getattr(client, "base_url", None)
    return provider_for_url(str(base_url), provider) if base_url is not None else provider


def _open_call(
    recorder_ref: RecorderRef,
    provider: str,
    endpoint: str,
    kind: str,
    kwargs: dict[str, Any],
    recorded_as: str,
    deployments: Mapping[str, str] | None,
) -> InstrumentedCall | None:
    try:
        model = kwargs.get("model")
        requested = model if isinstance(model, str) else None
        call = InstrumentedCall(recorder_ref, provider, endpoint, kind, requested, recorded_as, deployments)
        if endpoint in _INJECTS_USAGE and kwargs.get("stream") is True:
            options = kwargs.get("stream_options")
            if not isinstance(options, dict) or not options.get("include_usage"):
                kwargs["stream_options"] = {
                    **(options if isinstance(options, dict) else {}),
                    "include_usage": True,
                }
                call.hide_usage_chunk = True
        return call
    except Exception:
        log.warning("costtrail: could not start recording a call", exc_info=True)
        return None


def _returned(call: InstrumentedCall, provider: str, result: Any) -> None:
    """The SDK method returned: a stream finishes later, anything else now (read from its HTTP body)."""
    try:
        if call.streaming:
            return
        if call.reading is None and call.read_later is None and hasattr(result, "model_dump"):
            call.reading = read_body(call.flavor, result.model_dump(mode="json"))
    except Exception:
        log.warning("costtrail: could not read a %s response", provider, exc_info=True)
    call.finish()


def _priced_as(kwargs: dict[str, Any], deployments: Mapping[str, str] | None) -> dict[str, Any]:
    """The request as the budget check prices it: an Azure deployment named by its model."""
    model = kwargs.get("model")
    if not deployments or not isinstance(model, str) or model not in deployments:
        return kwargs
    return {**kwargs, "model": deployments[model]}


def _wrap(
    original: Callable[..., Any],
    recorder_ref: RecorderRef,
    provider: str,
    endpoint: str,
    kind: str,
    *,
    is_async: bool,
    recorded_as: str,
    deployments: Mapping[str, str] | None,
) -> Any:
    """The wrapped SDK method: a fast path when nothing must see the call before it returns.

    With a recorder, no observer (no enforced budgets) and no stream asked for, the call is a
    :class:`~costtrail.sdk.calls.SentCall` the writer thread replays; otherwise (and when the
    SDK answers with a stream or raises) it is the :class:`InstrumentedCall` of :func:`_full`.
    """
    clock = time.perf_counter
    open_call = functools.partial(
        InstrumentedCall,
        recorder_ref,
        provider,
        endpoint,
        kind,
        recorded_as=recorded_as,
        deployments=deployments,
    )
    # The SDKs' async methods are plain functions returning coroutines (decorators hide the
    # ``async def``), so the client's kind decides, not the method's signature.
    if is_async:

        @functools.wraps(original)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            recorder = recorder_ref()
            if recorder is None or recorder.observer is not None or kwargs.get("stream"):
                call = _full(recorder_ref, provider, endpoint, kind, kwargs, recorded_as, deployments)
                if call is None:
                    return await original(*args, **kwargs)
                token = CURRENT_CALL.set(call)
                try:
                    result = await original(*args, **kwargs)
                except BaseException as exc:
                    call.fail(exc)
                    raise
                finally:
                    CURRENT_CALL.reset(token)
                _returned(call, provider, result)
                return result
            sent = SentCall(open_call, kwargs.get("model"))
            sent_token = SENT_CALL.set(sent)
            try:
                result = await original(*args, **kwargs)
            except BaseException as exc:
                _sent_failed(sent, exc)
                raise
            finally:
                SENT_CALL.reset(sent_token)
            exchanges = sent.exchanges
            last = exchanges[-1][1] if exchanges and sent.live is None else None
            if last is not None and 200 <= last.status_code < 300:  # the event is built on the writer
                built = functools.partial(built_later, sent, clock(), recorder.defaults)
                lane = recorder.quick_lane  # emit_later(built) without its Python calls
                if lane is not None and len(lane[0]) < lane[1]:
                    lane[0].append(built)
                else:
                    recorder.emit_later(built)
            else:
                _sent_returned(sent, provider, result)
            return result

        return async_wrapper

    @functools.wraps(original)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        recorder = recorder_ref()
        if recorder is None or recorder.observer is not None or kwargs.get("stream"):
            call = _full(recorder_ref, provider, endpoint, kind, kwargs, recorded_as, deployments)
            if call is None:
                return original(*args, **kwargs)
            token = CURRENT_CALL.set(call)
            try:
                result = original(*args, **kwargs)
            except BaseException as exc:
                call.fail(exc)
                raise
            finally:
                CURRENT_CALL.reset(token)
            _returned(call, provider, result)
            return result
        sent = SentCall(open_call, kwargs.get("model"))
        sent_token = SENT_CALL.set(sent)
        try:
            result = original(*args, **kwargs)
        except BaseException as exc:
            _sent_failed(sent, exc)
            raise
        finally:
            SENT_CALL.reset(sent_token)
        exchanges = sent.exchanges
        last = exchanges[-1][1] if exchanges and sent.live is None else None
        if last is not None and 200 <= last.status_code < 300:  # the event is built on the writer
            built = functools.partial(built_later, sent, clock(), recorder.defaults)
            lane = recorder.quick_lane  # emit_later(built) without its Python calls
            if lane is not None and len(lane[0]) < lane[1]:
                lane[0].append(built)
            else:
                recorder.emit_later(built)
        else:
            _sent_returned(sent, provider, result)
        return result

    return wrapper


def _full(
    recorder_ref: RecorderRef,
    provider: str,
    endpoint: str,
    kind: str,
    kwargs: dict[str, Any],
    recorded_as: str,
    deployments: Mapping[str, str] | None,
) -> InstrumentedCall | None:
    """The full path's call, opened after enforced budgets allow it (they raise ``BudgetExceeded``)."""
    check_before_send(recorder_ref, recorded_as, _priced_as(kwargs, deployments))  # opt-in controls
    return _open_call(recorder_ref, provider, endpoint, kind, kwargs, recorded_as, deployments)


def _sent_returned(sent: SentCall, provider: str, result: Any) -> None:
    """A fast-path call returned without a 2xx answer read whole (a stream, a body not seen): now."""
    try:
        call = sent.replay()
    except Exception:
        log.warning("costtrail: could not record a %s call", provider, exc_info=True)
        return
    _returned(call, provider, result)


def _sent_failed(sent: SentCall, exc: BaseException) -> None:
    try:
        call = sent.replay()
    except Exception:
        log.warning("costtrail: could not record a failed call", exc_info=True)
        return
    call.fail(exc)


class _StreamManager:
    """Wraps Anthropic's ``MessageStreamManager``: the request is sent on enter, so the call opens there."""

    def __init__(self, manager: Any, recorder_ref: RecorderRef, model: str | None, recorded_as: str) -> None:
        self._manager, self._recorder_ref, self._model = manager, recorder_ref, model
        self._recorded_as = recorded_as

    def _open(self) -> InstrumentedCall:
        return InstrumentedCall(
            self._recorder_ref, "anthropic", "messages", "llm", self._model, self._recorded_as
        )

    def __enter__(self) -> Any:
        call = self._open()
        token = CURRENT_CALL.set(call)
        try:
            stream = self._manager.__enter__()
        except BaseException as exc:
            call.fail(exc)
            raise
        finally:
            CURRENT_CALL.reset(token)
        if not call.streaming:
            call.finish()
        return stream

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> Any:
        return self._manager.__exit__(exc_type, exc, tb)

    async def __aenter__(self) -> Any:
        call = self._open()
        token = CURRENT_CALL.set(call)
        try:
            stream = await self._manager.__aenter__()
        except BaseException as exc:
            call.fail(exc)
            raise
        finally:
            CURRENT_CALL.reset(token)
        if not call.streaming:
            call.finish()
        return stream

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> Any:
        return await self._manager.__aexit__(exc_type, exc, tb)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._manager, name)


def _wrap_stream(original: Callable[..., Any], recorder_ref: RecorderRef, recorded_as: str) -> Any:
    @functools.wraps(original)
    def stream(*args: Any, **kwargs: Any) -> Any:
        manager = original(*args, **kwargs)
        model = kwargs.get("model")
        return _StreamManager(manager, recorder_ref, model if isinstance(model, str) else None, recorded_as)

    return stream


def _resource(client: Any, path: str) -> Any:
    obj = client
    for part in path.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            return None
    return obj


def instrument_client(
    client: Any, recorder_ref: RecorderRef, azure_deployments: Mapping[str, str] | None = None
) -> Any:
    """Instrument an official ``openai``/``anthropic`` client a ``google.genai.Client`` or a boto3
    ``bedrock-runtime`` client in place
    (idempotent) and return it.

    An Azure OpenAI client's calls name deployments: ``azure_deployments`` maps them to models.
    """
    if is_gemini_client(client):
        return instrument_gemini(client, recorder_ref)
    if is_bedrock_client(client):
        return instrument_bedrock(client, recorder_ref)
    provider = provider_of(client)
    if getattr(client, "_costtrail_instrumented", False):
        return client
    http_client = getattr(client, "_client", None)
    if http_client is None or not hasattr(http_client, "send"):
        raise TypeError(
            f"cannot find the HTTP client inside {type(client).__name__}; is this an official SDK client?"
        )
    is_async = inspect.iscoroutinefunction(http_client.send)
    recorded_as = recorded_provider(client, provider)
    deployments = dict(azure_deployments or {}) if recorded_as == AZURE else None
    patch_send(http_client, provider, recorder_ref, recorded_as, deployments)
    for path, method, endpoint, kind in _OPENAI if provider == "openai" else _ANTHROPIC:
        resource = _resource(client, path)
        original = getattr(resource, method, None) if resource is not None else None
        if original is not None:
            wrapped = _wrap(
                original,
                recorder_ref,
                provider,
                endpoint,
                kind,
                is_async=is_async,
                recorded_as=recorded_as,
                deployments=deployments,
            )
            setattr(resource, method, wrapped)
    if provider == "anthropic":
        messages = _resource(client, "messages")
        if messages is not None and hasattr(messages, "stream"):
            messages.stream = _wrap_stream(messages.stream, recorder_ref, recorded_as)
    client._costtrail_instrumented = True
    return client
