"""A fake LLM provider on 127.0.0.1 that speaks the real OpenAI, Anthropic and Gemini wire formats.

Used by the SDK tests, the demo and the gateway tests: the official ``openai``
and ``anthropic`` clients talk to it unchanged (``base_url`` is the only
difference), over real HTTP, with server-sent events for streams.

Start it in a test::

    with FakeProvider() as fake:
        client = openai.OpenAI(base_url=fake.openai_base_url, api_key="sk-test")
        anthropic_client = anthropic.Anthropic(base_url=fake.base_url, api_key="sk-ant-test")
        fake.requests.last("/v1/chat/completions").body  # what the SDK sent

or as a process: ``python -m costtrail.demo.fake_provider --port 8799``.

Routes (POST):

- ``/v1/chat/completions``: JSON, or SSE with ``stream: true`` (``chat.completion.chunk`` events,
  ``data: [DONE]``). The final usage chunk (``choices: []``) is sent only when the request has
  ``stream_options: {"include_usage": true}``; the other chunks then carry ``"usage": null``.
- ``/v1/responses``: JSON, or the Responses event stream (``response.created`` ...
  ``response.output_text.delta`` ... ``response.completed`` with usage).
- ``/v1/completions``: legacy text completions, JSON or SSE (same ``include_usage`` rule).
- ``/v1/embeddings``: float or ``base64`` vectors (16 dimensions unless ``dimensions``).
- ``/v1/messages``: Anthropic Messages, JSON or SSE (``message_start``,
  ``content_block_start/delta/stop``, ``ping``, ``message_delta``, ``message_stop``).
- ``/v1beta/models/{model}:generateContent`` (and ``/v1/...``, google-genai's default): Gemini JSON
  with ``usageMetadata``; ``:streamGenerateContent?alt=sse``: one SSE event a chunk, the last with
  ``finishReason`` and the whole usage; ``:embedContent``/``:batchEmbedContents``: vectors without usage
  (as Google answers). The key is the ``x-goog-api-key`` header or ``?key=`` (403 without one);
  ``x-fake-tool-use-prompt-tokens: N`` adds ``toolUsePromptTokenCount``; errors are Google's
  ``{"error": {"code", "message", "status"}}``.
- Azure OpenAI: ``/openai/deployments/{deployment}/chat/completions``, ``.../completions``,
  ``.../embeddings`` and ``/openai/responses``, each needing ``?api-version=`` (else 404) and
  answering as the OpenAI route does (``openai.AzureOpenAI(azure_endpoint=fake.base_url, ...)``);
  the model answered is the body's ``model``, else the deployment's name. Azure's v1 API:
  ``/openai/v1/chat/completions``, ``/openai/v1/responses``, ``/openai/v1/embeddings``, no
  ``api-version``, the deployment as the body's ``model``.
- ``/model/{modelId}/converse``, ``/converse-stream``, ``/invoke``, ``/invoke-with-response-stream``:
  the Bedrock runtime, for boto3 with ``endpoint_url=`` (see :mod:`.bedrock_wire`); streams in
  Bedrock's binary event-stream framing.

Usage is deterministic. By default input tokens are ``ceil(chars / 4) + 3 per message + 3`` over
the text in ``messages``/``input``/``prompt``/``system``/``instructions``/``tools`` (embeddings:
``ceil(chars / 4)`` per input, or the token-array length), and output tokens are
``min(max_tokens, 20 + input_tokens // 2)`` (``max_tokens`` is any of ``max_completion_tokens``,
``max_output_tokens``, ``max_tokens``; 4096 when absent). Knobs, as request headers (the SDKs'
``extra_headers=`` or ``default_headers=``):

==============================  =====================================================================
``x-fake-input-tokens: N``      total input tokens, INCLUSIVE of cached and cache-write tokens
``x-fake-output-tokens: N``     total output tokens, inclusive of reasoning tokens
``x-fake-cached-tokens: N``     cache reads (OpenAI ``cached_tokens``; Anthropic ``cache_read_input_tokens``)
``x-fake-cache-write-tokens: N`` cache writes (Anthropic ``cache_creation_input_tokens``; OpenAI
                                ``cache_write_tokens``). Anthropic's ``input_tokens`` then excludes both.
``x-fake-reasoning-tokens: N``  reasoning tokens (OpenAI ``reasoning_tokens``; Anthropic
                                ``output_tokens_details.thinking_tokens`` plus a thinking block)
``x-fake-tool-calls: N``        answer with N tool calls (named after the request's first tool)
``x-fake-model: NAME``          the model name returned (default: the requested one)
``x-fake-status: CODE``         fail with this HTTP status in the provider's error shape
                                (429 carries ``retry-after-ms``)
``x-fake-fail-attempts: N``     fail (``x-fake-status`` or 500) while the SDK's ``x-stainless-retry-count``
                                is below N, then succeed: exercises the SDKs' own retries
``x-fake-retry-after-ms: N``    the ``retry-after-ms`` sent with a 429 (default 5)
``x-fake-delay-ms: N``          wait before answering (client timeouts)
``x-fake-stream-error-after: N`` in a stream, send an error event after N text deltas and stop
``x-fake-cut-body: N``          a JSON answer's first N bytes only, then the connection is dropped
                                (its ``content-length`` promised the whole body)
``x-fake-cache-write-1h-tokens: N`` the part of the cache writes made with a one-hour TTL (Anthropic
                                ``cache_creation.ephemeral_1h_input_tokens``; the rest are 5-minute)
``x-fake-service-tier: NAME``   the tier answered (OpenAI ``service_tier``; Anthropic ``usage.service_tier``)
``x-fake-replay: NAME``         answer with the recording registered as ``fake.replay(NAME, ...)``, byte
                                for byte (an SSE recording one event a chunk): real-shaped corpus bodies
==============================  =====================================================================

Every response carries realistic ids (``chatcmpl-``, ``resp_``, ``msg_01``, ``call_``, ``toolu_01``)
and headers (``x-request-id`` for OpenAI, ``request-id`` for Anthropic). A request without an API key
(``authorization``, ``x-api-key`` or Azure's ``api-key``) gets a 401; a missing ``model`` (or
Anthropic ``max_tokens``) a 400; any other path a 404. API keys are never logged.
``requests.lines`` lists every request line received (method and raw path), routed or not.
"""

from __future__ import annotations

from types import TracebackType

from costtrail.demo.fake_provider.app import RecordedRequest, Replay, RequestLog, create_fake_provider_app
from costtrail.demo.fake_provider.knobs import Knobs, estimate_input_tokens, knobs_from_request
from costtrail.demo.fake_provider.server import ServerThread


class FakeProvider:
    """The fake provider served on 127.0.0.1 in a background thread (``port=0``: a free port)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.requests = RequestLog()
        self.replays: dict[str, Replay] = {}
        self.app = create_fake_provider_app(self.requests, self.replays)
        self.server = ServerThread(self.app, host, port)

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``: the Anthropic SDK's ``base_url``."""
        return self.server.base_url

    @property
    def openai_base_url(self) -> str:
        """``http://127.0.0.1:PORT/v1``: the OpenAI SDK's ``base_url``."""
        return self.server.base_url + "/v1"

    def replay(
        self,
        name: str,
        path: str,
        body: bytes,
        *,
        status: int = 200,
        content_type: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Serve ``body`` (and ``headers``) as the answer to requests to ``path`` that carry
        ``x-fake-replay: NAME``."""
        self.replays[name] = Replay(path, status, content_type, body, tuple((headers or {}).items()))

    def start(self) -> FakeProvider:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    def __enter__(self) -> FakeProvider:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


__all__ = [
    "FakeProvider",
    "Knobs",
    "RecordedRequest",
    "Replay",
    "RequestLog",
    "ServerThread",
    "create_fake_provider_app",
    "estimate_input_tokens",
    "knobs_from_request",
]
