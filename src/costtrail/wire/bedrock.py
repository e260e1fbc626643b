"""AWS Bedrock runtime: Converse, ConverseStream, InvokeModel and InvokeModelWithResponseStream.

Bedrock is called through boto3 (SigV4 signs the host, so no gateway sits in
between): a door sees what botocore parsed, the JSON body of ``converse``, the
raw body of ``invoke_model``, and the events botocore decoded from the
``application/vnd.amazon.eventstream`` framing of the two streams. This is
the one reading of all of them:

- Converse ``usage`` (``inputTokens``, ``outputTokens``, ``cacheReadInputTokens``,
  ``cacheWriteInputTokens``) with genai-prices' own ``aws`` extractor;
- InvokeModel bodies of each model family: Anthropic Messages (genai-prices'
  ``aws`` ``anthropic`` extractor), Amazon Nova (``usage`` in Converse's names,
  cache counts as ``...TokenCount``), Meta Llama (``prompt_token_count`` /
  ``generation_token_count``), Titan text (``inputTextTokenCount``,
  ``results[].tokenCount``) and Titan embeddings; a body without counts
  (Mistral, Cohere) is read from the ``x-amzn-bedrock-*-token-count`` headers
  Bedrock sends with every InvokeModel answer;
- the last chunk of a response stream, whose ``amazon-bedrock-invocationMetrics``
  carries the call's counts for every model family.

The model id names where the call runs: ``us.``/``eu.``/``apac.``/``global.``
are cross-region inference profiles, which genai-prices prices apart (the
geographic profiles carry a premium over ``global.`` for recent models); an
ARN names the region. :func:`bedrock_model` splits them.

>>> r = read_converse({"usage": {"inputTokens": 100, "outputTokens": 20, "cacheReadInputTokens": 50}})
>>> (r.input_tokens, r.cache_read_tokens, r.output_tokens, r.status(200))
(150, 50, 20, ('success', None))
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from costtrail.wire.bodies import ANTHROPIC_TOOL_BLOCKS, decode_json
from costtrail.wire.flavors import CONVERSE, INVOKE
from costtrail.wire.reading import CLIENT_ABANDONED, MALFORMED_BODY, STREAM_CUT, Reading, tier_of

# The first part of a cross-region inference profile id (``us.anthropic.claude-...``).
PROFILE_PREFIXES = frozenset({"us", "eu", "apac", "global", "us-gov", "jp", "au", "ca", "in"})
# ARN resource types whose name is a model id genai-prices can match.
_MODEL_RESOURCES = frozenset({"foundation-model", "inference-profile", "system-defined-inference-profile"})
METRICS_KEY = "amazon-bedrock-invocationMetrics"
_HEADER_COUNTS = (
    ("x-amzn-bedrock-input-token-count", "input"),
    ("x-amzn-bedrock-output-token-count", "output"),
    ("x-amzn-bedrock-cache-read-input-token-count", "cache_read"),
    ("x-amzn-bedrock-cache-write-input-token-count", "cache_write"),
)


@dataclass(frozen=True)
class BedrockModel:
    """Where a Bedrock ``modelId`` runs and the id genai-prices matches.

    >>> m = bedrock_model("us.anthropic.claude-sonnet-4-5-20250929-v1:0", "us-west-2")
    >>> (m.model, m.region, m.profile)
    ('us.anthropic.claude-sonnet-4-5-20250929-v1:0', 'us-west-2', 'us')
    >>> m = bedrock_model("arn:aws:bedrock:eu-west-1:123456789012:inference-profile/eu.amazon.nova-pro-v1:0")
    >>> (m.model, m.region, m.profile)
    ('eu.amazon.nova-pro-v1:0', 'eu-west-1', 'eu')
    """

    model: str  # the inference profile or foundation model id (an ARN genai-prices cannot match stays whole)
    region: str | None  # the ARN's region, else the client's
    profile: str | None  # the cross-region profile: us, eu, apac, global... (None: in-region)
    arn: str | None


def bedrock_model(model_id: str, region: str | None = None) -> BedrockModel:
    """Split a ``modelId`` (model id, inference profile id, or ARN) into model, region and profile."""
    model_id = model_id.strip()
    arn = None
    if model_id.startswith("arn:"):
        parts = model_id.split(":", 5)
        if len(parts) == 6:
            arn = model_id
            region = parts[3] or region
            kind, _, name = parts[5].partition("/")
            if kind in _MODEL_RESOURCES and name:
                model_id = name
    head, dot, _ = model_id.partition(".")
    profile = head if dot and head in PROFILE_PREFIXES else None
    return BedrockModel(model_id, region or None, profile, arn)


def read_converse(response: Mapping[str, Any]) -> Reading:
    """The reading of a ``converse`` response (botocore's parsed dict, or the JSON body)."""
    if not isinstance(response, Mapping):
        return Reading(complete=False, ended_by=MALFORMED_BODY)
    reading = Reading(complete=True)
    usage = CONVERSE.usage.read(response.get("usage"))
    if usage is not None:
        reading.set_usage(usage)
    reading.request_id = _request_id(response)
    reading.service_tier = tier_of(_get(response.get("serviceTier"), "type"))
    message = _get(response.get("output"), "message")
    for block in _list(_get(message, "content")):
        if isinstance(block, Mapping) and "toolUse" in block:
            reading.add_tool_call("tool_use")
    return reading


def read_invoke(body: bytes | Mapping[str, Any], headers: Mapping[str, str] | None = None) -> Reading:
    """The reading of an ``invoke_model`` answer: its body (any model family) and its headers.

    ``headers`` are the HTTP headers, lower-case (botocore's ``ResponseMetadata.HTTPHeaders``);
    their token counts are read when the body has none (Mistral, Cohere...).
    """
    data = decode_json(body)
    reading = Reading(complete=isinstance(data, Mapping))
    if isinstance(data, Mapping):
        _apply_invoke_body(reading, data)
    if not reading.usage_seen and headers:
        counts = {name: headers.get(header) for header, name in _HEADER_COUNTS}
        _set_counts(reading, counts)
    if not reading.complete and not reading.usage_seen:
        reading.ended_by = MALFORMED_BODY
    elif not reading.complete:
        reading.complete = True  # the body was not JSON, but Bedrock's headers gave the usage
    if headers:
        reading.request_id = headers.get("x-amzn-requestid") or reading.request_id
    return reading


def _apply_invoke_body(reading: Reading, data: Mapping[str, Any]) -> None:
    usage = data.get("usage")
    if isinstance(usage, Mapping) and "input_tokens" in usage:  # Anthropic Messages
        _apply_anthropic(reading, data)
    elif isinstance(usage, Mapping):  # Amazon Nova: Converse's names
        _apply_nova(reading, data)
    elif "prompt_token_count" in data or "generation_token_count" in data:  # Meta Llama
        _set_counts(
            reading, {"input": data.get("prompt_token_count"), "output": data.get("generation_token_count")}
        )
    elif "inputTextTokenCount" in data:  # Titan text (results[].tokenCount) and Titan embeddings
        output = sum(_int(_get(r, "tokenCount")) or 0 for r in _list(data.get("results")))
        _set_counts(reading, {"input": data.get("inputTextTokenCount"), "output": output})
    metrics = data.get(METRICS_KEY)
    if isinstance(metrics, Mapping) and not reading.usage_seen:
        _set_metrics(reading, metrics)


def _apply_anthropic(reading: Reading, data: Mapping[str, Any]) -> None:
    usage = INVOKE.usage.read(data.get("usage"))
    if usage is not None:
        reading.set_usage(usage)
    rid = data.get("id")  # its ``model`` is the bare name: the requested modelId names the profile
    if isinstance(rid, str) and rid:
        reading.request_id = rid
    for block in _list(data.get("content")):
        kind = _get(block, "type")
        if kind in ANTHROPIC_TOOL_BLOCKS:
            reading.add_tool_call(str(kind))


def _apply_nova(reading: Reading, data: Mapping[str, Any]) -> None:
    usage = CONVERSE.usage.read(_nova_usage(data.get("usage")))
    if usage is not None:
        reading.set_usage(usage)
    for block in _list(_get(_get(data.get("output"), "message"), "content")):
        if isinstance(block, Mapping) and "toolUse" in block:
            reading.add_tool_call("tool_use")


def _nova_usage(usage: Any) -> Any:
    """Nova's InvokeModel usage names its cache counts ``...TokenCount``; Converse's names are read."""
    if not isinstance(usage, Mapping):
        return usage
    out = dict(usage)
    for theirs, ours in (
        ("cacheReadInputTokenCount", "cacheReadInputTokens"),
        ("cacheWriteInputTokenCount", "cacheWriteInputTokens"),
    ):
        if theirs in usage and ours not in usage:
            out[ours] = usage[theirs]
    return out


def _set_metrics(reading: Reading, metrics: Mapping[str, Any]) -> None:
    _set_counts(
        reading,
        {
            "input": metrics.get("inputTokenCount"),
            "output": metrics.get("outputTokenCount"),
            "cache_read": metrics.get("cacheReadInputTokenCount"),
            "cache_write": metrics.get("cacheWriteInputTokenCount"),
        },
    )


def _set_counts(reading: Reading, counts: Mapping[str, Any]) -> None:
    """Counts where ``input`` excludes the cache (Bedrock's convention); both input and output needed."""
    uncached, output = _int(counts.get("input")), _int(counts.get("output"))
    if uncached is None or output is None:
        return
    read, write = _int(counts.get("cache_read")) or 0, _int(counts.get("cache_write")) or 0
    values = {"input_tokens": uncached + read + write, "output_tokens": output}
    if read:
        values["cache_read_tokens"] = read
    if write:
        values["cache_write_tokens"] = write
    reading.set_usage(values)


class BedrockStream:
    """Feed the events botocore decodes from a Bedrock response stream; :attr:`reading` holds what they said.

    ``operation`` is ``converse`` (ConverseStream's events) or ``invoke``
    (InvokeModelWithResponseStream's ``{"chunk": {"bytes": ...}}``). Complete
    when the stream's usage arrived (ConverseStream's ``metadata`` event, the
    invocation metrics of the last chunk, Anthropic's ``message_stop``).

    >>> s = BedrockStream("converse")
    >>> s.feed({"contentBlockDelta": {"delta": {"text": "hi"}, "contentBlockIndex": 0}})
    >>> s.feed({"metadata": {"usage": {"inputTokens": 9, "outputTokens": 1}}})
    >>> (s.reading.input_tokens, s.reading.complete)
    (9, True)
    """

    def __init__(self, operation: str) -> None:
        if operation not in ("converse", "invoke"):
            raise ValueError(f"a Bedrock stream is 'converse' or 'invoke', not {operation!r}")
        self.reading = Reading()
        self._converse = operation == "converse"
        self._anthropic: dict[str, Any] = {}  # Anthropic usage merged over message_start and message_delta

    def feed(self, event: Mapping[str, Any]) -> None:
        """Read one event (as botocore yields it)."""
        if self._converse:
            self._converse_event(event)
            return
        chunk = _get(event, "chunk")
        raw = _get(chunk, "bytes")
        if isinstance(raw, bytes | bytearray | str):
            try:
                data = json.loads(raw)
            except ValueError:
                return
            if isinstance(data, Mapping):
                self._invoke_chunk(data)

    def error(self, code: str) -> None:
        """The stream ended with an exception event (``modelStreamErrorException``...)."""
        self.reading.error_type = code or "error"

    def end(self, reason: str = STREAM_CUT) -> None:
        """The stream stopped; without its usage it is ``incomplete`` (``stream_cut``...)."""
        if not self.reading.complete and self.reading.ended_by is None:
            self.reading.ended_by = reason

    def abandon(self) -> None:
        self.end(CLIENT_ABANDONED)

    def _converse_event(self, event: Mapping[str, Any]) -> None:
        reading = self.reading
        if "contentBlockDelta" in event:
            reading.deltas_seen += 1
        elif "contentBlockStart" in event:
            start = _get(event["contentBlockStart"], "start")
            if isinstance(start, Mapping) and "toolUse" in start:
                reading.add_tool_call("tool_use")
        elif "metadata" in event:
            usage = CONVERSE.usage.read(_get(event["metadata"], "usage"))
            if usage is not None:
                reading.set_usage(usage)
                reading.complete = True
            reading.service_tier = tier_of(_get(_get(event["metadata"], "serviceTier"), "type"))

    def _invoke_chunk(self, data: Mapping[str, Any]) -> None:
        reading = self.reading
        kind = data.get("type")
        if isinstance(kind, str):  # Anthropic Messages events
            self._anthropic_event(kind, data)
        elif "contentBlockDelta" in data or "metadata" in data or "contentBlockStart" in data:  # Nova
            nova = dict(data)
            if "metadata" in nova:
                nova["metadata"] = {**nova["metadata"], "usage": _nova_usage(_get(nova["metadata"], "usage"))}
            self._converse_event(nova)
        elif any(k in data for k in ("generation", "outputText", "outputs", "completion")):
            reading.deltas_seen += 1
        metrics = data.get(METRICS_KEY)
        if isinstance(metrics, Mapping):
            if not reading.usage_seen:
                _set_metrics(reading, metrics)
            reading.complete = reading.usage_seen

    def _anthropic_event(self, kind: str, data: Mapping[str, Any]) -> None:
        reading = self.reading
        if kind == "content_block_delta":
            reading.deltas_seen += 1
        elif kind == "message_start":
            message = data.get("message")
            rid = _get(message, "id")
            reading.request_id = rid if isinstance(rid, str) and rid else reading.request_id
            self._merge(_get(message, "usage"))
        elif kind == "message_delta":
            self._merge(data.get("usage"))
        elif kind == "content_block_start":
            block_type = _get(data.get("content_block"), "type")
            if block_type in ANTHROPIC_TOOL_BLOCKS:
                reading.add_tool_call(str(block_type))
        elif kind == "message_stop":
            reading.complete = reading.usage_seen
        elif kind == "error":
            reading.error_type = str(_get(data.get("error"), "type") or "error")

    def _merge(self, usage: Any) -> None:
        if not isinstance(usage, Mapping):
            return
        self._anthropic.update({k: v for k, v in usage.items() if v is not None})
        values = INVOKE.usage.read(self._anthropic)
        if values is not None:
            self.reading.set_usage(values)


def _request_id(response: Mapping[str, Any]) -> str | None:
    rid = _get(response.get("ResponseMetadata"), "RequestId")
    return rid if isinstance(rid, str) and rid else None


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return max(value, 0)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _get(obj: Any, key: str) -> Any:
    return obj.get(key) if isinstance(obj, Mapping) else None


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []
