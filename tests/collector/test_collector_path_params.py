"""Run and invoice-line ids are the user's text: any character reaches the route, after the key check.

Starlette's ``path`` convertor stops at a line break: a run id with one was
accepted at ingest and could never be read back (404), and without a key the
route answered 404 before asking for one (found by the schemathesis fuzz).
"""

from __future__ import annotations

from urllib.parse import quote

from tests.collector.conftest import RunningCollector

RUN_ID = "nightly/batch\n7"


def test_a_run_id_with_a_line_break_and_a_slash_reads_back(collector: RunningCollector) -> None:
    event = {
        "event_id": "e-1",
        "run_id": RUN_ID,
        "workflow": "support_reply",
        "provider": "openai",
        "model": "gpt-4o-mini",
        "input_tokens": 1000,
        "output_tokens": 100,
    }
    with collector.client(collector.ingest) as c:
        assert c.post("/v1/events", json=[event]).status_code == 200
    with collector.client(collector.read) as c:
        run = c.get("/v1/runs/" + quote(RUN_ID, safe=""))
    assert run.status_code == 200, run.text
    assert run.json()["run_id"] == RUN_ID


def test_without_a_key_any_id_is_asked_for_the_key_first(collector: RunningCollector) -> None:
    with collector.client(None) as c:
        for path in ("/v1/runs/%0A0", "/v1/invoices/lines/%0A0", "/v1/runs/a%2Fb%0Ac"):
            response = c.get(path)
            assert response.status_code == 401, (path, response.text)
