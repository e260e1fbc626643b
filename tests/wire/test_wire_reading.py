"""The one reading of wire formats, against the corpus: whole bodies, and streams cut into any chunks."""

from __future__ import annotations

import json

import pytest
from tests.wire.wire_corpus import CASES, COMPARED, Case

from costtrail.wire import CHAT, MESSAGES, RESPONSES, Reading, StreamReading, flavor_named, read_body


def _read(case: Case, chunk: int) -> Reading:
    flavor = flavor_named(case.provider, case.flavor)
    if not case.streamed:
        return read_body(flavor, case.body)
    stream = StreamReading(flavor)
    passed = b""
    for i in range(0, len(case.body), chunk):
        passed += stream.feed(case.body[i : i + chunk])
    stream.close()
    assert passed == case.body  # bytes pass through untouched
    return stream.reading


def _seen(reading: Reading) -> dict[str, object]:
    status, error_type = reading.status(200)
    fields = reading.envelope_fields()
    seen = {"status": status, "error_type": error_type, "service_tier": None, **fields}
    return {k: seen[k] for k in COMPARED}


@pytest.mark.parametrize("chunk", [1, 7, 1 << 20])
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_corpus_reading(case: Case, chunk: int) -> None:
    reading = _read(case, chunk)
    assert _seen(reading) == {k: case.expected[k] for k in COMPARED}
    assert reading.attributes().get("tool_call_types") == case.expected["tool_call_types"]
    if case.expected["status"] != "incomplete" or case.expected["model"]:
        assert reading.model == case.expected["model"]


def test_tool_calls_count_each_invocation_once() -> None:
    """A server tool (web search) and a client tool are two calls on every door (SDK said 2, gateway 1)."""
    body = {
        "model": "gpt-4o",
        "output": [
            {"type": "web_search_call", "id": "ws_1", "status": "completed"},
            {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "f", "arguments": "{}"},
            {"type": "message", "id": "msg_1", "content": []},
        ],
        "usage": {"input_tokens": 10, "output_tokens": 2},
    }
    assert read_body(RESPONSES, body).tool_calls == {"web_search_call": 1, "function_call": 1}
    message = {
        "model": "claude-sonnet-4-5",
        "content": [
            {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {}},
            {"type": "web_search_tool_result", "tool_use_id": "srvtoolu_1", "content": []},
            {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}},
        ],
        "usage": {"input_tokens": 10, "output_tokens": 2},
    }
    assert read_body(MESSAGES, message).tool_call_count == 2


def test_stripping_hides_only_the_injected_usage_chunk() -> None:
    case = next(c for c in CASES if c.name == "openai_chat_o3_priority_tools_stream")
    stream = StreamReading(CHAT, strip_usage=True)
    out = stream.feed(case.body) + stream.close()
    assert b'"usage"' not in out and out.count(b"data: ") == case.body.count(b"data: ") - 1
    assert stream.reading.input_tokens == 100_000 and stream.reading.complete


def test_an_empty_or_null_usage_count_is_zero_and_a_missing_usage_is_incomplete() -> None:
    usage = {"prompt_tokens": 5, "completion_tokens": 1, "prompt_tokens_details": None}
    body = {"model": "gpt-4o", "usage": usage}
    assert read_body(CHAT, json.dumps(body).encode()).status(200) == ("success", None)
    assert read_body(CHAT, {"model": "gpt-4o", "choices": []}).status(200) == ("incomplete", "no_usage")


def test_a_stream_the_client_abandons_is_incomplete() -> None:
    case = next(c for c in CASES if c.name == "anthropic_stream_thinking_server_tools")
    stream = StreamReading(MESSAGES)
    stream.feed(case.body[: len(case.body) // 3])
    stream.abandon()
    assert stream.reading.status(200) == ("incomplete", "client_abandoned")
    assert stream.reading.input_tokens == 3600  # what message_start said is kept for the estimate
