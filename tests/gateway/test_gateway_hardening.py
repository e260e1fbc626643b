"""Hardening, round two (issue #14), at the gateway: findings 1, 3, 10 and 11 through real HTTP.

Each test drives the gateway as ``costtrail gateway`` serves it (uvicorn on 127.0.0.1, uvloop +
httptools) in front of the fake provider, and fails on edad9f8's behaviour: an encoded path that
skipped the key check, the budget and the recording; dot segments that left the API root; a
call forwarded then lost (500, no event, a reservation never released); usage the ledger could
not hold; an uncapped call's estimate far below what it could spend.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import subprocess
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import openai
import pytest
from genai_prices import Usage, calc_price
from tests.gateway.conftest import MakeRig
from tests.hardening.hardening_procs import COSTTRAIL, GatewayProcess
from tests.prices import row_price

from costtrail.auth import KeyRing, Scope
from costtrail.controls.chain import Controls, build_controls
from costtrail.controls.config import ControlsConfig
from costtrail.demo.fake_provider import FakeProvider
from costtrail.gateway.estimation import estimate_cost
from costtrail.ledger.duckdb_store import DuckDBStore
from costtrail.pricing import Pricer
from costtrail.pricing.rate_card import RateCard

CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 20}
BUDGET = """
budgets:
  - name: gw-daily
    scope: {{}}
    period: day
    limit_usd: {limit}
    owner: sre@example.com
alerts: {{log: false}}
"""


def _controls(limit: str) -> Controls:
    return build_controls(ControlsConfig.from_yaml(BUDGET.format(limit=limit)))


@pytest.fixture
def keys(tmp_path: Path) -> KeyRing:
    return KeyRing(tmp_path / "keys.json", secret=b"k" * 32)


def _raw(
    url: str,
    method: str,
    path: str,
    *,
    key: str | None,
    body: Any = CHAT,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], Any]:
    """One request with ``path`` sent byte for byte (no client-side normalization), and its answer."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
    sent = {"content-type": "application/json", "authorization": "Bearer sk-test", **(headers or {})}
    if key is not None:
        sent["x-costtrail-key"] = key
    try:
        conn.request(method, path, body=json.dumps(body).encode() if body is not None else None, headers=sent)
        response = conn.getresponse()
        data = response.read()
        answer = {k.lower(): v for k, v in response.getheaders()}
        try:
            return response.status, answer, json.loads(data) if data else None
        except ValueError:
            return response.status, answer, data  # a provider's plain-text 404
    finally:
        conn.close()


def _attributes(event: dict[str, Any]) -> dict[str, str]:
    value = event["attributes"]
    return dict(json.loads(value) if isinstance(value, str) else value)


# -- finding 1: the path is normalized before routing; every request passes the key check ------


@pytest.mark.parametrize(
    "path",
    ["/v1/chat/completions%3F", "/v1/chat/completions%23", "/v1/messages%3F", "/v1/chat/completions%3Fa=1"],
)
def test_an_encoded_query_or_fragment_is_refused_not_forwarded(
    make_rig: MakeRig, keys: KeyRing, path: str
) -> None:
    rig = make_rig(keys=keys, gate=_controls("1.00").gate)
    token = keys.create(Scope.INGEST).token
    status, _, body = _raw(rig.url, "POST", path, key=None)
    assert status == 401, body  # edad9f8: the provider's 200, no key check, no budget, no event
    status, _, body = _raw(rig.url, "POST", path, key=token)
    assert status == 400 and "request path holds '" in body["error"]["message"], body
    assert list(rig.fake.requests.lines) == []


@pytest.mark.parametrize(
    "path", ["/v1/../../admin", "/v1/..%2f..%2fadmin", "/v1/%2e%2e/%2E%2E/admin", "/v1/models/../../admin"]
)
def test_dot_segments_never_leave_the_api_root(make_rig: MakeRig, keys: KeyRing, path: str) -> None:
    rig = make_rig(keys=keys, allowed_paths=("/v1/models",))
    token = keys.create(Scope.INGEST).token
    for method in ("GET", "POST"):
        status, _, body = _raw(rig.url, method, path, key=token, body=None if method == "GET" else CHAT)
        assert status == 400 and body["error"]["code"] == "path_refused", body
    assert list(rig.fake.requests.lines) == []  # edad9f8: the provider saw GET /admin


def test_unknown_paths_need_the_key_and_an_allowed_prefix(make_rig: MakeRig, keys: KeyRing) -> None:
    rig = make_rig(keys=keys, allowed_paths=("/v1/models",))
    token = keys.create(Scope.INGEST).token
    assert _raw(rig.url, "GET", "/v1/files", key=None, body=None)[0] == 401  # edad9f8: forwarded, no key
    assert _raw(rig.url, "GET", "/v1/models", key=None, body=None)[0] == 401
    status, _, body = _raw(rig.url, "GET", "/v1/files", key=token, body=None)
    assert status == 404 and "--allow-path" in body["error"]["message"], body
    assert list(rig.fake.requests.lines) == []
    _raw(rig.url, "GET", "/v1/models/gpt-4o", key=token, body=None)  # allowed: forwarded, unpriced
    assert list(rig.fake.requests.lines) == [("GET", "/v1/models/gpt-4o")]


@pytest.mark.parametrize(
    "path",
    ["/v1//chat/completions", "/V1/Chat/Completions", "/v1/chat%2Fcompletions", "/v1/chat/completions/"],
)
def test_other_spellings_of_a_priced_route_are_priced_and_recorded(
    make_rig: MakeRig, keys: KeyRing, path: str
) -> None:
    rig = make_rig(keys=keys)
    token = keys.create(Scope.INGEST).token
    assert _raw(rig.url, "POST", path, key=None)[0] == 401
    status, headers, _ = _raw(rig.url, "POST", path, key=token, headers={"x-fake-output-tokens": "7"})
    assert status == 200
    # what reached the provider is the path that was routed on, priced
    assert list(rig.fake.requests.lines) == [("POST", "/v1/chat/completions")]
    [event] = rig.events(1)
    assert (event["event_id"] or event["event_uuid"].hex) == headers["x-costtrail-event-id"]
    assert event["output_tokens"] == 7
    assert event["cost_usd"] == row_price(event) > 0
    assert Decimal(headers["x-costtrail-cost"]) == event["cost_usd"]


# -- finding 3: a forwarded call is never lost; the reservation is released on every path -----


@pytest.mark.parametrize("where", ["metadata", "tags"])
def test_over_limit_attributes_are_trimmed_and_flagged_not_a_500(make_rig: MakeRig, where: str) -> None:
    controls = _controls("1.00")
    rig = make_rig(gate=controls.gate)
    body: dict[str, Any] = dict(CHAT)
    headers: dict[str, str] = {}
    if where == "metadata":
        body["metadata"] = {f"k{i}": "v" for i in range(200)}
    else:
        headers["x-costtrail-tags"] = ",".join(f"t{i}=v" for i in range(200))
    for _ in range(4):
        status = _raw(rig.url, "POST", "/v1/chat/completions", key=None, body=body, headers=headers)[0]
        assert status == 200  # edad9f8: 500 after the provider answered
    events = rig.events(4)
    assert len(events) == 4
    for event in events:
        attributes = _attributes(event)
        # http.status_code and 125 of the 200 are kept (room is left for two flags), 75 dropped and counted
        assert len(attributes) == 127 and attributes["http.status_code"] == "200"
        assert attributes["costtrail.attributes_dropped"] == "75"
    [status_of_budget] = controls.budgets.status()
    assert status_of_budget.reserved == 0  # edad9f8: 4 reservations never released
    assert status_of_budget.spent == sum((e["cost_usd"] for e in events), Decimal(0))


def test_an_upstream_that_cuts_the_body_is_a_502_and_is_recorded(make_rig: MakeRig) -> None:
    controls = _controls("1.00")
    rig = make_rig(gate=controls.gate)
    status, _, body = _raw(
        rig.url, "POST", "/v1/chat/completions", key=None, headers={"x-fake-cut-body": "40"}
    )
    assert status == 502 and body["error"]["code"] == "upstream_error", body  # edad9f8: 500, no event
    [event] = rig.events(1)
    assert event["status"] == "error" and event["error_type"] == "upstream_error"
    assert controls.budgets.status()[0].reserved == 0


def test_a_body_nested_too_deeply_is_refused_not_forwarded_blind(make_rig: MakeRig) -> None:
    rig = make_rig()
    deep = '{"model": "gpt-4o-mini", "metadata": ' + '{"a": ' * 5000 + "1" + "}" * 5000 + "}"
    parts = urlsplit(rig.url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
    try:
        conn.request(
            "POST", "/v1/chat/completions", body=deep.encode(), headers={"authorization": "Bearer x"}
        )
        response = conn.getresponse()
        body = json.loads(response.read())
    finally:
        conn.close()
    assert response.status == 400 and body["error"]["code"] == "body_too_deep"  # edad9f8: 500
    assert list(rig.fake.requests.lines) == []


# -- finding 10: usage the ledger cannot hold is stored unpriced, never lost ------------------


def test_absurd_usage_is_stored_unpriced_and_named(make_rig: MakeRig) -> None:
    rig = make_rig()
    huge = str(2**63)
    status, headers, body = _raw(
        rig.url, "POST", "/v1/chat/completions", key=None, headers={"x-fake-input-tokens": huge}
    )
    assert status == 200 and body["usage"]["prompt_tokens"] == 2**63
    assert headers["x-costtrail-cost"] == "unpriced"
    [event] = rig.events(1)  # edad9f8: the event never reached the ledger
    assert event["unpriced"] is True and event["cost_usd"] is None and event["input_tokens"] == 0
    assert _attributes(event)["costtrail.usage_refused"] == f"input_tokens={huge}"


# -- finding 11: the estimate of an uncapped call is the most it can write --------------------

MESSAGES = [{"role": "user", "content": "Write the whole migration guide, every section."}]
CARD = """
version: "2026-12"
models:
  - provider: openai
    model: gpt-4o
    discount_percent: 0
    max_output_tokens: 16384
"""


def test_uncapped_estimate_uses_the_models_output_limit() -> None:
    body = {"model": "gpt-4o", "messages": MESSAGES}
    input_tokens = 12  # ceil(47 characters / 4)
    # genai-prices knows gpt-4o's context window (128,000): the output can be at most the rest
    expected = calc_price(Usage(input_tokens=12, output_tokens=128_000 - 12), "gpt-4o", provider_id="openai")
    assert estimate_cost(Pricer(), "openai", body) == expected.total_price
    # the rate card's max_output_tokens is tighter
    card = Pricer(RateCard.from_yaml(CARD))
    capped = calc_price(
        Usage(input_tokens=input_tokens, output_tokens=16_384), "gpt-4o", provider_id="openai"
    )
    assert estimate_cost(card, "openai", body) == capped.total_price
    # a model neither knows: the configured default
    assert estimate_cost(Pricer(), "openai", {"model": "my-finetune", "messages": MESSAGES}) == 0


async def _uncapped_burst(url: str, n: int) -> list[int]:
    async with openai.AsyncOpenAI(base_url=url + "/v1", api_key="sk-test", max_retries=0) as client:

        async def one() -> int:
            try:
                await client.chat.completions.create(
                    model="gpt-4o",
                    messages=MESSAGES,
                    extra_headers={"X-Fake-Output-Tokens": "8000"},  # type: ignore[arg-type]
                )
                return 200
            except openai.RateLimitError as exc:
                return exc.status_code

        return await asyncio.gather(*(one() for _ in range(n)))


def test_uncapped_calls_stay_within_the_documented_bound(make_rig: MakeRig) -> None:
    controls = build_controls(
        ControlsConfig.from_yaml(BUDGET.format(limit="0.50")), pricer=Pricer(RateCard.from_yaml(CARD))
    )
    rig = make_rig(gate=controls.gate, pricer=Pricer(RateCard.from_yaml(CARD)))
    statuses = asyncio.run(_uncapped_burst(rig.url, 40))
    allowed = statuses.count(200)
    assert allowed + statuses.count(429) == 40 and allowed >= 1
    events = rig.events(allowed)
    spend = sum((e["cost_usd"] for e in events), Decimal(0))
    # The bound (docs/controls.md): limit + what the admitted calls cost over their estimates. Each
    # writes 8,000 tokens, under the 16,384 reserved; the fake counts 3 tokens of framing per message
    # and 3 per request that the chars/4 estimate does not: 6 x $2.50/M = $0.000015 a call.
    overrun = allowed * Decimal("0.000015")
    assert spend <= Decimal("0.50") + overrun
    # edad9f8 reserved 1,024 output tokens (~$0.0103) and let ~48 such calls in: $0.08 each, $3.20
    assert controls.budgets.status()[0].reserved == 0


# -- the same door as the command serves it: `costtrail gateway --keys ... --allow-path ...` ----


def test_the_command_checks_keys_and_allows_only_the_named_prefix(tmp_path: Path) -> None:
    ledger = tmp_path / "gw.duckdb"
    keys_file = tmp_path / "keys.json"
    token = KeyRing.for_ledger(str(ledger), keys_file=keys_file).create(Scope.INGEST).token
    with FakeProvider() as fake:
        args = ["--ledger", str(ledger), "--keys", str(keys_file), "--allow-path", "/v1/models"]
        args += ["--upstream", f"openai={fake.openai_base_url}", "--upstream", f"anthropic={fake.base_url}"]
        gateway = GatewayProcess(tmp_path / "gateway.log", args).start()
        try:
            assert _raw(gateway.url, "POST", "/v1/chat/completions%3F", key=None)[0] == 401
            assert _raw(gateway.url, "POST", "/v1/chat/completions%3F", key=token)[0] == 400
            assert _raw(gateway.url, "GET", "/v1/..%2f..%2fadmin", key=token, body=None)[0] == 400
            assert _raw(gateway.url, "GET", "/v1/files", key=token, body=None)[0] == 404
            assert list(fake.requests.lines) == []
            _raw(gateway.url, "GET", "/v1/models", key=token, body=None)
            assert _raw(gateway.url, "POST", "/v1/chat/completions", key=token)[0] == 200
            assert list(fake.requests.lines) == [("GET", "/v1/models"), ("POST", "/v1/chat/completions")]
        finally:
            gateway.stop()
    with DuckDBStore(ledger, read_only=True) as store:
        assert store.query("SELECT count(*) AS n FROM events")[0]["n"] == 1  # the priced call only


def test_the_command_refuses_a_prefix_outside_the_api_root(tmp_path: Path) -> None:
    done = subprocess.run(
        [COSTTRAIL, "gateway", "--ledger", str(tmp_path / "x.duckdb"), "--allow-path", "/v1/../admin"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "COLUMNS": "400"},
    )
    assert done.returncode != 0 and "--allow-path" in done.stderr and "'.' or '..'" in done.stderr
