"""Accepting batches: tenant rules, validation, pricing and a durable append.

An event batch is validated a column at a time (``ledger.columnar``: the same
rules as ``Event``, the bad records explained with their index, field and
reason), priced in bulk, and the good rows appended in one store call (a
committed transaction on DuckDB) before the caller is answered. The collector
splits this in two (:func:`prepare_events`, then its group-commit writer) so
that concurrent batches share one append.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel

from costtrail.auth import ApiKey
from costtrail.collector.run_owners import RUN_OWNED, RunOwners
from costtrail.ingest import IngestResult
from costtrail.ledger.columnar import event_batch
from costtrail.ledger.store import AppendResult, LedgerStore
from costtrail.pricing import Pricer
from costtrail.schema import CostLine, Outcome, Problem, validate_many

M = TypeVar("M", bound=BaseModel)


# One result shape for every way events come in (files, the collector).
BatchResult = IngestResult


def scope_to_tenant(records: Sequence[Any], key: ApiKey) -> tuple[list[Any], list[int], list[Problem]]:
    """Apply a tenant-bound key's tenant: fill it in where missing, refuse records for another tenant.

    Returns the kept records, their indexes in the original batch, and the refusals.
    """
    if key.tenant is None:
        return list(records), list(range(len(records))), []
    kept: list[Any] = []
    where: list[int] = []
    problems: list[Problem] = []
    for i, raw in enumerate(records):
        if isinstance(raw, dict):
            tenant = raw.get("tenant_id")
            if tenant in (None, ""):
                raw = {**raw, "tenant_id": key.tenant}
            elif tenant != key.tenant:
                problems.append(
                    Problem(
                        i,
                        "tenant_id",
                        f"unknown tenant '{tenant}' for this key: it may only write tenant '{key.tenant}' "
                        "(omit tenant_id, or use that tenant's key)",
                    )
                )
                continue
        kept.append(raw)
        where.append(i)
    return kept, where, problems


def _validate_indexed(
    model: type[M], records: Sequence[Any], key: ApiKey, result: BatchResult
) -> tuple[list[int], list[M]]:
    """The valid records and their indexes in the batch; the others explained in ``result``."""
    kept, where, refused = scope_to_tenant(records, key)
    good, problems = validate_many(model, kept)
    result.problems.extend(refused)
    result.problems.extend(Problem(where[p.index], p.field, p.reason) for p in problems)
    result.problems.sort(key=lambda p: p.index)
    bad = {p.index for p in problems}
    return [where[j] for j in range(len(kept)) if j not in bad], good


def _count(result: BatchResult, appended: AppendResult) -> BatchResult:
    result.accepted += appended.accepted
    result.duplicates += appended.duplicates
    return result


@dataclass
class PreparedEvents:
    """A validated, priced batch waiting for its append: the rows and the result so far."""

    table: pa.Table
    result: BatchResult


def prepare_events(records: Sequence[Any], key: ApiKey, pricer: Pricer) -> PreparedEvents:
    """Tenant rules, validation and pricing of a batch of event records (no store access)."""
    result = BatchResult()
    kept, where, refused = scope_to_tenant(records, key)
    batch = event_batch(kept)
    result.problems = refused + [Problem(where[p.index], p.field, p.reason) for p in batch.problems]
    result.problems.sort(key=lambda p: p.index)
    table = batch.table
    if table.num_rows:
        # The bulk path: one Arrow table priced in one pass.
        table = pricer.price_table(table)
        result.unpriced = int(pc.sum(table.column("unpriced")).as_py() or 0)
    return PreparedEvents(table, result)


def keep_own_runs(prepared: PreparedEvents, key: ApiKey, owners: RunOwners) -> PreparedEvents:
    """Refuse (403, ``run_id``) the rows of a tenant key that name another tenant's run (run_owners)."""
    table = prepared.table
    if key.tenant is None or not table.num_rows:
        return prepared
    runs = table.column("run_id")
    foreign = owners.foreign(key.tenant, [r for r in pc.unique(runs).to_pylist() if r is not None])
    if not foreign:
        return prepared
    result = prepared.result
    # The table holds, in order, every record that has no problem yet.
    refused = {p.index for p in result.problems}
    where = [i for i in range(table.num_rows + len(refused)) if i not in refused]
    mine: list[bool] = []
    for row, run in enumerate(runs.to_pylist()):
        mine.append(run not in foreign)
        if run in foreign:
            result.problems.append(Problem(where[row], "run_id", f"run '{run}' {RUN_OWNED}"))
            result.forbidden += 1
    result.problems.sort(key=lambda p: p.index)
    table = table.filter(pa.array(mine, pa.bool_()))
    result.unpriced = int(pc.sum(table.column("unpriced")).as_py() or 0)
    return PreparedEvents(table, result)


def count_appended(prepared: PreparedEvents, appended: AppendResult) -> BatchResult:
    """The batch's result once its append returned."""
    return _count(prepared.result, appended)


def accept_events(records: Sequence[Any], key: ApiKey, store: LedgerStore, pricer: Pricer) -> BatchResult:
    """Validate, price and durably append a batch of event records (one append of its own)."""
    prepared = prepare_events(records, key, pricer)
    if not prepared.table.num_rows:
        return prepared.result
    return count_appended(prepared, store.append_event_table(prepared.table))


def accept_outcomes(
    records: Sequence[Any], key: ApiKey, store: LedgerStore, owners: RunOwners | None = None
) -> BatchResult:
    """Validate and durably append outcome records (with ``owners``: not for another tenant's run)."""
    result = BatchResult()
    where, outcomes = _validate_indexed(Outcome, records, key, result)
    if owners is not None and key.tenant is not None and outcomes:
        foreign = owners.foreign(key.tenant, {o.run_id for o in outcomes})
        for i, o in zip(where, outcomes, strict=True):
            if o.run_id in foreign:
                result.problems.append(Problem(i, "run_id", f"run '{o.run_id}' {RUN_OWNED}"))
                result.forbidden += 1
        result.problems.sort(key=lambda p: p.index)
        outcomes = [o for o in outcomes if o.run_id not in foreign]
    return _count(result, store.append_outcomes(outcomes)) if outcomes else result


def accept_cost_lines(records: Sequence[Any], key: ApiKey, store: LedgerStore) -> BatchResult:
    """Validate and durably append cost lines (finance data: needs an untenanted key)."""
    result = BatchResult()
    if key.tenant is not None:
        result.problems = [
            Problem(i, "(record)", f"a key bound to tenant '{key.tenant}' cannot write cost lines")
            for i in range(len(records))
        ]
        return result
    lines, problems = validate_many(CostLine, list(records))
    result.problems = problems
    return _count(result, store.append_cost_lines(lines)) if lines else result
