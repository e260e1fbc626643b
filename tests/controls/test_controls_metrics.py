"""Prometheus metrics: /metrics on the real collector and gateway, bounded labels, budget gauges."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import openai
from tests.controls.controls_rig import HEADERS, MESSAGES, Gateway

from costtrail.auth import KeyRing, Scope
from costtrail.collector.app import create_app
from costtrail.collector.server import BackgroundServer
from costtrail.export.prometheus import CostMetrics
from costtrail.ledger.duckdb_store import DuckDBStore
from costtrail.schema import Event
from costtrail.settings import Settings

LINE = re.compile(r"^(\w+)\{(.*)\} (\S+)$")


def parse(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], str]:
    out = {}
    for line in text.splitlines():
        if line.startswith("#") or not line:
            continue
        m = LINE.match(line)
        assert m, line
        labels = frozenset(tuple(kv.split("=", 1)) for kv in re.findall(r'\w+="[^"]*"', m.group(2)))
        out[(m.group(1), frozenset((k, v.strip('"')) for k, v in labels))] = m.group(3)
    return out


def series(metrics: dict[Any, str], name: str, **labels: str) -> str:
    want = set(labels.items())
    [value] = [v for (n, lab), v in metrics.items() if n == name and want <= set(lab)]
    return value


def ev(cost: str | None, **kw: Any) -> Event:
    base = {
        "provider": "openai",
        "model": "gpt-4o-mini",
        "workflow": "support_reply",
        "environment": "production",
    }
    money = {"cost_usd": Decimal(cost), "cost_source": "reported"} if cost else {"unpriced": True}
    return Event(**{**base, **kw, **money}, input_tokens=100, output_tokens=10)


def test_collector_metrics_count_the_ledger_once(tmp_path: Path) -> None:
    store = DuckDBStore(tmp_path / "ledger.duckdb")
    keys = KeyRing(tmp_path / "keys.json", secret=b"test-secret" * 3)
    token = keys.create(Scope.INGEST).token
    reader = {"Authorization": f"Bearer {keys.create(Scope.READ).token}"}
    acme_reader = {"Authorization": f"Bearer {keys.create(Scope.READ, tenant='acme').token}"}
    app = create_app(Settings(ledger=str(tmp_path / "ledger.duckdb")), store, keys=keys)
    first = [ev("0.25"), ev("0.50", status="retry"), ev(None, model="mystery-1")]
    store.append_events(first)
    with BackgroundServer(app) as server:
        # every tenant's spend: a read key not scoped to a tenant, nothing less
        assert httpx.get(server.url + "/metrics").status_code == 401
        denied = httpx.get(server.url + "/metrics", headers=acme_reader)
        assert denied.status_code == 403 and "without --tenant" in denied.text
        resp = httpx.get(server.url + "/metrics", headers=reader)
        assert resp.status_code == 200 and resp.headers["content-type"].startswith(
            "text/plain; version=0.0.4"
        )
        m = parse(resp.text)
        assert series(m, "costtrail_spend_usd_total", model="gpt-4o-mini", workflow="support_reply") == "0.75"
        assert series(m, "costtrail_requests_total", model="gpt-4o-mini", status="retry") == "1"
        assert series(m, "costtrail_unpriced_events_total", model="mystery-1") == "1"
        assert series(m, "costtrail_tokens_total", model="gpt-4o-mini", direction="input") == "200"
        # a batch through the real ingest route, with one event re-sent: counted once
        batch = [e.model_dump(mode="json") for e in (first[0], ev("1.25"))]
        r = httpx.post(server.url + "/v1/events", json=batch, headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200, r.text
        m = parse(httpx.get(server.url + "/metrics", headers=reader).text)
        assert series(m, "costtrail_spend_usd_total", model="gpt-4o-mini") == "2"
        assert series(m, "costtrail_requests_total", model="gpt-4o-mini", status="success") == "2"
    store.close()


def test_label_values_are_bounded() -> None:
    metrics = CostMetrics(max_values={"model": 3})
    for i in range(10):
        metrics.observe({"provider": "openai", "model": f"ft:model-{i}", "cost_usd": Decimal("0.1")})
    m = parse(metrics.render())
    models = {dict(lab)["model"] for (n, lab) in m if n == "costtrail_spend_usd_total"}
    assert models == {"ft:model-0", "ft:model-1", "ft:model-2", "other"}
    assert series(m, "costtrail_spend_usd_total", model="other") == "0.7"


def test_gateway_metrics_and_budget_gauges(gateway: Gateway) -> None:
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key="sk-test", max_retries=0)
    for _ in range(3):
        client.chat.completions.create(
            model="gpt-4o", messages=MESSAGES, max_tokens=1000, extra_headers=HEADERS
        )
    events = gateway.events(3)
    m = parse(httpx.get(gateway.url + "/metrics").text)
    spend = sum((e["cost_usd"] for e in events), Decimal(0))
    assert Decimal(series(m, "costtrail_spend_usd_total", model="gpt-4o", environment="production")) == spend
    assert series(m, "costtrail_requests_total", model="gpt-4o") == "3"
    assert Decimal(series(m, "costtrail_budget_spend", budget="prod-daily-dollar", unit="usd")) == spend
    assert series(m, "costtrail_budget_limit", budget="prod-daily-dollar") == "1"
    assert float(series(m, "costtrail_budget_utilization_ratio", budget="prod-daily-dollar")) == float(spend)


def test_gateway_metrics_need_an_untenanted_read_key_when_keys_are_required(tmp_path: Path) -> None:
    from costtrail.gateway import GatewayConfig, create_gateway_app
    from costtrail.sdk.ledger_destination import LedgerDestination
    from costtrail.sdk.sink import QueuedSink

    keys = KeyRing(tmp_path / "keys.json", secret=b"test-secret" * 3)
    reader, acme = keys.create(Scope.READ).token, keys.create(Scope.READ, tenant="acme").token
    ingest = keys.create(Scope.INGEST).token
    store = DuckDBStore(":memory:")
    sink = QueuedSink(lambda: LedgerDestination(store=store))
    config = GatewayConfig(upstreams={"openai": "http://127.0.0.1:9"}, require_key=True)
    app = create_gateway_app(Settings(ledger=":memory:"), config, sink=sink, keys=keys)
    with BackgroundServer(app) as server:
        url = server.url + "/metrics"
        assert httpx.get(url).status_code == 401
        assert httpx.get(url, headers={"X-Costtrail-Key": acme}).status_code == 403
        assert httpx.get(url, headers={"X-Costtrail-Key": ingest}).status_code == 403
        ok = httpx.get(url, headers={"Authorization": f"Bearer {reader}"})
        assert ok.status_code == 200 and "costtrail_spend_usd_total" in ok.text
    sink.close(5)
    store.close()
