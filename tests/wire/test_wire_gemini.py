"""Gemini bodies and alt=sse streams read into the same Reading, whatever the chunk boundaries."""

from __future__ import annotations

import json

from costtrail.wire import GEMINI, StreamReading, flavor_for_path, model_from_path, read_body

USAGE = {
    "promptTokenCount": 1200,
    "cachedContentTokenCount": 1000,
    "candidatesTokenCount": 200,
    "thoughtsTokenCount": 100,
    "toolUsePromptTokenCount": 40,
    "promptTokensDetails": [
        {"modality": "TEXT", "tokenCount": 1100},
        {"modality": "IMAGE", "tokenCount": 100},
    ],
}
CALL = {"functionCall": {"name": "lookup", "args": {"q": "x"}}}


def _chunk(parts: list[dict[str, object]], *, finish: str | None = None, usage: object = None) -> bytes:
    candidate: dict[str, object] = {"content": {"parts": parts, "role": "model"}, "index": 0}
    if finish:
        candidate["finishReason"] = finish
    data = {"candidates": [candidate], "modelVersion": "gemini-2.5-flash", "responseId": "r-1"}
    if usage is not None:
        data["usageMetadata"] = usage
    return b"data: " + json.dumps(data).encode() + b"\r\n\r\n"


def test_paths_name_the_flavor_and_the_model() -> None:
    for path in (
        "/v1beta/models/gemini-2.5-pro:generateContent",
        "/v1/models/gemini-2.5-pro:streamGenerateContent",
    ):
        assert flavor_for_path(path) is GEMINI
        assert model_from_path(path) == "gemini-2.5-pro"
    assert flavor_for_path("/v1beta/models/gemini-embedding-001:batchEmbedContents").kind == "embedding"


def test_a_stream_split_anywhere_reads_like_the_whole_body() -> None:
    stream = (
        _chunk([{"text": "hello"}], usage={"promptTokenCount": 1200, "totalTokenCount": 1200})
        + _chunk([CALL])
        + _chunk([{"text": ""}], finish="STOP", usage=USAGE)
    )
    body = {
        "candidates": [{"content": {"parts": [{"text": "hello"}, CALL]}, "finishReason": "STOP"}],
        "usageMetadata": USAGE,
        "modelVersion": "gemini-2.5-flash",
        "responseId": "r-1",
    }
    whole = read_body(GEMINI, json.dumps(body).encode())
    for size in (1, 7, len(stream)):
        reader = StreamReading(GEMINI)
        for i in range(0, len(stream), size):
            reader.feed(stream[i : i + size])
        reader.close()
        got = reader.reading
        assert got.status(200) == whole.status(200) == ("success", None)
        fields = (
            "model",
            "request_id",
            "input_tokens",
            "output_tokens",
            "cache_read_tokens",
            "reasoning_tokens",
        )
        assert [getattr(got, f) for f in fields] == [getattr(whole, f) for f in fields]
        assert got.tool_calls == whole.tool_calls == {"function_call": 1}
    # input: 1200 prompt (cache included) + 40 tool-use prompt; output: 200 candidates + 100 thoughts
    assert (whole.input_tokens, whole.output_tokens, whole.input_image_tokens) == (1240, 300, 100)


def test_a_stream_without_its_finish_reason_is_cut_and_an_error_event_names_the_error() -> None:
    cut = StreamReading(GEMINI)
    cut.feed(_chunk([{"text": "hel"}], usage={"promptTokenCount": 50}))
    cut.close()
    assert cut.reading.status(200) == ("incomplete", "stream_cut")
    assert cut.reading.input_tokens == 50
    failed = StreamReading(GEMINI)
    failed.feed(b'data: {"error": {"code": 503, "message": "overloaded", "status": "UNAVAILABLE"}}\r\n\r\n')
    failed.close()
    assert failed.reading.status(200) == ("incomplete", "UNAVAILABLE")


def test_an_error_body_and_an_unreadable_body() -> None:
    error = read_body(GEMINI, b'{"error": {"code": 429, "message": "quota", "status": "RESOURCE_EXHAUSTED"}}')
    assert error.status(429) == ("error", "RESOURCE_EXHAUSTED")
    assert read_body(GEMINI, b'{"candidates": [').status(200) == ("incomplete", "malformed_body")
