"""The caller's-thread fast path gives the same event as the full path, through the real clients.

Without enforced budgets (no observer on the recorder) an instrumented call only notes its
requests and answers and the writer thread replays them (``costtrail.sdk.calls.SentCall``, the
Gemini send's partial); with an observer every call takes the full path. The same call made
both ways, against the fake provider over real HTTP, must be recorded the same.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import anthropic
import httpx
import openai
import pytest
from google import genai
from google.genai import types
from tests.waiting import wait_until

from costtrail.ledger.duckdb_store import DuckDBStore
from costtrail.sdk import LedgerDestination, QueuedSink, Recorder, http_capture, instrument

# What differs between two calls by nature: ids and times.
VOLATILE = frozenset(
    {"event_id", "event_uuid", "request_id", "started_at", "ended_at", "latency_ms", "ingested_at"}
)
OPENAI_USAGE = {"x-fake-input-tokens": "1200", "x-fake-cached-tokens": "1024", "x-fake-output-tokens": "300"}
MESSAGES = [{"role": "user", "content": "Where is my order #1234?"}]


class _Watching:
    """An observer that only looks: its presence sends every call down the full path."""

    def __init__(self) -> None:
        self.seen = 0

    def observe(self, event: Mapping[str, Any]) -> None:
        self.seen += 1


class _Queued:
    """The sink's queue as the fast path sees it (``Recorder.quick_lane``), noting what it is given."""

    def __init__(self, queue: Any) -> None:
        self.queue = queue
        self.given: list[Any] = []

    def __len__(self) -> int:
        return len(self.queue)

    def append(self, build: Any) -> None:
        self.given.append(build)
        self.queue.append(build)


def _queued_by(recorder: Any) -> _Queued:
    """Spy on what the fast path queues (``del recorder.quick_lane, recorder.emit_later`` to stop)."""
    queue, room = recorder.quick_lane
    spy = _Queued(queue)
    recorder.quick_lane = [spy, room]
    emit_later = recorder.emit_later
    recorder.emit_later = lambda build: spy.given.append(build) or emit_later(build)
    return spy


def _fast(ledger: Any, call: Any) -> None:
    """``call()``, checked to have taken the fast path: its event is queued as a replay to build later."""
    recorder = ledger.recorder
    lane = recorder.quick_lane
    spy = _queued_by(recorder)
    try:
        call()
    finally:
        recorder.quick_lane = lane
        del recorder.emit_later
    assert [getattr(build, "func", build).__name__ for build in spy.given] in (["built_later"], ["_answered"])


def _both_ways(ledger: Any, call: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """The event of ``call()`` on the fast path, then on the full path (same client, same request)."""
    _fast(ledger, call)
    watching = _Watching()
    ledger.recorder.observe_with(watching)
    try:
        call()
    finally:
        ledger.recorder.observe_with(None)
    assert watching.seen == 1, "the second call did not take the full path"
    fast, full = ledger.events()
    return fast, full


def _same(fast: dict[str, Any], full: dict[str, Any]) -> None:
    differing = {k: (fast[k], full[k]) for k in fast if k not in VOLATILE and fast[k] != full[k]}
    assert differing == {}
    assert (fast["request_id"] is None) == (full["request_id"] is None)  # each call's own id, or none


@pytest.mark.parametrize("failed_attempts", [0, 2])
def test_openai_fast_path_event_equals_the_full_paths(fake: Any, ledger: Any, failed_attempts: int) -> None:
    headers = {**OPENAI_USAGE, "x-fake-fail-attempts": str(failed_attempts), "x-fake-status": "429"}
    with openai.OpenAI(base_url=fake.openai_base_url, api_key="sk-test") as client:
        instrument(client, recorder=ledger.recorder)
        fast, full = _both_ways(
            ledger,
            lambda: client.chat.completions.create(
                model="gpt-4o-mini", messages=MESSAGES, extra_headers=headers
            ),
        )
    _same(fast, full)
    assert (fast["retry_count"], fast["input_tokens"], fast["cache_read_tokens"]) == (
        failed_attempts,
        1200,
        1024,
    )


async def test_async_anthropic_fast_path_event_equals_the_full_paths(fake: Any, ledger: Any) -> None:
    client = anthropic.AsyncAnthropic(base_url=fake.base_url, api_key="sk-ant-test")
    instrument(client, recorder=ledger.recorder)
    results = []

    async def call() -> None:
        results.append(
            await client.messages.create(model="claude-sonnet-4-5", max_tokens=64, messages=MESSAGES)
        )

    recorder = ledger.recorder
    lane = recorder.quick_lane
    spy = _queued_by(recorder)
    await call()
    recorder.quick_lane = lane
    del recorder.emit_later
    assert [build.func.__name__ for build in spy.given] == ["built_later"]  # the fast path's replay
    watching = _Watching()
    ledger.recorder.observe_with(watching)
    await call()
    ledger.recorder.observe_with(None)
    await client.close()
    fast, full = ledger.events()
    assert watching.seen == 1
    _same(fast, full)
    assert fast["provider"] == "anthropic" and fast["cost_usd"] is not None


def test_gemini_fast_path_event_equals_the_full_paths(fake: Any, ledger: Any) -> None:
    usage = {"x-fake-input-tokens": "1200", "x-fake-cached-tokens": "1000", "x-fake-output-tokens": "300"}
    client = genai.Client(
        api_key="AIza-test-key", http_options=types.HttpOptions(base_url=fake.base_url, headers=usage)
    )
    instrument(client, recorder=ledger.recorder)
    fast, full = _both_ways(
        ledger,
        lambda: client.models.generate_content(model="gemini-2.5-flash", contents="Where is my order?"),
    )
    client.close()
    _same(fast, full)
    assert (fast["provider"], fast["input_tokens"], fast["cache_read_tokens"]) == ("google", 1200, 1000)


def test_a_request_of_no_model_call_inside_a_call_is_not_its_attempt(fake: Any, ledger: Any) -> None:
    """An HTTP request the SDK's client sends during the call (a token fetch...) is not a retry of it."""
    http = httpx.Client()
    client = openai.OpenAI(base_url=fake.openai_base_url, api_key="sk-test", http_client=http)
    instrument(client, recorder=ledger.recorder)

    def fetch_something_else(request: httpx.Request) -> None:
        if request.url.path.endswith("/chat/completions"):
            http.get(f"{fake.openai_base_url}/models")  # through the instrumented send, mid-call

    http.event_hooks["request"] = [fetch_something_else]
    client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, extra_headers=OPENAI_USAGE)
    client.close()
    [event] = ledger.events()
    assert (event["retry_count"], event["input_tokens"], event["status"]) == (0, 1200, "success")


def test_the_quick_lane_wakes_the_writer_at_a_batch_and_counts_a_call_after_close(fake: Any) -> None:
    """The fast path appends to the queue itself only below a batch; past it, or closed, the sink decides."""
    store = DuckDBStore(":memory:")
    sink = QueuedSink(lambda: LedgerDestination(store=store), batch_size=2, flush_interval=3600)
    recorder = Recorder(sink)
    with openai.OpenAI(base_url=fake.openai_base_url, api_key="sk-test") as client:
        instrument(client, recorder=recorder)
        for _ in range(3):  # the third call finds a batch queued: it wakes the writer (no flush asked)
            client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, extra_headers=OPENAI_USAGE)
        assert wait_until(lambda: sink.stats()["written"] == 3, timeout=10)
        recorder.close(10)
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, extra_headers=OPENAI_USAGE)
    assert (sink.stats()["dropped"], sink.stats()["written"]) == (1, 3)  # counted, not silently lost
    store.close()


def test_a_failure_noting_a_gemini_request_never_reaches_the_app(
    fake: Any, ledger: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    client = genai.Client(api_key="AIza-test-key", http_options=types.HttpOptions(base_url=fake.base_url))
    instrument(client, recorder=ledger.recorder)

    def broken(provider: str, path: str) -> None:
        raise RuntimeError("route table broken")

    monkeypatch.setattr(http_capture, "_route", broken)
    answer = client.models.generate_content(model="gemini-2.5-flash", contents="Where is my order?")
    client.close()
    assert answer.candidates  # the app got its answer
    assert "could not read an outgoing request" in caplog.text and ledger.events() == []
