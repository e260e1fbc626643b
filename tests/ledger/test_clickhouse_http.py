"""The HTTP transport: what clickhouse-connect sends for the store's inserts and queries, and the results."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import clickhouse_connect
import lz4.frame
import pyarrow as pa
import pytest
from tests.contract.ledger_samples import sample_events
from tests.ledger.clickhouse_http_emulator import ClickHouseHTTPEmulator

from costtrail.ledger import LedgerError, open_store
from costtrail.ledger.clickhouse_store import ClickHouseStore
from costtrail.ledger.columnar import events_to_arrow


@pytest.fixture(scope="module")
def server(chdb_dir: Path) -> Iterator[ClickHouseHTTPEmulator]:
    engine = clickhouse_connect.get_client(dsn=f"chdb://{chdb_dir}")
    with ClickHouseHTTPEmulator(engine, user="costtrail", password="s3cr:et") as emulator:
        yield emulator
    engine.close()


def test_store_over_http_ingests_and_reads_exactly(server: ClickHouseHTTPEmulator) -> None:
    store = open_store(f"clickhouse://costtrail:s3cr%3Aet@127.0.0.1:{server.port}/over_http")
    assert isinstance(store, ClickHouseStore)
    assert "s3cr" not in store.url
    events = sample_events(12_000, seed=5)
    server.requests.clear()
    try:
        result = store.append_event_table(events_to_arrow(events))
        again = store.append_events(events[:100])
        rows = store.query("SELECT count() AS n, sum(cost_usd) AS c FROM events")
    finally:
        store.close()
    assert (result.accepted, again.duplicates) == (12_000, 100)
    assert rows == [{"n": 12_000, "c": sum((e.cost_usd or Decimal(0) for e in events), Decimal(0))}]

    # Appends keep no state between requests (a load balancer may send each to another node):
    # no staging table; the new rows go straight into events as one Arrow batch.
    assert not [r for r in server.requests if "_stage_" in r.sql or r.sql.lstrip().startswith("CREATE")]
    inserts = [r for r in server.requests if r.sql.replace("`", "").startswith("INSERT INTO events")]
    first = inserts[0]
    assert first.method == "POST" and first.sql.endswith("FORMAT Arrow")
    encoding = first.headers.get("content-encoding")
    body = lz4.frame.decompress(first.body) if encoding == "lz4" else first.body
    batch = pa.ipc.open_file(pa.BufferReader(body)).read_all()  # FORMAT Arrow is the IPC file format
    assert batch.num_rows == 12_000  # one Arrow batch, not row-by-row
    assert batch.schema.field("event_uuid").type == pa.binary(16)  # 16-byte ids on the wire
    assert first.params["database"] == "over_http"
    for name, value in {"session_timezone": "UTC", "final": "1", "join_use_nulls": "1"}.items():
        assert first.params[name] == value
    auth = first.headers.get("authorization", "")
    user = first.headers.get("x-clickhouse-user") or base64.b64decode(auth[6:]).decode().split(":")[0]
    assert user == "costtrail"
    assert len(inserts) == 1  # the re-sent 100 were found as duplicates and nothing was inserted


def test_wrong_password_is_a_clear_ledger_error(server: ClickHouseHTTPEmulator) -> None:
    with pytest.raises(
        LedgerError, match=r"cannot connect to the ClickHouse ledger clickhouse://costtrail:\*\*\*@"
    ):
        ClickHouseStore.from_url(f"clickhouse://costtrail:wrong@127.0.0.1:{server.port}/over_http")
