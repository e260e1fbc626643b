"""The differential contract: the corpus through the SDK and through the gateway gives identical events.

Every corpus case (tests/wire/corpus: real-shaped bodies and SSE streams of
each flavor, tiers, both cache TTLs, server tools, cut and errored streams,
malformed bodies) is answered byte for byte by the fake provider
(``x-fake-replay``) to an official ``openai``/``anthropic``/``google-genai`` client twice:
once instrumented by the SDK, once through the gateway over HTTP. Each
door's event is compared with the corpus's expected reading and with the
other door's, so a change to either door's reading alone fails here; the
cost is compared with ``genai_prices.calc_price`` of the expected usage.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import anthropic
import openai
import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types as genai_types
from tests.gateway.conftest import Rig
from tests.wire.wire_corpus import CASES, COMPARED, Case

from costtrail.demo.fake_provider import FakeProvider
from costtrail.ledger.duckdb_store import DuckDBStore
from costtrail.sdk import LedgerDestination, QueuedSink, Recorder, instrument

PATHS = {
    "chat": "/v1/chat/completions",
    "completions": "/v1/completions",
    "responses": "/v1/responses",
    "embeddings": "/v1/embeddings",
    "messages": "/v1/messages",
    "generate_content": "/v1beta/models/gemini-2.5-flash:generateContent",
}


def _call_gemini(case: Case, base_url: str, wrap: Any) -> None:
    options = genai_types.HttpOptions(base_url=base_url, headers={"x-fake-replay": case.name})
    client: Any = wrap(genai.Client(api_key="AIza-x", http_options=options))
    model, contents = case.request["model"], case.request["contents"]
    try:
        if case.streamed:
            for _ in client.models.generate_content_stream(model=model, contents=contents):
                pass
        else:
            client.models.generate_content(model=model, contents=contents)
    except (genai_errors.APIError, json.JSONDecodeError):
        pass
    finally:
        client.close()


def _call(case: Case, base_url: str, wrap: Any) -> None:
    """Make the case's request with the official client (errors the SDK raises are the call's own)."""
    headers = {"x-fake-replay": case.name}
    if case.provider == "google":
        _call_gemini(case, base_url, wrap)
        return
    if case.provider == "anthropic":
        client: Any = wrap(anthropic.Anthropic(base_url=base_url, api_key="sk-ant-x", max_retries=0))
        method = client.messages.create
    else:
        client = wrap(openai.OpenAI(base_url=base_url + "/v1", api_key="sk-x", max_retries=0))
        method = {
            "chat": client.chat.completions.create,
            "completions": client.completions.create,
            "responses": client.responses.create,
            "embeddings": client.embeddings.create,
        }[case.flavor]
    with client:
        try:
            result = method(**case.request, extra_headers=headers)
            if case.streamed:
                with result:
                    for _ in result:
                        pass
        except (openai.APIError, anthropic.APIError, json.JSONDecodeError):
            pass


def _seen(event: dict[str, Any]) -> dict[str, Any]:
    return {k: event[k] for k in (*COMPARED, "model", "cost_usd", "unpriced", "cost_estimate_usd")}


def _expected(case: Case) -> dict[str, Any]:
    e = case.expected
    cost = case.expected_cost()
    return {
        **{k: e[k] for k in COMPARED},
        "model": e["model"] or case.request["model"],
        "cost_usd": cost,
        "unpriced": cost is None,
    }


@pytest.fixture(scope="module")
def corpus_fake() -> Iterator[FakeProvider]:
    with FakeProvider() as fake:
        for case in CASES:
            path = PATHS[case.flavor]
            fake.replay(case.name, path, case.body, status=case.status, content_type=case.content_type)
        yield fake


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_both_doors_read_the_corpus_alike(case: Case, corpus_fake: FakeProvider, make_rig: Any) -> None:
    store = DuckDBStore(":memory:")
    recorder = Recorder(QueuedSink(lambda: LedgerDestination(store=store), flush_interval=0.05))
    try:
        _call(case, corpus_fake.base_url, lambda c: instrument(c, recorder=recorder))
        assert recorder.flush(10)
        [sdk] = store.query("SELECT * FROM events")
    finally:
        recorder.close()
        store.close()
    upstreams = {
        "openai": corpus_fake.openai_base_url,
        "anthropic": corpus_fake.base_url,
        "google": corpus_fake.base_url,
    }
    rig: Rig = make_rig(upstreams=upstreams)
    _call(case, rig.url, lambda c: c)
    [gateway] = rig.events()

    got_sdk, got_gateway = _seen(sdk), _seen(gateway)
    assert got_sdk == got_gateway, "the two doors read the same bytes differently"
    want = _expected(case)
    if case.expected["status"] == "incomplete":
        # Usage unknown: the counts are an estimate (input from the request unless the provider said
        # it, output as seen), priced apart and never in cost_usd; both doors estimate alike (above).
        assert got_sdk.pop("cost_estimate_usd") is not None
        for name in ("input_tokens", "output_tokens"):
            assert got_sdk[name] >= want[name]
            want[name] = got_sdk[name]
    else:
        assert got_sdk.pop("cost_estimate_usd") is None
    assert got_sdk == want, "the doors' reading moved away from the corpus"
    for event in (sdk, gateway):
        types = json.loads(event["attributes"] or "{}").get("tool_call_types")
        assert types == case.expected["tool_call_types"]
