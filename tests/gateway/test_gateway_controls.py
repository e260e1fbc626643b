"""Budgets before forwarding, gateway keys, timeouts, and errors in each provider's shape."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest
from tests.gateway.conftest import MakeRig

from costtrail.auth import KeyRing, Scope
from costtrail.controls.gate import Decision, RequestContext

MSG: Any = [{"role": "user", "content": "hello"}]


class DenyOverBudget:
    """A gate that denies every call for tenant 'acme' (what a spent budget answers)."""

    def __init__(self) -> None:
        self.asked: list[tuple[RequestContext, Decimal]] = []
        self.settled: list[Decimal | None] = []

    def reserve(self, ctx: RequestContext, estimated_cost: Decimal) -> Decision:
        self.asked.append((ctx, estimated_cost))
        if ctx.tenant_id != "acme":
            return Decision(allowed=True, reservation_id="r1")
        return Decision(
            allowed=False,
            reason="monthly budget for tenant acme is spent",
            rule="acme-monthly",
            limit_usd=Decimal("100.00"),
            spend_usd=Decimal("100.02"),
            scope={"tenant_id": "acme"},
            retry_after_s=3600,
        )

    def settle(self, decision: Decision, actual_cost: Decimal | None) -> None:
        self.settled.append(actual_cost)


def test_denied_call_is_429_in_each_providers_shape_and_never_forwarded(make_rig: MakeRig) -> None:
    gate = DenyOverBudget()
    rig = make_rig(gate=gate)
    oa = rig.closing(openai.OpenAI(base_url=rig.openai_url, api_key="sk-x", max_retries=0))
    with pytest.raises(openai.RateLimitError) as denied:
        oa.chat.completions.create(
            model="gpt-4o-mini", messages=MSG, max_tokens=1000, extra_headers={"X-Costtrail-Tenant": "acme"}
        )
    assert denied.value.response.headers["retry-after"] == "3600"
    error = denied.value.response.json()["error"]
    assert error["type"] == "budget_exceeded" and error["code"] == "budget_exceeded"
    assert (
        "acme-monthly" in error["message"] and "$100.00" in error["message"] and "$100.02" in error["message"]
    )
    assert denied.value.response.json()["costtrail"]["limit_usd"] == "100.00"
    ctx, estimate = gate.asked[0]
    assert (ctx.provider, ctx.model, ctx.tenant_id) == ("openai", "gpt-4o-mini", "acme")
    # The estimate reserves the request's output cap: 1000 tokens at $0.60/M plus the input.
    assert Decimal("0.0006") < estimate < Decimal("0.0007")
    an = rig.closing(anthropic.Anthropic(base_url=rig.url, api_key="sk-ant-x", max_retries=0))
    with pytest.raises(anthropic.RateLimitError) as denied_a:
        an.messages.create(
            model="claude-haiku-4-5",
            max_tokens=10,
            messages=MSG,
            extra_headers={"X-Costtrail-Tenant": "acme"},
        )
    body = denied_a.value.response.json()
    assert body["type"] == "error" and body["error"]["type"] == "rate_limit_error"
    assert "acme-monthly" in body["error"]["message"]
    assert len(rig.fake.requests) == 0
    # An allowed call is settled with its actual cost.
    oa.chat.completions.create(model="gpt-4o-mini", messages=MSG)
    [event] = rig.events()
    assert gate.settled == [event["cost_usd"]]


def test_gateway_keys_apply_tenant_and_defaults(make_rig: MakeRig, tmp_path: Path) -> None:
    keys = KeyRing(tmp_path / "keys.json", secret=b"k" * 32)
    acme = keys.create(
        Scope.INGEST, tenant="acme", defaults={"feature": "search", "environment": "prod"}
    ).token
    reader = keys.create(Scope.READ).token
    rig = make_rig(keys=keys, defaults={"environment": "dev", "team": "platform"})
    oa = rig.closing(openai.OpenAI(base_url=rig.openai_url, api_key="sk-x", max_retries=0))
    with pytest.raises(openai.AuthenticationError) as missing:
        oa.chat.completions.create(model="gpt-4o-mini", messages=MSG)
    assert "X-Costtrail-Key" in missing.value.response.json()["error"]["message"]
    with pytest.raises(openai.PermissionDeniedError):
        oa.chat.completions.create(
            model="gpt-4o-mini", messages=MSG, extra_headers={"X-Costtrail-Key": reader}
        )
    with pytest.raises(openai.PermissionDeniedError) as foreign:
        oa.chat.completions.create(
            model="gpt-4o-mini",
            messages=MSG,
            extra_headers={"X-Costtrail-Key": acme, "X-Costtrail-Tenant": "globex"},
        )
    assert "unknown tenant 'globex'" in foreign.value.response.json()["error"]["message"]
    oa.chat.completions.create(model="gpt-4o-mini", messages=MSG, extra_headers={"X-Costtrail-Key": acme})
    [event] = rig.events()
    assert (event["tenant_id"], event["feature"], event["environment"], event["team"]) == (
        "acme",
        "search",
        "prod",
        "platform",
    )


def test_upstream_timeout_is_504_and_recorded(make_rig: MakeRig) -> None:
    rig = make_rig(read_timeout_s=0.2)
    oa = rig.closing(openai.OpenAI(base_url=rig.openai_url, api_key="sk-x", max_retries=0))
    with pytest.raises(openai.InternalServerError) as timed_out:
        oa.chat.completions.create(
            model="gpt-4o-mini", messages=MSG, extra_headers={"x-fake-delay-ms": "1500"}
        )
    assert timed_out.value.status_code == 504
    [event] = rig.events()
    assert (event["status"], event["error_type"]) == ("timeout", "upstream_timeout")


def test_stream_error_event_is_recorded_as_failed_with_its_input_cost(make_rig: MakeRig) -> None:
    rig = make_rig()
    an = rig.closing(anthropic.Anthropic(base_url=rig.url, api_key="sk-ant-x", max_retries=0))
    knobs = {"x-fake-stream-error-after": "1", "x-fake-input-tokens": "1000"}
    # The SDK raises the error event it meets mid-stream.
    with (
        pytest.raises(anthropic.APIStatusError),
        an.messages.stream(model="claude-haiku-4-5", max_tokens=50, messages=MSG, extra_headers=knobs) as s,
    ):
        for _ in s:
            pass
    [event] = rig.events()
    # Its usage is unknown (issue #20): incomplete with the provider's error, the input cost an estimate.
    assert (event["status"], event["error_type"]) == ("incomplete", "overloaded_error")
    assert event["input_tokens"] == 1000 and event["cost_usd"] is None
    assert event["cost_estimate_usd"] > 0


def test_allowed_unpriced_paths_pass_through_and_others_are_refused(make_rig: MakeRig) -> None:
    rig = make_rig(allowed_paths=("/v1/models",))
    r = httpx.get(f"{rig.url}/v1/models", headers={"Authorization": "Bearer sk-x"})
    direct = httpx.get(f"{rig.fake.openai_base_url}/models", headers={"Authorization": "Bearer sk-x"})
    assert r.status_code == direct.status_code
    refused = httpx.get(f"{rig.url}/v1/files", headers={"Authorization": "Bearer sk-x"})
    assert refused.status_code == 404
    assert "--allow-path" in refused.json()["error"]["message"]
    assert httpx.get(f"{rig.url}/healthz").json() == {"status": "ok"}
