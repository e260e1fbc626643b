"""Google's Gemini API wire format: ``generateContent`` bodies and ``streamGenerateContent`` SSE streams.

The model is named in the URL (``/v1beta/models/gemini-2.5-flash:generateContent``), not the
body; the answer names the model that served it in ``modelVersion``. ``usageMetadata`` is read
with genai-prices' own extractor for provider ``google``: ``promptTokenCount`` (inclusive of
``cachedContentTokenCount``) plus ``toolUsePromptTokenCount`` is the input,
``candidatesTokenCount`` plus ``thoughtsTokenCount`` the output, the thoughts also the
reasoning tokens, ``promptTokensDetails`` the per-modality input. In a stream every chunk
carries the usage so far, so the last one read wins; the stream is whole once a candidate
says its ``finishReason``. ``embedContent`` answers carry no usage on the Gemini API.

>>> from costtrail.wire import GEMINI, read_body
>>> r = read_body(GEMINI, b'{"modelVersion": "gemini-2.5-flash", "candidates": [{"finishReason": "STOP"}],'
...     b' "usageMetadata": {"promptTokenCount": 100, "cachedContentTokenCount": 60,'
...     b' "candidatesTokenCount": 20, "thoughtsTokenCount": 30, "toolUsePromptTokenCount": 5}}')
>>> (r.input_tokens, r.cache_read_tokens, r.output_tokens, r.reasoning_tokens, r.status(200))
(105, 60, 50, 30, ('success', None))
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from costtrail.schema.events import TOKEN_FIELDS
from costtrail.wire.reading import Reading
from costtrail.wire.usage import USAGE_FIELDS, UsageMap

# ``.../models/{model}:{method}`` (Gemini API and Vertex AI publisher paths alike).
_MODEL_PATH = re.compile(r"/models/([^/:]+):([A-Za-z]+)$")
# What a usage block says that a later chunk's usage replaces (tool fees are counted apart).
_RESET = tuple(f for f in USAGE_FIELDS if f in TOKEN_FIELDS or f.endswith("_tokens"))
# Gemini parts that are a call of a tool: ``functionCall`` by the client, ``executableCode`` run by Google.
_TOOL_PARTS = {"functionCall": "function_call", "executableCode": "code_execution_call"}


def model_from_path(path: str) -> str | None:
    """The model a Gemini URL path names (``/v1beta/models/gemini-2.5-pro:generateContent``).

    >>> model_from_path("/v1beta/models/gemini-2.5-pro:streamGenerateContent")
    'gemini-2.5-pro'
    """
    found = _MODEL_PATH.search(path)
    return found.group(1) if found else None


def apply_gemini(usage: UsageMap, reading: Reading, data: Mapping[str, Any]) -> None:
    """Fill ``reading`` from one ``GenerateContentResponse`` (a whole body, or one chunk of a stream)."""
    model = data.get("modelVersion")
    if isinstance(model, str) and model:
        reading.model = model
    rid = data.get("responseId")
    if isinstance(rid, str) and rid:
        reading.request_id = rid
    values = usage.read(usage.block(data))
    if values is not None:
        # A stream's chunks each say the usage so far: the newest replaces what an earlier one said.
        for name in _RESET:
            setattr(reading, name, 0)
        reading.set_usage(values)
    err = gemini_error(data)
    if err is not None:
        reading.error_type = err
    for candidate in _list(data.get("candidates")):
        if not isinstance(candidate, Mapping):
            continue
        content = candidate.get("content")
        for part in _list(content.get("parts") if isinstance(content, Mapping) else None):
            if isinstance(part, Mapping):
                for key, kind in _TOOL_PARTS.items():
                    if key in part:
                        reading.add_tool_call(kind)
        if candidate.get("finishReason"):
            reading.complete = True
        searches = grounded_searches(candidate.get("groundingMetadata"), reading.model)
        reading.web_searches = max(reading.web_searches, searches)  # chunks may repeat the metadata


def grounded_searches(grounding: Any, model: str | None) -> int:
    """What Google bills for grounding with Google Search: Gemini 3 models each search query the
    answer made (``webSearchQueries``), earlier models one grounded prompt however many queries.

    >>> grounded_searches({"webSearchQueries": ["a", "b"]}, "gemini-2.5-flash")
    1
    >>> grounded_searches({"webSearchQueries": ["a", "b"]}, "gemini-3-pro-preview")
    2
    """
    queries = grounding.get("webSearchQueries") if isinstance(grounding, Mapping) else None
    if not isinstance(queries, list) or not queries:
        return 0
    return len(queries) if (model or "").startswith("gemini-3") else 1


def gemini_error(data: Mapping[str, Any]) -> str | None:
    """An error body's ``status`` (``RESOURCE_EXHAUSTED``...), else its code; ``None`` when not an error."""
    err = data.get("error")
    if not isinstance(err, Mapping):
        return None
    value = err.get("status") or err.get("code")
    return str(value) if value else "error"


def gemini_request(model: str | None, body: Mapping[str, Any]) -> dict[str, Any]:
    """A Gemini request as the fields the estimators read (``model``, text, ``max_output_tokens``).

    >>> gemini_request("gemini-2.5-flash", {"contents": [{"parts": [{"text": "hi"}]}],
    ...     "generationConfig": {"maxOutputTokens": 64}})["max_output_tokens"]
    64
    """
    out: dict[str, Any] = {"model": model, "contents": body.get("contents")}
    system = body.get("systemInstruction") or body.get("system_instruction")
    if system is not None:
        out["systemInstruction"] = system
    if body.get("tools") is not None:
        out["tools"] = body.get("tools")
    for key in ("content", "requests"):  # embedContent / batchEmbedContents
        if body.get(key) is not None:
            out[key] = body.get(key)
    config = body.get("generationConfig") or body.get("generation_config")
    cap = config.get("maxOutputTokens") if isinstance(config, Mapping) else None
    if isinstance(cap, int) and not isinstance(cap, bool) and cap > 0:
        out["max_output_tokens"] = cap
    return out


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []
