from __future__ import annotations

import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from costtrail.ledger.duckdb_store import DuckDBStore
from costtrail.ledger.rows import row_to_event
from costtrail.schema import Event


def _event(**kw: object) -> Event:
    return Event.parse({"provider": "openai", "model": "gpt-4o-mini", "input_tokens": 10, **kw})


def test_append_is_idempotent_by_event_id(store: DuckDBStore) -> None:
    events = [_event(cost_usd="0.000123456789"), _event(), _event(event_id="not-a-uuid")]
    assert store.append_events(events).accepted == 3
    again = store.append_events([*events, _event()])
    assert (again.accepted, again.duplicates) == (1, 3)
    rows = store.query("SELECT count(*) AS n, sum(cost_usd) AS c FROM events")
    assert rows == [{"n": 4, "c": Decimal("0.000123456789")}]


def test_duplicates_inside_one_batch_are_stored_once(store: DuckDBStore) -> None:
    e = _event()
    result = store.append_events([e, e, e])
    assert (result.accepted, result.duplicates) == (1, 2)


def test_round_trip_keeps_ids_and_attributes(store: DuckDBStore) -> None:
    originals = [_event(event_id="custom:1", foo="bar"), _event()]
    store.append_events(originals)
    back = {e.event_id: e for e in (row_to_event(r) for r in store.query("SELECT * FROM events"))}
    assert set(back) == {o.event_id for o in originals}
    assert back["custom:1"].attributes == {"foo": "bar"}


def test_second_process_gets_a_clear_lock_error(tmp_path: Path) -> None:
    path = tmp_path / "ledger.duckdb"
    holder = DuckDBStore(path)
    try:
        code = (
            "from costtrail.ledger.duckdb_store import DuckDBStore\n"
            "from costtrail.ledger import LedgerError\n"
            f"try:\n    DuckDBStore({str(path)!r})\n"
            "except LedgerError as e:\n    print('LOCKED', type(e).__name__, e)\n"
        )
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
        assert "LOCKED LedgerLockedError" in out.stdout, out.stderr  # caught as a LedgerError
        assert "collector" in out.stdout
    finally:
        holder.close()


def test_unopenable_path_is_a_ledger_error() -> None:
    from costtrail.ledger import LedgerError, open_store

    with pytest.raises(LedgerError, match="ledger"):
        open_store("/proc/does/not/exist/ledger.duckdb")
