"""OTLP/JSON exports with older and vendor attribute names, mapped and priced by the collector."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
from tests.otlp.conftest import OtlpCollector
from tests.prices import genai_price

TRACE = "5b8efff798038103d269b633813fc60c"
NS = 1_777_000_000_000_000_000


def _attr(key: str, value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"key": key, "value": {"boolValue": value}}
    if isinstance(value, int):
        return {"key": key, "value": {"intValue": str(value)}}
    return {"key": key, "value": {"stringValue": str(value)}}


def _span(
    span_id: str, name: str, attrs: dict[str, Any], parent: str = "", error: bool = False
) -> dict[str, Any]:
    span: dict[str, Any] = {
        "traceId": TRACE,
        "spanId": span_id,
        "name": name,
        "kind": 3,
        "startTimeUnixNano": str(NS),
        "endTimeUnixNano": str(NS + 1_500_000_000),
        "attributes": [_attr(k, v) for k, v in attrs.items()],
    }
    if parent:
        span["parentSpanId"] = parent
    if error:
        span["status"] = {"code": 2, "message": "upstream 500"}
    return span


def _export(spans: list[dict[str, Any]]) -> dict[str, Any]:
    resource = {
        "attributes": [_attr("service.name", "billing-agent"), _attr("deployment.environment", "prod")]
    }
    return {
        "resourceSpans": [{"resource": resource, "scopeSpans": [{"scope": {"name": "test"}, "spans": spans}]}]
    }


SPANS = [
    _span(
        "00000000000000a1",
        "agent run",
        {
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.agent.name": "billing",
            "gen_ai.workflow.name": "invoice_dispute",
            "costtrail.run_id": "run-77",
            "gen_ai.aggregated_usage.input_tokens": 5000,
            "gen_ai.usage.input_tokens": 5000,
            "gen_ai.request.model": "claude-3-5-sonnet-20241022",
        },
    ),
    # Older names; Anthropic's exclusive input count (cache tokens not included).
    _span(
        "00000000000000b2",
        "anthropic.chat",
        {
            "gen_ai.system": "anthropic",
            "gen_ai.request.model": "claude-3-5-sonnet-20241022",
            "gen_ai.usage.prompt_tokens": 100,
            "gen_ai.usage.completion_tokens": 50,
            "gen_ai.usage.cache_read_input_tokens": 3000,
            "gen_ai.usage.cache_creation_input_tokens": 900,
            "session.id": "sess-1",
            "user.id": "u-42",
        },
        parent="00000000000000a1",
    ),
    # A failed call: still an event, with its error type.
    _span(
        "00000000000000c3",
        "chat gpt-4o",
        {
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.usage.input_tokens": 40,
            "gen_ai.usage.output_tokens": 0,
            "error.type": "InternalServerError",
        },
        parent="00000000000000a1",
        error=True,
    ),
    _span("00000000000000d4", "HTTP POST", {"http.request.method": "POST"}, parent="00000000000000c3"),
]


def _post(collector: OtlpCollector, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(
        f"{collector.url}/v1/traces",
        json=body,
        headers={"Authorization": f"Bearer {collector.key}"},
        timeout=10,
    )


def test_json_export_maps_older_names_and_reconciles_exclusive_cache_counts(
    otlp_collector: OtlpCollector,
) -> None:
    r = _post(otlp_collector, _export(SPANS))
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    rows = otlp_collector.store.query("SELECT * FROM events ORDER BY model")
    assert [r["model"] for r in rows] == ["claude-3-5-sonnet-20241022", "gpt-4o"]
    claude, gpt = rows
    assert (claude["input_tokens"], claude["cache_read_tokens"], claude["cache_write_tokens"]) == (
        4000,
        3000,
        900,
    )
    expected = genai_price(
        "anthropic",
        "claude-3-5-sonnet-20241022",
        input_tokens=4000,
        output_tokens=50,
        cache_read_tokens=3000,
        cache_write_tokens=900,
    )
    assert claude["cost_usd"] == expected
    # 100 * $3/M + 3000 * $0.30/M + 900 * $3.75/M + 50 * $15/M
    assert claude["cost_usd"] == Decimal("0.005325")
    for row in rows:
        assert (row["run_id"], row["workflow"], row["agent"]) == ("run-77", "invoice_dispute", "billing")
        assert (row["environment"], row["workload"]) == ("prod", "billing-agent")
    assert (claude["session_id"], claude["user_id"], claude["status"]) == ("sess-1", "u-42", "success")
    assert (gpt["status"], gpt["error_type"]) == ("error", "InternalServerError")
    assert gpt["cost_usd"] == Decimal(40) * Decimal("2.5") / Decimal(1_000_000)


def test_reexported_spans_are_not_counted_twice(otlp_collector: OtlpCollector) -> None:
    assert _post(otlp_collector, _export(SPANS)).status_code == 200
    assert _post(otlp_collector, _export(SPANS)).status_code == 200
    assert otlp_collector.store.query("SELECT count(*) AS n FROM events")[0]["n"] == 2


def test_run_defaults_to_the_trace_and_step_to_the_span(otlp_collector: OtlpCollector) -> None:
    span = _span(
        "00000000000000e5",
        "chat gpt-4o-mini",
        {
            "gen_ai.provider.name": "openai",
            "gen_ai.response.model": "gpt-4o-mini",
            "gen_ai.usage.input_tokens": 9,
        },
    )
    assert _post(otlp_collector, _export([span])).status_code == 200
    row = otlp_collector.store.query("SELECT run_id, step FROM events")[0]
    assert row == {"run_id": TRACE, "step": "chat gpt-4o-mini"}


def test_malformed_json_export_is_a_clear_400(otlp_collector: OtlpCollector) -> None:
    r = httpx.post(
        f"{otlp_collector.url}/v1/traces",
        content=b'{"resourceSpans": [{"scopeSpans": 7}]}',
        headers={"Authorization": f"Bearer {otlp_collector.key}", "Content-Type": "application/json"},
    )
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "malformed_otlp"


def test_a_model_span_without_usage_is_unpriced_never_zero(otlp_collector: OtlpCollector) -> None:
    """Issue #20: a span with model and operation but no usage was priced $0 as a success."""
    span = _span(
        "00000000000000e5", "chat gpt-4o", {"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o"}
    )
    assert _post(otlp_collector, _export([span])).status_code == 200
    [row] = otlp_collector.store.query("SELECT * FROM events")
    assert (row["model"], row["status"], row["error_type"]) == ("gpt-4o", "incomplete", "no_usage")
    assert row["unpriced"] and row["cost_usd"] is None and row["cost_estimate_usd"] is None
