"""A real boto3 ``bedrock-runtime`` client, instrumented, against the fake provider over real HTTP.

The fake answers with Bedrock's own bodies and its binary event-stream framing,
which botocore decodes (and checks the CRCs of). Bedrock's ``inputTokens``
excludes cache reads and writes; costtrail's is inclusive, so 600 uncached +
300 cache reads + 100 cache writes = 1000. Expected costs come from genai-prices.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from tests.prices import genai_price

import costtrail
from costtrail.controls.config import ControlsConfig
from costtrail.pricing import Pricer, RateCard
from costtrail.pricing.reprice import reprice
from costtrail.sdk import instrument

SONNET_US = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
SONNET_GLOBAL = "global.anthropic.claude-sonnet-4-5-20250929-v1:0"
CACHED = {"x-fake-cached-tokens": "300", "x-fake-cache-write-tokens": "100"}
USAGE = {"x-fake-input-tokens": "1000", "x-fake-output-tokens": "200"}
MESSAGES = [{"role": "user", "content": [{"text": "Extract the invoice number."}]}]

# modelId -> an InvokeModel body of that model family
INVOKE_BODIES: dict[str, dict[str, Any]] = {
    SONNET_US: {
        "anthropic_version": "bedrock-2023-05-31",
        "max_tokens": 512,
        "messages": [{"role": "user", "content": "Extract the invoice number."}],
    },
    "us.amazon.nova-pro-v1:0": {"messages": MESSAGES, "inferenceConfig": {"maxTokens": 512}},
    "meta.llama3-1-70b-instruct-v1:0": {"prompt": "Extract the invoice number.", "max_gen_len": 512},
    "mistral.mistral-large-2402-v1:0": {"prompt": "<s>[INST] Extract it [/INST]", "max_tokens": 512},
    "amazon.titan-text-express-v1": {"inputText": "Extract the invoice number."},
}
CACHING = {SONNET_US, "us.amazon.nova-pro-v1:0"}  # the families whose bodies report cache use


@pytest.fixture
def make_client(fake: Any, ledger: Any) -> Iterator[Callable[..., Any]]:
    made: list[Any] = []

    def make(headers: dict[str, str] | None = None, region: str = "us-west-2", attempts: int = 1) -> Any:
        client = boto3.client(
            "bedrock-runtime",
            region_name=region,
            endpoint_url=fake.base_url,
            aws_access_key_id="AKIDEXAMPLE",
            aws_secret_access_key="secret",
            config=Config(retries={"max_attempts": attempts, "mode": "standard"}),
        )
        knobs = dict(headers or {})

        def add_knobs(request: Any, **_: Any) -> None:
            for name, value in knobs.items():
                request.headers[name] = value

        client.meta.events.register("before-sign.bedrock-runtime", add_knobs)
        made.append(client)
        return instrument(client, recorder=ledger.recorder)

    yield make
    for client in made:
        client.close()


def _usage(event: dict[str, Any]) -> dict[str, int]:
    names = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens")
    return {n: int(event[n] or 0) for n in names}


def _compared(event: dict[str, Any]) -> dict[str, Any]:
    keys = ("provider", "model", "region", "status", "kind", "cost_usd", "unpriced", "price_ref")
    keys += ("tool_calls",)
    return {**{k: event[k] for k in keys}, **_usage(event)}


def test_converse_and_converse_stream_record_identical_events_at_genai_prices(
    make_client: Callable[..., Any], ledger: Any
) -> None:
    client = make_client({**USAGE, **CACHED, "x-fake-tool-calls": "1"})
    answer = client.converse(modelId=SONNET_US, messages=MESSAGES)
    assert answer["usage"]["inputTokens"] == 600  # Bedrock's own count excludes the cache
    stream = client.converse_stream(modelId=SONNET_US, messages=MESSAGES)["stream"]
    events_seen = [e for e in stream]
    assert "metadata" in events_seen[-1]
    plain, streamed = ledger.events()
    assert _compared(plain) == _compared(streamed)
    assert (plain["provider"], plain["model"], plain["region"]) == ("aws", SONNET_US, "us-west-2")
    assert _usage(plain) == {
        "input_tokens": 1000,
        "output_tokens": 200,
        "cache_read_tokens": 300,
        "cache_write_tokens": 100,
    }
    assert plain["tool_calls"] == 1 and plain["status"] == "success"
    want = genai_price(
        "aws", SONNET_US, input_tokens=1000, output_tokens=200, cache_read_tokens=300, cache_write_tokens=100
    )
    assert plain["cost_usd"] == want
    assert plain["request_id"] and plain["payload_bytes"] > 0
    assert json.loads(plain["attributes"])["inference_profile"] == "us"


def test_a_converse_answer_the_caller_changes_at_once_is_recorded_as_answered(
    make_client: Callable[..., Any], ledger: Any
) -> None:
    # The answer is read on the sink's writer thread, after the call returned: from a copy.
    client = make_client({**USAGE, **CACHED})
    answer = client.converse(modelId=SONNET_US, messages=MESSAGES)
    request_id = answer["ResponseMetadata"]["RequestId"]
    answer.pop("usage"), answer.pop("ResponseMetadata"), answer.clear()
    (event,) = ledger.events()
    assert _usage(event) == {
        "input_tokens": 1000,
        "output_tokens": 200,
        "cache_read_tokens": 300,
        "cache_write_tokens": 100,
    }
    assert event["request_id"] == request_id and event["status"] == "success"
    want = genai_price(
        "aws", SONNET_US, input_tokens=1000, output_tokens=200, cache_read_tokens=300, cache_write_tokens=100
    )
    assert event["cost_usd"] == want


@pytest.mark.parametrize("model_id", sorted(INVOKE_BODIES))
def test_invoke_model_and_its_stream_record_identical_events_for_each_family(
    model_id: str, make_client: Callable[..., Any], ledger: Any
) -> None:
    knobs = {**USAGE, **(CACHED if model_id in CACHING else {})}
    client = make_client(knobs)
    body = json.dumps(INVOKE_BODIES[model_id])
    answer = client.invoke_model(modelId=model_id, body=body)
    assert json.loads(answer["body"].read())  # the caller still reads the whole body
    chunks = list(client.invoke_model_with_response_stream(modelId=model_id, body=body)["body"])
    assert chunks and all("chunk" in c for c in chunks)
    plain, streamed = ledger.events()
    assert _compared(plain) == _compared(streamed)
    assert (plain["status"], plain["model"], plain["provider"]) == ("success", model_id, "aws")
    cache = (300, 100) if model_id in CACHING else (0, 0)
    assert _usage(plain) == {
        "input_tokens": 1000,
        "output_tokens": 200,
        "cache_read_tokens": cache[0],
        "cache_write_tokens": cache[1],
    }
    want = genai_price(
        "aws",
        model_id,
        input_tokens=1000,
        output_tokens=200,
        cache_read_tokens=cache[0],
        cache_write_tokens=cache[1],
    )
    assert plain["cost_usd"] == want and not plain["unpriced"]


def test_titan_embeddings_are_an_embedding_event(make_client: Callable[..., Any], ledger: Any) -> None:
    client = make_client({"x-fake-input-tokens": "4000"})
    client.invoke_model(modelId="amazon.titan-embed-text-v2:0", body=json.dumps({"inputText": "invoice"}))
    [event] = ledger.events()
    assert (event["kind"], event["input_tokens"], event["output_tokens"]) == ("embedding", 4000, 0)
    assert event["cost_usd"] == genai_price("aws", "amazon.titan-embed-text-v2:0", input_tokens=4000)


def test_a_cross_region_profile_is_priced_at_its_own_price(
    make_client: Callable[..., Any], ledger: Any
) -> None:
    """genai-prices prices Sonnet 4.5's geographic profiles (us./eu./apac.) 10% over global.:
    1000 input x $3.30/M + 200 output x $16.50/M = $0.0066 against $3/M and $15/M = $0.006."""
    client = make_client(USAGE, region="us-east-1")
    client.converse(modelId=SONNET_US, messages=MESSAGES)
    client.converse(modelId=SONNET_GLOBAL, messages=MESSAGES)
    arn = f"arn:aws:bedrock:eu-west-1:123456789012:inference-profile/{SONNET_US.replace('us.', 'eu.', 1)}"
    client.converse(modelId=arn, messages=MESSAGES)
    geo, worldwide, by_arn = ledger.events()
    assert geo["cost_usd"] == genai_price("aws", SONNET_US, input_tokens=1000, output_tokens=200)
    assert worldwide["cost_usd"] == genai_price("aws", SONNET_GLOBAL, input_tokens=1000, output_tokens=200)
    assert (geo["cost_usd"], worldwide["cost_usd"]) == (Decimal("0.0066"), Decimal("0.006"))
    assert "/aws/regional.anthropic" in geo["price_ref"]
    assert "/aws/global.anthropic" in worldwide["price_ref"]
    assert (geo["region"], worldwide["region"]) == ("us-east-1", "us-east-1")
    assert by_arn["model"] == "eu.anthropic.claude-sonnet-4-5-20250929-v1:0"
    assert by_arn["region"] == "eu-west-1"
    assert by_arn["cost_usd"] == geo["cost_usd"]
    assert json.loads(by_arn["attributes"])["model_arn"] == arn


@pytest.mark.parametrize("method", ["converse_stream", "invoke_model_with_response_stream"])
def test_a_cut_stream_is_incomplete_and_only_estimated(
    method: str, make_client: Callable[..., Any], ledger: Any
) -> None:
    client = make_client({**USAGE, "x-fake-cut-body": "900"})
    if method == "converse_stream":
        stream = client.converse_stream(modelId=SONNET_US, messages=MESSAGES)["stream"]
    else:
        body = json.dumps(INVOKE_BODIES[SONNET_US])
        stream = client.invoke_model_with_response_stream(modelId=SONNET_US, body=body)["body"]
    try:
        for _ in stream:
            pass
    except Exception:  # botocore may or may not notice the torn message: the event must not depend on it
        pass
    stream.close()
    [event] = ledger.events()
    assert (event["status"], event["error_type"]) == ("incomplete", "stream_cut")
    assert event["cost_usd"] is None and event["unpriced"]
    assert event["cost_estimate_usd"] is not None and event["cost_estimate_usd"] > 0


def test_an_exception_event_mid_stream_is_incomplete_with_its_code(
    make_client: Callable[..., Any], ledger: Any
) -> None:
    client = make_client({**USAGE, "x-fake-stream-error-after": "2"})
    stream = client.converse_stream(modelId=SONNET_US, messages=MESSAGES)["stream"]
    with pytest.raises(ClientError):
        for _ in stream:
            pass
    [event] = ledger.events()
    assert (event["status"], event["error_type"]) == ("incomplete", "modelStreamErrorException")
    assert event["cost_usd"] is None and event["cost_estimate_usd"] is not None


def test_a_stream_the_caller_stops_reading_is_abandoned(make_client: Callable[..., Any], ledger: Any) -> None:
    client = make_client(USAGE)
    stream = client.converse_stream(modelId=SONNET_US, messages=MESSAGES)["stream"]
    for _ in stream:
        break
    stream.close()
    [event] = ledger.events()
    assert (event["status"], event["error_type"]) == ("incomplete", "client_abandoned")


def test_a_stream_dropped_unread_is_still_recorded(make_client: Callable[..., Any], ledger: Any) -> None:
    client = make_client(USAGE)
    answer = client.invoke_model_with_response_stream(
        modelId=SONNET_US, body=json.dumps(INVOKE_BODIES[SONNET_US])
    )
    del answer  # dropped unread, never closed
    [event] = ledger.events()
    assert (event["status"], event["error_type"]) == ("incomplete", "client_abandoned")
    assert event["cost_estimate_usd"] is not None


def test_throttling_retried_by_botocore_is_one_event_with_its_retries(
    make_client: Callable[..., Any], ledger: Any
) -> None:
    client = make_client({**USAGE, "x-fake-status": "429", "x-fake-fail-attempts": "2"}, attempts=3)
    client.converse(modelId=SONNET_US, messages=MESSAGES)
    [event] = ledger.events()
    assert (event["status"], event["retry_count"]) == ("success", 2)
    assert event["cost_usd"] == genai_price("aws", SONNET_US, input_tokens=1000, output_tokens=200)


def test_an_error_answer_is_an_error_event_with_aws_code(
    make_client: Callable[..., Any], ledger: Any
) -> None:
    client = make_client({"x-fake-status": "400"})
    with pytest.raises(ClientError):
        client.converse(modelId=SONNET_US, messages=MESSAGES)
    [event] = ledger.events()
    assert (event["status"], event["error_type"]) == ("error", "ValidationException")
    assert json.loads(event["attributes"])["http_status"] == "400"
    assert event["request_id"] and not event["input_tokens"]  # a refused request uses no tokens


def test_instrument_twice_records_each_call_once(make_client: Callable[..., Any], ledger: Any) -> None:
    client = make_client(USAGE)
    assert instrument(client, recorder=ledger.recorder) is client
    client.converse(modelId=SONNET_US, messages=MESSAGES)
    assert len(ledger.events()) == 1


def test_a_rate_card_price_for_a_region_applies_to_the_calls_made_there(
    make_client: Callable[..., Any], ledger: Any
) -> None:
    card = RateCard.from_yaml(
        "version: aws-regions-1\n"
        "models:\n"
        "  - id: bedrock-eu-central\n"
        "    provider: aws\n"
        "    model: 'eu.anthropic.*'\n"
        "    region: 'eu-central-*'\n"
        "    prices: {input_mtok: 3.63, output_mtok: 18.15}\n"
    )
    model = "eu.anthropic.claude-sonnet-4-5-20250929-v1:0"
    for region in ("eu-central-1", "eu-west-1"):
        make_client(USAGE, region=region).converse(modelId=model, messages=MESSAGES)
    assert len(ledger.events()) == 2
    reprice(ledger.store, Pricer(rate_card=card))
    frankfurt, ireland = ledger.events()
    assert (frankfurt["region"], ireland["region"]) == ("eu-central-1", "eu-west-1")
    # 1000 x $3.63/M + 200 x $18.15/M; Ireland keeps genai-prices' eu. profile price
    assert frankfurt["cost_usd"] == Decimal("0.00726")
    assert frankfurt["price_ref"] == "rate-card@aws-regions-1/bedrock-eu-central"
    assert ireland["cost_usd"] == genai_price("aws", model, input_tokens=1000, output_tokens=200)


def test_a_call_records_the_same_event_whether_budgets_are_enforced_or_not(
    make_client: Callable[..., Any], ledger: Any
) -> None:
    """Without enforced budgets a call that returns is taken on a fast path and its event built on
    the sink's writer thread; enforced budgets count each call before it returns, on the full path.
    Both record every field alike: a retried converse, an invoke_model, an error, a torn body."""
    retried = make_client(
        {**USAGE, **CACHED, "x-fake-status": "429", "x-fake-fail-attempts": "1"}, attempts=3
    )
    plain = make_client({**USAGE, **CACHED})
    refused = make_client({"x-fake-status": "400"})
    torn = make_client({**USAGE, "x-fake-cut-body": "40"})  # its usage is in the headers still
    body = json.dumps(INVOKE_BODIES[SONNET_US])

    def calls() -> None:
        retried.converse(modelId=SONNET_US, messages=MESSAGES)
        plain.invoke_model(modelId=SONNET_US, body=body)
        with pytest.raises(ClientError):
            refused.converse(modelId=SONNET_US, messages=MESSAGES)
        torn.invoke_model(modelId=SONNET_US, body=body)

    with ledger.recorder.run("invoices", customer_id="c-7"):
        calls()
        roomy = ControlsConfig.from_yaml("budgets: [{name: roomy, limit_usd: 100}]\nalerts: {log: false}")
        costtrail.enforce_budgets(roomy, recorder=ledger.recorder)
        calls()
    events = ledger.events()
    assert len(events) == 8 and all(e["request_id"] for e in events)
    per_call = {"event_uuid", "event_id", "started_at", "ended_at", "latency_ms", "request_id", "ingested_at"}
    fast, full = (
        [{k: v for k, v in e.items() if k not in per_call} for e in half] for half in (events[:4], events[4:])
    )
    assert fast == full
    assert [e["retry_count"] for e in fast] == [1, 0, 0, 0]
    assert [e["status"] for e in fast] == ["success", "success", "error", "success"]
    assert {e["customer_id"] for e in fast} == {"c-7"} and all(e["payload_bytes"] > 0 for e in fast)


def test_an_enforced_budget_stops_a_converse_before_it_is_sent(
    fake: Any, make_client: Callable[..., Any], ledger: Any
) -> None:
    tiny = ControlsConfig.from_yaml("budgets: [{name: tiny, limit_usd: 0.001}]\nalerts: {log: false}")
    costtrail.enforce_budgets(tiny, recorder=ledger.recorder)
    client = make_client(USAGE)
    sent = len(fake.requests)
    # 1000 output tokens of Sonnet 4.5 (us. profile) alone: 1000 x $16.50/M = $0.0165, over $0.001.
    with pytest.raises(costtrail.BudgetExceeded, match="tiny"):
        client.converse(modelId=SONNET_US, messages=MESSAGES, inferenceConfig={"maxTokens": 1000})
    assert len(fake.requests) == sent and ledger.events() == []  # never sent, nothing spent
