"""Event batches prepared in worker processes: the collector's use of more than one core.

Parsing, validating, converting and pricing a batch is Python work that holds
the GIL; in one process it caps the collector at about one core. With
``workers > 0`` the collector (the ledger's one owner process) hands each
``POST /v1/events`` body to a small pool of worker processes, which return the
priced rows as Arrow IPC bytes with the batch's problems. The owner keeps what
must stay in one place: HTTP, auth, the group-commit writer and the ledger
file. A request is still answered only after the writer committed *its* rows,
so the durability and exactly-once rules are those of the in-process path.

Robustness:

- workers are started with ``spawn`` (no copy of the owner's open ledger,
  threads or locks) and ignore SIGINT (the owner shuts them down);
- a worker whose owner died (``kill -9``) exits within a second;
- a worker that dies mid-batch breaks the pool: that request is prepared in the
  owner instead and the pool is replaced, so no request fails for it.
"""

from __future__ import annotations

import asyncio
import atexit
import gc
import logging
import multiprocessing
import os
import signal
import threading
import time
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass

import pyarrow as pa

from costtrail.auth import ApiKey
from costtrail.collector.intake import BatchResult, PreparedEvents, prepare_events
from costtrail.collector.payload import Limits, parse_records
from costtrail.ledger.columns import EVENT_SCHEMA
from costtrail.pricing import Pricer, RateCard
from costtrail.schema import Problem

log = logging.getLogger("costtrail.collector")


@dataclass(frozen=True)
class Prepared:
    """What a worker sends back: the priced rows (Arrow IPC stream, or empty) and the batch's result."""

    rows: bytes
    received: int
    unpriced: int
    problems: list[Problem]

    def unpack(self) -> tuple[PreparedEvents, int]:
        table = pa.ipc.open_stream(self.rows).read_all() if self.rows else EVENT_SCHEMA.empty_table()
        result = BatchResult(unpriced=self.unpriced, problems=self.problems)
        return PreparedEvents(table, result), self.received


def prepare_body(body: bytes, content_type: str, key: ApiKey, pricer: Pricer, limits: Limits) -> Prepared:
    """Parse, validate and price one ``POST /v1/events`` body (in a worker, or in the owner)."""
    records = parse_records(body, content_type, limits)
    prepared = prepare_events(records, key, pricer)
    rows = b""
    if prepared.table.num_rows:
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, prepared.table.schema) as writer:
            writer.write_table(prepared.table)
        rows = sink.getvalue().to_pybytes()
    return Prepared(rows, len(records), prepared.result.unpriced, prepared.result.problems)


class _Worker:
    """The one thing a worker process keeps between batches: its pricer (built once, at start)."""

    pricer: Pricer | None = None


def _start_worker(rate_card: RateCard | None, owner: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _Worker.pricer = Pricer(rate_card)
    # What the imports built lives as long as the worker: frozen, the garbage collector's passes
    # stop walking it, which is a measurable share of a worker's CPU per event (bench/RESULTS.md).
    gc.freeze()
    # Unfrozen before the interpreter's last collection, or DuckDB's bindings print pages of
    # "nanobind: leaked ..." each time a worker stops.
    atexit.register(gc.unfreeze)
    threading.Thread(
        target=_exit_with_owner, args=(owner,), name="costtrail-owner-watch", daemon=True
    ).start()


def _exit_with_owner(owner: int) -> None:
    # A worker blocked on its task queue would outlive an owner killed with SIGKILL: nothing closes
    # the queue's pipe (the worker holds both ends). It holds no ledger, so it may just exit.
    while os.getppid() == owner:
        time.sleep(1.0)
    os._exit(0)


def _ready() -> bool:
    return True


def _prepare_in_worker(body: bytes, content_type: str, key: ApiKey, limits: Limits) -> Prepared:
    pricer = _Worker.pricer
    assert pricer is not None, "the worker was not started by PreparePool"
    return prepare_body(body, content_type, key, pricer, limits)


class PreparePool:
    """Worker processes that prepare event batches for the owner's writer.

    In the collector's event loop::

        pool = PreparePool(1, Pricer(), Limits())
        prepared, received = await pool.prepare(body, "application/json", key)
    """

    def __init__(self, workers: int, pricer: Pricer, limits: Limits) -> None:
        if workers < 1:
            raise ValueError(f"a prepare pool needs at least one worker, got {workers}")
        self.workers = workers
        self._pricer = pricer
        self._limits = limits
        self._lock = threading.Lock()
        self._executor: ProcessPoolExecutor | None = self._start()
        self.replaced = 0  # pools replaced after a worker died

    def _start(self) -> ProcessPoolExecutor:
        executor = ProcessPoolExecutor(
            self.workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_worker,
            initargs=(self._pricer.rate_card, os.getpid()),
        )
        for _ in range(self.workers):
            executor.submit(_ready)  # start and warm the workers now, not on the first request
        return executor

    async def prepare(self, body: bytes, content_type: str, key: ApiKey) -> tuple[PreparedEvents, int]:
        """The body's prepared batch and its record count; raises ``ApiError`` for a bad body."""
        # Only what preparing needs crosses the process boundary (a key's defaults may not pickle).
        bare = ApiKey(key_id=key.key_id, scope=key.scope, tenant=key.tenant)
        executor = self._executor
        if executor is None:
            raise RuntimeError("the collector's prepare pool is closed")
        try:
            future: Future[Prepared] = executor.submit(
                _prepare_in_worker, body, content_type, bare, self._limits
            )
            prepared = await asyncio.wrap_future(future)
        except BrokenProcessPool:
            self._replace(executor)
            prepared = await asyncio.to_thread(
                prepare_body, body, content_type, bare, self._pricer, self._limits
            )
        return prepared.unpack()

    def _replace(self, broken: ProcessPoolExecutor) -> None:
        with self._lock:
            if self._executor is not broken:
                return  # another request replaced it already
            log.error("a collector worker process died; starting a new pool (the batch is prepared here)")
            self._executor = self._start()
            self.replaced += 1
        broken.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        """Stop the workers (batches already handed to them are finished first)."""
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=False)
