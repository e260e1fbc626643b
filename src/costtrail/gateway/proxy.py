"""The gateway's request path, as a plain ASGI app (no framework between the socket and httpx).

Every request but ``/healthz`` and ``/metrics``: **authorize** the costtrail
key (if the gateway requires one), route on the normalized path
(:func:`costtrail.gateway.routes.resolve`), read the body. A priced call then
is **attributed**, its **budget decided** (estimate, ask the
:class:`RequestGate`, reserve), **forwarded**, relayed (SSE chunk by chunk)
and **recorded** (priced, queued on the sink after the client has its bytes).
Once forwarded, a call is recorded whatever happens next, and a reservation
is settled or released on every path.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import zlib
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import replace
from decimal import Decimal
from typing import Any

import httpx

from costtrail.auth import ApiKey, KeyRing, Scope
from costtrail.auth.throttle import AuthThrottle
from costtrail.controls.gate import ALLOW, AllowAll, Decision, RequestContext, RequestGate
from costtrail.export.prometheus import CostMetrics, gateway_metrics_response
from costtrail.gateway.attribution import AttributionError, attribute
from costtrail.gateway.config import GatewayConfig
from costtrail.gateway.estimation import estimate_price
from costtrail.gateway.recording import ForwardedCall, ForwardedCallRecorder, build_event, cost_header
from costtrail.gateway.routes import (
    PathRefused,
    Target,
    WireRoute,
    key_to_header,
    resolve,
    upstream_for_path,
)
from costtrail.gateway.upstream import (
    PricedUpstream,
    UpstreamResponse,
    lean_path_for,
    upstream_client,
    upstream_pool,
)
from costtrail.pricing import Pricer
from costtrail.schema import Event
from costtrail.wire import Reading, StreamReading, gemini_request, read_body
from costtrail.wire.azure import AZURE
from costtrail.wire.errors import error_body
from costtrail.wire.flavors import ANTHROPIC, GOOGLE

log = logging.getLogger("costtrail.gateway")

Scope_ = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
Answer = httpx.Response | UpstreamResponse

_HOP = frozenset(
    {
        b"host",
        b"content-length",
        b"connection",
        b"keep-alive",
        b"proxy-authorization",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
        b"accept-encoding",
    }
)
_RESPONSE_DROP = frozenset({b"connection", b"keep-alive", b"transfer-encoding", b"content-length"})
EVENT_ID_HEADER = b"x-costtrail-event-id"
COST_HEADER = b"x-costtrail-cost"


class GatewayError(Exception):
    """A refusal made by the gateway itself, answered in the provider's error shape."""

    def __init__(
        self,
        status: int,
        message: str,
        code: str,
        *,
        headers: dict[str, str] | None = None,
        extra: Any = None,
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.code = status, message, code
        self.headers = headers or {}
        self.extra = extra


class Gateway:
    """The gateway ASGI app. Build it with :func:`costtrail.gateway.create_gateway_app`."""

    def __init__(
        self,
        config: GatewayConfig,
        *,
        recorder: ForwardedCallRecorder,
        gate: RequestGate,
        pricer: Pricer,
        keys: KeyRing | None = None,
        client: httpx.AsyncClient | None = None,
        pool: PricedUpstream | None = None,
        metrics: CostMetrics | None = None,
    ) -> None:
        self.config = config
        self.metrics = metrics
        self.recorder = recorder
        self.gate = gate
        self.pricer = pricer
        self.keys = keys
        self.throttle = AuthThrottle()  # 429 for a client that keeps sending wrong X-Costtrail-Keys
        self.client = client or upstream_client(config)
        self.pool: PricedUpstream = pool or upstream_pool(config)
        # Priced calls take the pool unless a client was given or a proxy must be honoured.
        self._lean = {
            name: client is None and (pool is not None or lean_path_for(url))
            for name, url in config.upstreams.items()
        }

    async def __call__(self, scope: Scope_, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        path: str = scope["path"]
        if path == "/healthz":
            await _send(send, 200, [(b"content-type", b"application/json")], b'{"status":"ok"}')
            return
        if path == "/metrics" and self.metrics is not None and scope["method"] == "GET":
            asked = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
            keys = self.keys if self.config.require_key else None
            status, kind, body = gateway_metrics_response(self.metrics, keys, asked)
            await _send(send, status, [(b"content-type", kind.encode())], body)
            return
        style = upstream_for_path(path)
        try:
            headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
            key = self._authorize(headers, _client_of(scope))
            target = self._target(scope)
            style = target.upstream
            body = await _read_body(receive, self.config.max_body_bytes)
            if target.route is None:
                await self._pass_through(target, scope, body, send)
            else:
                await self._priced(target, scope, headers, key, body, send)
        except GatewayError as exc:
            payload = _error_payload(style, exc)
            headers_out = [(b"content-type", b"application/json")]
            headers_out += [(k.lower().encode(), v.encode()) for k, v in exc.headers.items()]
            await _send(send, exc.status, headers_out, payload)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.recorder.flush_held()
                await self.client.aclose()
                await self.pool.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    def _target(self, scope: Scope_) -> Target:
        raw = scope.get("raw_path") or scope["path"].encode("utf-8")
        try:
            return resolve(scope["method"], raw, self.config.allowed_paths)
        except PathRefused as exc:
            code = "not_found" if exc.status == 404 else "path_refused"
            raise GatewayError(exc.status, str(exc), code) from exc

    # -- the priced path: authorize (above), attribute, decide budget, forward, record -----------

    async def _priced(
        self,
        target: Target,
        scope: Scope_,
        headers: dict[str, str],
        key: ApiKey | None,
        body: bytes,
        send: Send,
    ) -> None:
        route = target.route
        assert route is not None
        if route.upstream not in self.config.upstreams:
            raise GatewayError(
                404,
                f"costtrail gateway: no {route.upstream} upstream is configured "
                f"(start it with --upstream {route.upstream}=https://RESOURCE.openai.azure.com)",
                "not_found",
            )
        self._ensure_recordable()
        payload = _json_object(body)
        fields, attrs = self._attribute(headers, payload, key)
        provider = self.config.billed_provider(route.upstream)
        requested = payload.get("model") if isinstance(payload.get("model"), str) else None
        mapped = None
        deployment = target.deployment or (requested if route.upstream == AZURE else None)
        if deployment is not None:  # Azure OpenAI: the path's deployment, or the body's (responses)
            attrs["azure_deployment"] = deployment
            mapped = self.config.azure_deployments.get(deployment)
            requested = requested or deployment
        # Gemini names the model in the path: the estimate reads the request as the others read theirs.
        asked = gemini_request(route.model, payload) if route.model else payload
        requested = route.model or requested
        decision = self._decide_budget(route, provider, mapped or requested, asked, fields, headers)
        call = ForwardedCall(
            route=route,
            provider=provider,
            path=target.path,
            model=mapped,
            request_model=requested,
            fields=fields,
            attributes=attrs,
            payload_bytes=len(body),
            decision=decision,
            provider_account=headers.get("openai-project") or headers.get("openai-organization"),
            request=payload,
            attempt=_attempt(headers),
            retry_key=_retry_key(key, scope, target.path, body),
        )
        try:
            body, injected = _prepared_body(call, payload, body)
            call.payload_bytes = len(body)
            if self.config.store_content:
                call.prompt = body.decode("utf-8", "replace")
            response = await self._forward(call, scope, body)
            try:
                if (response.headers.get("content-type") or "").startswith("text/event-stream"):
                    await self._relay_stream(call, response, send, strip_usage=injected)
                else:
                    await self._relay_body(call, response, send)
            finally:
                await response.aclose()
        finally:
            if not call.recorded:  # never forwarded (or a bug before recording): free the reservation
                self.recorder.release(call.decision)

    def _authorize(self, headers: dict[str, str], client: str) -> ApiKey | None:
        token = headers.get("x-costtrail-key")
        if self.keys is None or (token is None and not self.config.require_key):
            return None
        wait = self.throttle.retry_after(client)
        if wait:
            raise GatewayError(
                429,
                f"costtrail gateway: too many missing or wrong X-Costtrail-Keys from {client}: wait {wait} s",
                "too_many_auth_failures",
                headers={"Retry-After": str(wait)},
            )
        key = self.keys.verify(token) if token else None
        if key is None:
            self.throttle.failed(client)
            raise GatewayError(
                401,
                "costtrail gateway: missing or invalid X-Costtrail-Key "
                "(create one with costtrail keys create --scope ingest)",
                "invalid_costtrail_key",
            )
        if not key.allows(Scope.INGEST):
            raise GatewayError(
                403, f"costtrail gateway: key scope '{key.scope}' cannot send calls", "insufficient_scope"
            )
        return key

    def _ensure_recordable(self) -> None:
        if self.config.fail_closed and not self.recorder.can_record():
            raise GatewayError(
                503,
                "costtrail gateway: calls cannot be recorded right now (the collector is unreachable) and "
                "this gateway is fail-closed: retry later",
                "recording_unavailable",
                headers={"Retry-After": "5"},
            )

    def _attribute(
        self, headers: dict[str, str], payload: dict[str, Any], key: ApiKey | None
    ) -> tuple[dict[str, str], dict[str, str]]:
        try:
            return attribute(
                headers,
                payload,
                key_defaults=key.defaults if key else None,
                gateway_defaults=self.config.defaults,
                tenant=key.tenant if key else None,
            )
        except AttributionError as exc:
            raise GatewayError(403, str(exc), "tenant_not_allowed") from exc

    def _decide_budget(
        self,
        route: WireRoute,
        provider: str,
        model: str | None,
        payload: dict[str, Any],
        fields: dict[str, str],
        headers: dict[str, str],
    ) -> Decision:
        if isinstance(self.gate, AllowAll):
            return ALLOW  # nothing to reserve: no estimate on the hot path
        ctx = RequestContext(
            provider=provider,
            model=model,
            workflow=fields.get("workflow"),
            run_id=fields.get("run_id"),
            feature=fields.get("feature"),
            customer_id=fields.get("customer_id"),
            tenant_id=fields.get("tenant_id"),
            environment=fields.get("environment"),
            team=fields.get("team"),
            provider_account=headers.get("openai-project") or headers.get("openai-organization"),
        )
        estimate = estimate_price(
            self.pricer,
            provider,
            {**payload, "model": model} if model else payload,
            embedding=route.kind == "embedding",
            default_output_tokens=self.config.default_output_tokens,
        )
        if estimate is None:  # no price: a USD budget in scope denies it rather than reserve $0
            ctx = replace(ctx, unpriced=True)
        decision = self.gate.reserve(ctx, estimate or Decimal(0))
        if decision.allowed:
            return decision
        raise _denial(decision)

    async def _forward(self, call: ForwardedCall, scope: Scope_, body: bytes) -> Answer:
        """Send the call upstream; a failure to get an answer is recorded and answered 502/504."""
        upstream = call.route.upstream
        path = call.path or call.route.path
        query, headers = scope.get("query_string", b""), _forward_headers(scope["headers"])
        if call.route.model:  # Gemini: a ?key= goes up as x-goog-api-key, so no URL carries the key
            query, headers = key_to_header(query, headers)
        url = self.config.upstream_url(upstream, path, query)
        try:
            if self._lean.get(upstream):
                return await self.pool.post(url, headers, body)
            request = self.client.build_request("POST", url, headers=headers, content=body)
            return await self.client.send(request, stream=True)
        except httpx.TransportError as exc:
            raise self._failed(call, None, exc) from exc

    def _failed(
        self, call: ForwardedCall, http_status: int | None, exc: httpx.TransportError
    ) -> GatewayError:
        """Record a call whose answer did not (fully) arrive; the 502 or 504 to answer with."""
        timed_out = isinstance(exc, httpx.TimeoutException)
        failure = "upstream_timeout" if timed_out else "upstream_error"
        self._record(call, Reading(), http_status=http_status, failure=failure)
        upstream = call.route.upstream
        if timed_out:
            return GatewayError(504, f"the {upstream} upstream timed out: {exc!r}", "upstream_timeout")
        what = "is unreachable" if http_status is None else "cut its answer short"
        return GatewayError(502, f"the {upstream} upstream {what}: {exc!r}", "upstream_error")

    def _record(
        self,
        call: ForwardedCall,
        reading: Reading,
        *,
        http_status: int | None,
        failure: str | None = None,
        content: dict[str, str] | None = None,
        later: bool = False,
    ) -> Event:
        call.recorded = True
        event = build_event(call, reading, self.pricer, http_status=http_status, failure=failure)
        if later:  # queued behind the response's write (serving.CoalescingTransport flushes it first)
            asyncio.get_running_loop().call_soon(self.recorder.record_attempt, call, event, content)
        else:
            self.recorder.record_attempt(call, event, content)
        return event

    async def _relay_body(self, call: ForwardedCall, response: Answer, send: Send) -> None:
        try:
            raw = b"".join([chunk async for chunk in response.aiter_raw()])
        except httpx.TransportError as exc:
            raise self._failed(call, response.status_code, exc) from exc
        reading = read_body(call.flavor, _decoded(raw, response.headers.get("content-encoding")))
        call.retry_after_s = _retry_after(response.headers)
        content = None
        if call.prompt is not None:
            completion = _decoded(raw, response.headers.get("content-encoding")).decode("utf-8", "replace")
            content = {"prompt": call.prompt, "completion": completion}
        event = self._record(call, reading, http_status=response.status_code, content=content, later=True)
        headers = _response_headers(response)
        headers += [
            (b"content-length", str(len(raw)).encode()),
            (EVENT_ID_HEADER, event.event_id.encode()),
            (COST_HEADER, cost_header(event).encode()),
        ]
        await _send(send, response.status_code, headers, raw)

    async def _relay_stream(
        self, call: ForwardedCall, response: Answer, send: Send, *, strip_usage: bool
    ) -> None:
        relay = StreamReading(call.flavor, strip_usage=strip_usage)
        headers = [*_response_headers(response), (EVENT_ID_HEADER, call.event_id.encode())]
        await send({"type": "http.response.start", "status": response.status_code, "headers": headers})
        failure = None
        try:
            if call.prompt is not None:
                call.stream_text = []
            async for chunk in response.aiter_raw():
                if call.stream_text is not None:
                    call.stream_text.append(chunk)
                out = relay.feed(chunk)
                if out:  # a client that has left does not stop the reading (uvicorn drops the bytes)
                    await send({"type": "http.response.body", "body": out, "more_body": True})
            await send({"type": "http.response.body", "body": relay.close(), "more_body": False})
        except httpx.TransportError as exc:
            # Cut here too: the client sees the stream end early, as it would from the provider.
            failure = "upstream_timeout" if isinstance(exc, httpx.TimeoutException) else "upstream_error"
            raise
        finally:
            relay.close()  # an upstream that failed mid-way, or a cancelled relay: a cut stream
            content = None
            if call.prompt is not None:
                raw = b"".join(call.stream_text or [])
                completion = _decoded(raw, response.headers.get("content-encoding")).decode(
                    "utf-8", "replace"
                )
                content = {"prompt": call.prompt, "completion": completion}
            self._record(
                call, relay.reading, http_status=response.status_code, failure=failure, content=content
            )

    # -- other paths the operator allows (--allow-path): key-checked, forwarded, not priced ------

    async def _pass_through(self, target: Target, scope: Scope_, body: bytes, send: Send) -> None:
        try:
            url = self.config.upstream_url(target.upstream, target.path, scope.get("query_string", b""))
        except KeyError as exc:
            raise GatewayError(404, f"no upstream for {target.path}", "not_found") from exc
        request = self.client.build_request(
            scope["method"], url, headers=_forward_headers(scope["headers"]), content=body
        )
        try:
            response = await self.client.send(request, stream=True)
        except httpx.TimeoutException as exc:
            raise GatewayError(504, f"upstream timed out: {exc!r}", "upstream_timeout") from exc
        except httpx.TransportError as exc:
            raise GatewayError(502, f"upstream unreachable: {exc!r}", "upstream_error") from exc
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": response.status_code,
                    "headers": _response_headers(response),
                }
            )
            async for chunk in response.aiter_raw():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            await response.aclose()


def _denial(decision: Decision) -> GatewayError:
    if decision.kind == "unpriced_model":  # no retry helps: the deployment or the rate card must change
        reason = f"costtrail: {decision.reason}"
        return GatewayError(403, reason, "unpriced_model", extra={"budget": decision.rule})
    limit = f"${decision.limit_usd}" if decision.limit_usd is not None else "its limit"
    spend = f"${decision.spend_usd}" if decision.spend_usd is not None else "unknown"
    rule = decision.rule or "a budget"
    message = (
        f"costtrail: budget '{rule}' is exhausted (limit {limit}, spend {spend}). {decision.reason}".strip()
    )
    if decision.kind not in (None, "budget") or decision.unit != "usd":
        # A retry-loop stop, a model policy or a token budget: its own reason names it and its unit.
        message = f"costtrail: {decision.reason}"
    retry_after = decision.retry_after_s if decision.retry_after_s is not None else 60
    extra = {
        "budget": decision.rule,
        "limit_usd": str(decision.limit_usd) if decision.limit_usd is not None else None,
        "spend_usd": str(decision.spend_usd) if decision.spend_usd is not None else None,
        "scope": dict(decision.scope),
        "reason": decision.reason,
    }
    return GatewayError(
        429, message, "budget_exceeded", headers={"Retry-After": str(retry_after)}, extra=extra
    )


def _prepared_body(call: ForwardedCall, payload: dict[str, Any], body: bytes) -> tuple[bytes, bool]:
    """The body to forward: the policy's model, and usage asked of an OpenAI stream (True: injected)."""
    rewrite = injected = False
    if call.decision.reroute_model and call.request_model and call.route.model:  # Gemini: in the path
        old, new = f"/models/{call.route.model}:", f"/models/{call.decision.reroute_model}:"
        call.path = call.route.path.replace(old, new)
        call.route = replace(call.route, path=call.path, model=call.decision.reroute_model)
        call.request_model = call.decision.reroute_model
    elif call.decision.reroute_model and call.request_model:
        payload["model"] = call.request_model = call.decision.reroute_model
        rewrite = True
    if call.route.usage_on_request and payload.get("stream") is True:
        options = payload.get("stream_options")
        if not (isinstance(options, dict) and options.get("include_usage")):
            payload["stream_options"] = {
                **(options if isinstance(options, dict) else {}),
                "include_usage": True,
            }
            rewrite = injected = True
    return (json.dumps(payload).encode() if rewrite else body), injected


def _client_of(scope: Scope_) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def _retry_after(headers: Any) -> float | None:
    """The wait an upstream asked for (``retry-after-ms``, or ``retry-after`` in seconds)."""
    for name, scale in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        raw = headers.get(name)
        if raw is None:
            continue
        try:
            return max(0.0, float(raw) / scale)
        except ValueError:
            continue
    return None


def _attempt(headers: dict[str, str]) -> int:
    """The client's retry number (the official SDKs send ``x-stainless-retry-count``)."""
    raw = headers.get("x-stainless-retry-count", "0")
    return int(raw) if raw.isdigit() and len(raw) < 4 else 0


def _retry_key(key: ApiKey | None, scope: Scope_, path: str, body: bytes) -> str:
    """What the attempts of one logical call share: who sent it, where, and the same body."""
    who = key.key_id if key is not None else _client_of(scope)
    return f"{who} {path} {hashlib.blake2b(body, digest_size=16).hexdigest()}"


def _decoded(raw: bytes, encoding: str | None) -> bytes:
    if not encoding or encoding == "identity":
        return raw
    try:
        wbits = 16 + zlib.MAX_WBITS if encoding == "gzip" else zlib.MAX_WBITS
        return zlib.decompress(raw, wbits)
    except zlib.error:
        return b""  # usage unreadable: recorded with zero tokens


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body) if body else {}
    except RecursionError:
        # Unreadable here means unpriced and unattributed: refused rather than forwarded blind.
        raise GatewayError(
            400, "costtrail gateway: the JSON body is nested too deeply to read: flatten it", "body_too_deep"
        ) from None
    except ValueError:
        return {}  # forwarded untouched: the provider answers with its own 400
    return data if isinstance(data, dict) else {}


def _forward_headers(raw: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    out = [(k, v) for k, v in raw if k not in _HOP and not k.startswith(b"x-costtrail-")]
    out.append((b"accept-encoding", b"identity"))
    return out


def _response_headers(response: Answer) -> list[tuple[bytes, bytes]]:
    return [(k, v) for k, v in response.headers.raw if k.lower() not in _RESPONSE_DROP]


async def _read_body(receive: Receive, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise GatewayError(499, "client disconnected", "client_closed")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise GatewayError(
                413, f"costtrail gateway: request body over {limit:,} bytes", "payload_too_large"
            )
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _send(send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    if not any(k == b"content-length" for k, _ in headers):
        headers = [*headers, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


__all__ = ["ALLOW", "Gateway", "GatewayError"]


def _error_payload(style: str, exc: GatewayError) -> bytes:
    """The gateway's refusal in the provider's own shape, so the official SDKs raise their usual exception.

    In OpenAI's shape a 429 is a budget's (or a credit's) refusal: its type says so.
    """
    kind = "budget_exceeded" if exc.status == 429 and style not in (ANTHROPIC, GOOGLE) else None
    body = error_body(style, exc.status, exc.message, kind=kind, code=exc.code)
    if exc.extra:
        body["costtrail"] = exc.extra
    return json.dumps(body).encode()
