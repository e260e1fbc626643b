"""The Starlette app: routes, request log, errors and the response headers providers send."""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from costtrail.demo.fake_provider import anthropic_wire, gemini_wire, openai_wire
from costtrail.demo.fake_provider.bedrock_wire import BedrockRoutes
from costtrail.demo.fake_provider.knobs import KnobError, Knobs, hex_id, knobs_from_request, random_id
from costtrail.wire import flavor_for_path
from costtrail.wire.errors import error_body
from costtrail.wire.flavors import ANTHROPIC, GOOGLE
from costtrail.wire.sse import SseSplitter

_SECRET_HEADERS = frozenset({"authorization", "x-api-key", "api-key", "x-goog-api-key"})


@dataclass(frozen=True)
class RecordedRequest:
    """One request the fake provider received (API keys are never kept)."""

    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    body_bytes: int


@dataclass
class RequestLog:
    """The last requests received, newest last (bounded); ``lines``: every request line, routed or not."""

    entries: deque[RecordedRequest] = field(default_factory=lambda: deque(maxlen=10_000))
    lines: deque[tuple[str, str]] = field(default_factory=lambda: deque(maxlen=10_000))

    def add(self, request: RecordedRequest) -> None:
        self.entries.append(request)

    def last(self, path: str | None = None) -> RecordedRequest:
        for entry in reversed(self.entries):
            if path is None or entry.path == path:
                return entry
        raise LookupError(f"no request to {path or 'any path'} received")

    def __len__(self) -> int:
        return len(self.entries)

    def clear(self) -> None:
        self.entries.clear()
        self.lines.clear()


class _LogLines:
    """ASGI middleware: each request's method and raw path (as received) into ``RequestLog.lines``."""

    def __init__(self, app: ASGIApp, log: RequestLog) -> None:
        self.app, self.log = app, log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            raw = scope.get("raw_path") or scope["path"].encode()
            self.log.lines.append((scope["method"], raw.decode("latin-1")))
        await self.app(scope, receive, send)


class _CutResponse(Response):
    """The first ``cut`` bytes of a body whose ``content-length`` promised all of it, then no more."""

    def __init__(self, content: bytes, cut: int, headers: dict[str, str]) -> None:
        super().__init__(content, media_type="application/json", headers=headers)
        self.cut = cut

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        await send({"type": "http.response.body", "body": self.body[: self.cut], "more_body": True})
        # Returning without the rest: the server drops the connection, as a failing provider does.


@dataclass(frozen=True)
class Replay:
    """A recorded answer, served byte for byte to requests with ``x-fake-replay: NAME``.

    ``path`` is the route it answers (a request to a route of another wire
    flavor is refused); a streamed answer goes out one SSE event a chunk.
    """

    path: str
    status: int
    content_type: str
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()  # sent with the answer (Bedrock's token-count headers)

    def events(self) -> list[bytes]:
        splitter = SseSplitter()
        return [e.raw for e in (*splitter.feed(self.body), *splitter.close())]


def _openai_headers(started: float) -> dict[str, str]:
    return {
        "x-request-id": hex_id("req_"),
        "openai-processing-ms": str(max(1, int((time.perf_counter() - started) * 1000))),
        "openai-version": "2020-10-01",
        "openai-organization": "org-costtrail-fake",
        "x-ratelimit-limit-requests": "10000",
        "x-ratelimit-remaining-requests": "9999",
        "x-ratelimit-limit-tokens": "30000000",
        "x-ratelimit-remaining-tokens": "29999000",
    }


def _anthropic_headers(started: float) -> dict[str, str]:
    return {
        "request-id": random_id("req_011C", 20),
        "anthropic-organization-id": "00000000-0000-4000-8000-00000000fa4e",
        "x-envoy-upstream-service-time": str(max(1, int((time.perf_counter() - started) * 1000))),
    }


async def _aiter(chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk
        await asyncio.sleep(0)


Builder = Callable[[Knobs, dict[str, Any]], dict[str, Any]]
Streamer = Callable[[Knobs, dict[str, Any]], Iterator[bytes]]
Handler = Callable[[Request], Awaitable[Response]]
Adjuster = Callable[[Knobs, dict[str, Any], dict[str, str]], Knobs]


class _Endpoint:
    """One provider route: parse, apply knobs, answer as JSON or SSE in that provider's shape."""

    def __init__(
        self,
        log: RequestLog,
        *,
        anthropic: bool,
        build: Builder,
        stream: Streamer | None,
        adjust: Adjuster | None = None,
        replays: dict[str, Replay] | None = None,
    ) -> None:
        self.log, self.anthropic, self.build, self.stream, self.adjust = log, anthropic, build, stream, adjust
        self.replays = replays if replays is not None else {}

    def _error(self, status: int, message: str, headers: dict[str, str]) -> JSONResponse:
        if self.anthropic:
            body = error_body(ANTHROPIC, status, message, request_id=headers.get("request-id"))
        else:
            body = openai_wire.openai_error_body(status, message)
        return JSONResponse(body, status_code=status, headers=headers)

    async def handle(self, request: Request) -> Response:
        started = time.perf_counter()
        headers = _anthropic_headers(started) if self.anthropic else _openai_headers(started)
        raw = await request.body()
        lowered = {k.lower(): v for k, v in request.headers.items()}
        try:
            body = json.loads(raw or b"{}")
        except ValueError as exc:  # not JSON, or not UTF-8 at all
            reason = exc.msg if isinstance(exc, json.JSONDecodeError) else "not UTF-8"
            return self._error(400, f"We could not parse the JSON body of your request: {reason}", headers)
        if not isinstance(body, dict):
            return self._error(400, "The request body must be a JSON object.", headers)
        kept = {k: v for k, v in lowered.items() if k not in _SECRET_HEADERS}
        self.log.add(RecordedRequest(request.url.path, kept, body, len(raw)))
        if not (lowered.get("authorization") or lowered.get("x-api-key") or lowered.get("api-key")):
            return self._error(401, "No API key provided.", headers)
        if "x-fake-replay" in lowered:
            return self._replay(lowered["x-fake-replay"], request.url.path, headers)
        if request.url.path.startswith("/openai/") and not request.url.path.startswith("/openai/v1/"):
            if not request.query_params.get("api-version"):
                return self._error(404, "Resource not found: send the api-version query parameter", headers)
            body.setdefault("model", request.path_params.get("deployment"))
        if not body.get("model"):
            return self._error(400, "you must provide a model parameter", headers)
        if self.anthropic and not isinstance(body.get("max_tokens"), int):
            return self._error(400, "max_tokens: Field required", headers)
        try:
            knobs = knobs_from_request(body, lowered)
            if self.adjust is not None:
                knobs = self.adjust(knobs, body, lowered)
        except KnobError as exc:
            return self._error(400, str(exc), headers)
        if knobs.delay_ms:
            await asyncio.sleep(knobs.delay_ms / 1000)
        if knobs.error_status is not None:
            if knobs.error_status == 429:
                headers["retry-after-ms"] = str(knobs.retry_after_ms)
                headers["retry-after"] = "1"
            return self._error(
                knobs.error_status, f"fake provider: forced HTTP {knobs.error_status}", headers
            )
        return self._respond(knobs, body, headers)

    def _replay(self, name: str, path: str, headers: dict[str, str]) -> Response:
        replay = self.replays.get(name)
        if replay is None:
            return self._error(400, f"x-fake-replay: no replay named {name!r} (FakeProvider.replay)", headers)
        if flavor_for_path(replay.path) != flavor_for_path(path):
            return self._error(400, f"x-fake-replay: {name!r} answers {replay.path}, not {path}", headers)
        if replay.content_type.startswith("text/event-stream"):
            return StreamingResponse(
                _aiter(iter(replay.events())),
                status_code=replay.status,
                media_type="text/event-stream; charset=utf-8",
                headers={**headers, "cache-control": "no-cache"},
            )
        return Response(
            replay.body, status_code=replay.status, media_type=replay.content_type, headers=headers
        )

    def _respond(self, knobs: Knobs, body: dict[str, Any], headers: dict[str, str]) -> Response:
        if body.get("stream") and self.stream is not None:
            return StreamingResponse(
                _aiter(self.stream(knobs, body)),
                media_type="text/event-stream; charset=utf-8",
                headers={**headers, "cache-control": "no-cache"},
            )
        if knobs.cut_body is not None:
            return _CutResponse(json.dumps(self.build(knobs, body)).encode(), knobs.cut_body, headers)
        return JSONResponse(self.build(knobs, body), headers=headers)


class _Gemini:
    """Gemini API: ``/v1beta/models/{model}:{method}`` (or ``/v1/``), keyed by ``x-goog-api-key``."""

    def __init__(self, log: RequestLog, replays: dict[str, Replay]) -> None:
        self.log, self.replays = log, replays

    @staticmethod
    def _error(status: int, message: str, headers: dict[str, str]) -> JSONResponse:
        return JSONResponse(error_body(GOOGLE, status, message), status_code=status, headers=headers)

    async def handle(self, request: Request) -> Response:
        headers = gemini_wire.headers_for(time.perf_counter())
        found = gemini_wire.split_target(request.path_params["target"])
        if found is None:
            return self._error(404, f"{request.url.path} is not a Gemini API method", headers)
        model, method = found
        raw = await request.body()
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            return self._error(400, "Invalid JSON payload received.", headers)
        if not isinstance(body, dict):
            return self._error(400, "Invalid JSON payload received: not an object.", headers)
        lowered = {k.lower(): v for k, v in request.headers.items()}
        kept = {k: v for k, v in lowered.items() if k not in _SECRET_HEADERS}
        self.log.add(RecordedRequest(request.url.path, kept, body, len(raw)))
        if not (lowered.get("x-goog-api-key") or request.query_params.get("key")):
            return self._error(403, "Method doesn't allow unregistered callers: send an API key.", headers)
        if "x-fake-replay" in lowered:
            return _Endpoint(
                self.log, anthropic=False, build=_embeddings, stream=None, replays=self.replays
            )._replay(lowered["x-fake-replay"], request.url.path, headers)
        return await gemini_wire.gemini_response(request, model, method, body, headers, _CutResponse)


def _embeddings(knobs: Knobs, body: dict[str, Any]) -> dict[str, Any]:
    return openai_wire.embeddings(knobs, body, openai_wire.embedding_inputs(body))


def _embedding_knobs(knobs: Knobs, body: dict[str, Any], headers: dict[str, str]) -> Knobs:
    """Embeddings count input tokens per input item and produce no output tokens."""
    tokens = knobs.input_tokens
    if "x-fake-input-tokens" not in headers:
        tokens = openai_wire.embedding_tokens(openai_wire.embedding_inputs(body))
    return replace(knobs, input_tokens=tokens, output_tokens=0, reasoning_tokens=0, tool_calls=0)


def create_fake_provider_app(
    log: RequestLog | None = None, replays: dict[str, Replay] | None = None
) -> Starlette:
    """The fake provider's ASGI app; ``log`` collects the requests it receives, ``replays`` its recordings."""
    log = log if log is not None else RequestLog()
    replays = replays if replays is not None else {}

    def ep(build: Builder, stream: Streamer | None, *, anthropic: bool = False) -> Handler:
        return _Endpoint(log, anthropic=anthropic, build=build, stream=stream, replays=replays).handle

    gemini = _Gemini(log, replays).handle
    chat = ep(openai_wire.chat_completion, openai_wire.chat_stream)
    responses = ep(openai_wire.response, openai_wire.response_stream)
    completions = ep(openai_wire.completion, openai_wire.completion_stream)
    embeddings = _Endpoint(
        log, anthropic=False, build=_embeddings, stream=None, adjust=_embedding_knobs, replays=replays
    ).handle
    azure = "/openai/deployments/{deployment}"  # Azure OpenAI: ?api-version=..., an api-key header
    routes = [
        Route("/v1/chat/completions", chat, methods=["POST"]),
        Route("/v1/responses", responses, methods=["POST"]),
        Route("/v1/completions", completions, methods=["POST"]),
        Route("/v1/embeddings", embeddings, methods=["POST"]),
        Route(f"{azure}/chat/completions", chat, methods=["POST"]),
        Route(f"{azure}/completions", completions, methods=["POST"]),
        Route(f"{azure}/embeddings", embeddings, methods=["POST"]),
        Route("/openai/responses", responses, methods=["POST"]),
        # Azure's v1 API: no api-version, the deployment as the body's model.
        Route("/openai/v1/chat/completions", chat, methods=["POST"]),
        Route("/openai/v1/responses", responses, methods=["POST"]),
        Route("/openai/v1/embeddings", embeddings, methods=["POST"]),
        Route(
            "/v1/messages",
            ep(anthropic_wire.message, anthropic_wire.message_stream, anthropic=True),
            methods=["POST"],
        ),
        Route("/v1beta/models/{target}", gemini, methods=["POST"]),
        Route("/v1/models/{target}", gemini, methods=["POST"]),
    ]

    def record(path: str, headers: dict[str, str], body: dict[str, Any], size: int) -> None:
        kept = {k: v for k, v in headers.items() if k not in _SECRET_HEADERS}
        log.add(RecordedRequest(path, kept, body, size))

    routes += BedrockRoutes(log, replays, record).routes()
    app = Starlette(routes=routes, middleware=[Middleware(_LogLines, log=log)])
    app.state.request_log = log
    return app
