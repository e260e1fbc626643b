"""SDK cost on the caller's thread per recorded call, against baselines run side by side.

Measured in one run:

- baselines: an empty function call, and ``queue.Queue.put_nowait`` of a small dict;
- ``recorder.record(...)`` inside a run and a step (what an app pays per manual record);
- ``InstrumentedCall.finish()`` for an instrumented model call (building the event dict once the provider
  has answered: the SDK's own share of an instrumented call, beyond the HTTP exchange);
- the same ``record`` while the writer thread is busy validating, pricing and writing to a
  DuckDB ledger (the GIL is shared, so a busy writer shows up on the caller's clock), and the
  writer's throughput (events written per second).
"""

from __future__ import annotations

import queue
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from costtrail.schema import Event, Outcome
from costtrail.sdk import LedgerDestination, QueuedSink, Recorder
from costtrail.sdk.calls import InstrumentedCall
from costtrail.wire import Reading

N = 20_000
REPEATS = 5


class _Discard:
    """A destination that keeps nothing (the timed sink's writer stays idle until the end)."""

    def write_events(self, events: Sequence[Event]) -> None: ...

    def write_outcomes(self, outcomes: Sequence[Outcome]) -> None: ...

    def tick(self, deadline: float | None) -> None: ...

    def close(self, deadline: float) -> None: ...

    def stats(self) -> dict[str, int]:
        return {}


def _per_call_us(fn: Callable[[], Any], n: int = N) -> float:
    runs = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        for _ in range(n):
            fn()
        runs.append((time.perf_counter() - start) / n * 1e6)
    return statistics.median(runs)


def _caller_costs() -> dict[str, float]:
    sink = QueuedSink(_Discard, max_queue=10**8, batch_size=10**9, flush_interval=3600, price=False)
    recorder = Recorder(sink, defaults={"environment": "bench"})
    plain_queue: queue.Queue[dict[str, Any]] = queue.Queue()

    def empty() -> None:
        return None

    def queue_put() -> None:
        plain_queue.put_nowait({"kind": "tool", "tool_name": "search", "query_count": 1})

    def record() -> None:
        recorder.record("tool", tool_name="search", query_count=1)

    def finish_call() -> None:
        call = InstrumentedCall(lambda: recorder, "openai", "chat", "llm", "gpt-4o-mini")
        call.attempts, call.payload_bytes, call.request_id = 1, 812, "req_0123456789abcdef"
        call.reading = Reading(
            model="gpt-4o-mini",
            input_tokens=1200,
            output_tokens=300,
            cache_read_tokens=1024,
            usage_seen=True,
            complete=True,
        )
        call.http_status = 200
        call.finish()

    with recorder.run("support_reply", customer_id="c-1", feature="chat"), recorder.step("draft", agent="w"):
        out = {
            "empty_call_us": _per_call_us(empty),
            "queue_put_us": _per_call_us(queue_put),
            "record_us": _per_call_us(record),
            "instrumented_call_overhead_us": _per_call_us(finish_call),
        }
    recorder.close(120)
    return out


def _with_busy_writer(n: int = N) -> dict[str, float]:
    folder = Path(tempfile.mkdtemp())
    sink = QueuedSink(
        lambda: LedgerDestination(str(folder / "bench.duckdb")), max_queue=10**7, flush_interval=0.1
    )
    recorder = Recorder(sink, defaults={"environment": "bench"})
    recorder.record("tool", tool_name="warm-up")
    recorder.flush(60)
    with recorder.run("support_reply", customer_id="c-1"):
        start = time.perf_counter()
        for _ in range(n):
            recorder.record(
                "llm", provider="openai", model="gpt-4o-mini", input_tokens=1200, output_tokens=300
            )
        caller_s = time.perf_counter() - start
        recorder.flush(600)
        total_s = time.perf_counter() - start
    written = recorder.stats().get("written", 0) - 1
    recorder.close()
    return {
        "record_us_writer_busy": caller_s / n * 1e6,
        "writer_events_per_s": written / total_s,
        "writer_events_written": float(written),
    }


def main() -> dict[str, float]:
    results = _caller_costs()
    results.update(_with_busy_writer())
    results["record_vs_queue_put"] = results["record_us"] / results["queue_put_us"]
    results["record_vs_empty_call"] = results["record_us"] / results["empty_call_us"]
    for name, value in results.items():
        print(f"{name:32s} {value:14.3f}")
    return results


if __name__ == "__main__":
    main()
