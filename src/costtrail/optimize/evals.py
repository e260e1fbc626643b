"""Eval results: which model passed how much of a workflow's eval set, with its token shape.

Imported from CSV or JSON (an array or NDJSON) into the ledger's
``eval_results`` table; re-importing the same result (workflow, model, eval
set, date) replaces nothing and stores nothing twice. Columns::

    workflow, model, eval_set, pass_rate (0..1) and/or score, eval_date,
    provider, cases, avg_input_tokens, avg_output_tokens (per model call),
    avg_calls_per_run, avg_tool_calls, avg_retries (per run)
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from costtrail.controls.alerts import table_exists
from costtrail.ledger.store import LedgerStore
from costtrail.schema.problems import Problem, problems_from

EVALS_TABLE = "eval_results"
_FIELDS = (
    "workflow", "model", "provider", "eval_set", "eval_date", "pass_rate", "score", "cases",
    "avg_input_tokens", "avg_output_tokens", "avg_calls_per_run", "avg_tool_calls", "avg_retries",
)  # fmt: skip


class EvalResult(BaseModel):
    """One model's result on one eval set of a workflow."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    workflow: str = Field(min_length=1, max_length=512)
    model: str = Field(min_length=1, max_length=512)
    provider: str | None = None
    eval_set: str = Field(default="default", min_length=1, max_length=512)
    eval_date: date
    pass_rate: float | None = Field(default=None, ge=0, le=1)
    score: float | None = None
    cases: int | None = Field(default=None, ge=0)
    avg_input_tokens: float | None = Field(default=None, ge=0)
    avg_output_tokens: float | None = Field(default=None, ge=0)
    avg_calls_per_run: float | None = Field(default=None, ge=0)
    avg_tool_calls: float | None = Field(default=None, ge=0)
    avg_retries: float | None = Field(default=None, ge=0)

    @model_validator(mode="before")
    @classmethod
    def _blanks(cls, data: Any) -> Any:
        if isinstance(data, dict):
            data = {k: v for k, v in data.items() if v not in ("", None)}
            rate = data.get("pass_rate")
            if isinstance(rate, str) and rate.strip().endswith("%"):
                data["pass_rate"] = float(rate.strip()[:-1]) / 100
        return data

    @model_validator(mode="after")
    def _measured(self) -> EvalResult:
        if self.pass_rate is None and self.score is None:
            raise ValueError("give pass_rate (0..1 or a percent like 92%) or score")
        return self

    @property
    def result_id(self) -> str:
        key = "\x1f".join((self.workflow, self.model, self.eval_set, self.eval_date.isoformat()))
        return hashlib.sha256(key.encode()).hexdigest()[:32]


def parse_eval_file(path: str | Path) -> tuple[list[EvalResult], list[Problem]]:
    """Read eval results from CSV, a JSON array or NDJSON; bad records are reported, not loaded."""
    p = Path(path)
    text = p.read_text()
    records: list[Any]
    if p.suffix.lower() == ".csv":
        records = list(csv.DictReader(io.StringIO(text)))
    elif text.lstrip().startswith("["):
        records = json.loads(text)
    else:
        records = [json.loads(line) for line in text.splitlines() if line.strip()]
    good: list[EvalResult] = []
    problems: list[Problem] = []
    for i, rec in enumerate(records):
        try:
            good.append(EvalResult.model_validate(rec))
        except ValidationError as exc:
            problems.extend(problems_from(exc, i))
    return good, problems


def import_evals(store: LedgerStore, results: Sequence[EvalResult]) -> tuple[int, int]:
    """Store results not stored before; returns (accepted, duplicates)."""
    store.ensure_table(EVALS_TABLE)  # declared in ledger/tables.py
    if not results:
        return 0, 0
    lit = store.dialect.literal
    ids = sorted({r.result_id for r in results})
    known = {
        row["result_id"]
        for row in store.query(
            f"SELECT result_id FROM {EVALS_TABLE} WHERE result_id IN ({', '.join(lit(i) for i in ids)})"
        )
    }
    fresh: dict[str, EvalResult] = {}
    for r in results:
        if r.result_id not in known:
            fresh.setdefault(r.result_id, r)
    if fresh:
        values = []
        for rid, r in fresh.items():
            row = r.model_dump()
            row["eval_date"] = datetime.combine(r.eval_date, datetime.min.time())
            values.append("(" + ", ".join([lit(rid), *(lit(row[f]) for f in _FIELDS)]) + ")")
        store.execute(
            f"INSERT INTO {EVALS_TABLE} (result_id, {', '.join(_FIELDS)}) VALUES {', '.join(values)}"
        )
    return len(fresh), len(results) - len(fresh)


def read_evals(store: LedgerStore, workflow: str, eval_set: str | None = None) -> list[EvalResult]:
    """The latest result of each model for a workflow (on ``eval_set``, or on any set)."""
    if not table_exists(store, EVALS_TABLE):
        return []
    lit = store.dialect.literal
    where = f"workflow = {lit(workflow)}" + (f" AND eval_set = {lit(eval_set)}" if eval_set else "")
    rows = store.query(
        f"SELECT {', '.join(_FIELDS)} FROM {EVALS_TABLE} WHERE {where} ORDER BY eval_date DESC"
    )
    latest: dict[str, EvalResult] = {}
    for row in rows:
        row["eval_date"] = (
            row["eval_date"].date() if isinstance(row["eval_date"], datetime) else row["eval_date"]
        )
        result = EvalResult.model_validate(row)
        latest.setdefault(result.model, result)
    return sorted(latest.values(), key=lambda r: r.model)
