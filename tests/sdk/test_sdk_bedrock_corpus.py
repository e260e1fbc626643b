"""The Bedrock corpus read two ways: the wire reading of its bytes and the SDK door through real boto3.

See tests/wire/bedrock_corpus.py. The fake provider replays each answer byte
for byte (``x-fake-replay``) to an instrumented boto3 ``bedrock-runtime``
client; the recorded event must equal the case's expected reading, the
wire's own reading of the same bytes, and ``calc_price`` of the expected usage.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from tests.wire.bedrock_corpus import CASES, COMPARED, ROUTES, BedrockCase

from costtrail.demo.fake_provider import FakeProvider
from costtrail.ledger.duckdb_store import DuckDBStore
from costtrail.sdk import LedgerDestination, QueuedSink, Recorder, instrument
from costtrail.wire import Reading
from costtrail.wire.bedrock import BedrockStream, read_converse, read_invoke


@pytest.fixture(scope="module")
def corpus_fake() -> Iterator[FakeProvider]:
    with FakeProvider() as fake:
        for case in CASES:
            path = f"/model/{case.model_id}/{ROUTES[case.operation]}"
            fake.replay(case.name, path, case.body, content_type=case.content_type, headers=case.headers)
        yield fake


def _wire_reading(case: BedrockCase) -> Reading:
    """The wire's reading of the case's bytes, as a door fed by botocore sees them."""
    if case.operation == "converse":
        return read_converse(json.loads(case.body))
    if case.operation == "invoke_model":
        return read_invoke(case.body, case.headers)
    stream = BedrockStream("converse" if case.operation == "converse_stream" else "invoke")
    try:
        for event in case.events():
            stream.feed(event)
    except ClientError as exc:
        stream.error(exc.response["Error"]["Code"])
    stream.end()
    return stream.reading


def _sdk_event(case: BedrockCase, base_url: str) -> dict[str, Any]:
    store = DuckDBStore(":memory:")
    recorder = Recorder(QueuedSink(lambda: LedgerDestination(store=store), flush_interval=0.05))
    client = boto3.client(
        "bedrock-runtime",
        region_name="us-east-1",
        endpoint_url=base_url,
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="secret",
        config=Config(retries={"max_attempts": 1}),
    )

    def replay(request: Any, **_: Any) -> None:
        request.headers["x-fake-replay"] = case.name

    client.meta.events.register("before-sign.bedrock-runtime", replay)
    instrument(client, recorder=recorder)
    try:
        body = case.request if case.operation.startswith("converse") else {"body": json.dumps(case.request)}
        answer = getattr(client, case.operation)(modelId=case.model_id, **body)
        if case.streamed:
            stream = answer["stream" if case.operation == "converse_stream" else "body"]
            try:
                for _ in stream:
                    pass
            except ClientError:
                pass
            stream.close()
        assert recorder.flush(10)
        [event] = store.query("SELECT * FROM events")
    finally:
        recorder.close()
        client.close()
        store.close()
    return event


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_the_sdk_and_the_wire_read_the_bedrock_corpus_alike(
    case: BedrockCase, corpus_fake: FakeProvider
) -> None:
    reading = _wire_reading(case)
    status, error_type = reading.status(200)
    wire = {"status": status, "error_type": error_type, "tool_calls": reading.tool_call_count}
    wire |= {k: getattr(reading, k) for k in COMPARED if k not in wire}
    event = _sdk_event(case, corpus_fake.base_url)
    sdk = {k: event[k] for k in COMPARED}
    want = {k: case.expected[k] for k in COMPARED}
    if case.expected["status"] == "incomplete":
        # Usage unknown: the SDK's counts are an estimate, priced apart and never in cost_usd.
        assert event["cost_usd"] is None and event["unpriced"] and event["cost_estimate_usd"] is not None
        for name in ("input_tokens", "output_tokens"):
            assert sdk[name] >= want[name]
            want[name] = sdk[name] = wire[name]
    else:
        assert event["cost_usd"] == case.expected_cost() and not event["unpriced"]
    assert wire == want, "the wire reading moved away from the corpus"
    assert sdk == want, "the SDK door reads the same bytes differently"
    assert (event["provider"], event["model"], event["kind"]) == ("aws", case.model_id, case.expected["kind"])
