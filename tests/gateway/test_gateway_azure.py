"""The gateway's Azure OpenAI routes, with the official ``openai.AzureOpenAI`` client pointed at it.

``/openai/deployments/{deployment}/chat/completions`` (and completions, embeddings) go to the
configured Azure upstream (here the fake provider's Azure paths) with the ``api-key`` header and
``api-version`` query passed through; the call is recorded as ``azure``, the deployment mapped to
its model, priced and budget-checked as the OpenAI route is.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import openai
import pytest
from tests.gateway.conftest import MakeRig, Rig
from tests.prices import genai_price

from costtrail.controls.chain import build_controls
from costtrail.controls.config import ControlsConfig
from costtrail.gateway import GatewayConfig

API_VERSION = "2024-10-21"
USAGE = {"x-fake-input-tokens": "1200", "x-fake-output-tokens": "300"}
MESSAGES = [{"role": "user", "content": "Where is my order #1234?"}]
SECRET = "azure-secret-key-0123456789"


def _rig(make_rig: MakeRig, fake: Any, deployments: dict[str, str] | None = None) -> Rig:
    return make_rig(
        upstreams={"openai": fake.openai_base_url, "anthropic": fake.base_url, "azure": fake.base_url},
        azure_deployments=deployments,
    )


def _budget_rig(make_rig: MakeRig, fake: Any, deployments: dict[str, str] | None) -> Rig:
    """A $0.001-a-day budget on all traffic."""
    controls = ControlsConfig.from_yaml(
        "budgets:\n  - {name: tiny, scope: {}, period: day, limit_usd: 0.001, owner: sre@example.com}\n"
        "alerts: {log: false}\n"
    )
    return make_rig(
        upstreams={"openai": fake.openai_base_url, "anthropic": fake.base_url, "azure": fake.base_url},
        gate=build_controls(controls).gate,
        azure_deployments=deployments,
    )


def _client(rig: Rig) -> openai.AzureOpenAI:
    return rig.closing(
        openai.AzureOpenAI(azure_endpoint=rig.url, api_key=SECRET, api_version=API_VERSION, max_retries=0)
    )


@pytest.mark.parametrize("stream", [False, True])
def test_azure_chat_through_the_gateway_is_priced_as_its_mapped_model(
    make_rig: MakeRig, fake: Any, stream: bool
) -> None:
    rig = _rig(make_rig, fake, {"prod-chat": "gpt-4o"})
    result = _client(rig).chat.completions.create(
        model="prod-chat", messages=MESSAGES, stream=stream, extra_headers=USAGE
    )
    if stream:
        for _ in result:
            pass
    (event,) = rig.events()
    assert (event["provider"], event["model"], event["status"]) == ("azure", "gpt-4o", "success")
    assert event["cost_usd"] == genai_price("azure", "gpt-4o", input_tokens=1200, output_tokens=300)
    assert json.loads(event["attributes"])["azure_deployment"] == "prod-chat"
    method, line = fake.requests.lines[-1]
    assert (method, line) == ("POST", "/openai/deployments/prod-chat/chat/completions")
    assert SECRET not in json.dumps(event, default=str)  # the key is passed through, never stored


def test_azure_key_reaches_the_upstream_and_nowhere_else(make_rig: MakeRig, fake: Any, caplog: Any) -> None:
    """The fake answers 401 without an api-key: a 200 proves the gateway passed it through."""
    rig = _rig(make_rig, fake)
    _client(rig).chat.completions.create(
        model="mini", messages=MESSAGES, extra_headers={**USAGE, "x-fake-model": "gpt-4o-mini"}
    )
    (event,) = rig.events()
    assert (event["provider"], event["model"]) == ("azure", "gpt-4o-mini")  # no mapping: the response's
    assert event["cost_usd"] == genai_price("azure", "gpt-4o-mini", input_tokens=1200, output_tokens=300)
    stored = rig.store.query("SELECT * FROM events")
    assert SECRET not in json.dumps(stored, default=str)
    assert SECRET not in caplog.text


def test_azure_embeddings_and_completions(make_rig: MakeRig, fake: Any) -> None:
    rig = _rig(make_rig, fake, {"embedder": "text-embedding-3-small", "instruct": "gpt-3.5-turbo-instruct"})
    client = _client(rig)
    client.embeddings.create(model="embedder", input="hello", extra_headers={"x-fake-input-tokens": "900"})
    client.completions.create(model="instruct", prompt="Say hi", extra_headers=USAGE)
    embedding, completion = rig.events(2)
    assert (embedding["kind"], embedding["model"]) == ("embedding", "text-embedding-3-small")
    assert embedding["cost_usd"] == genai_price("azure", "text-embedding-3-small", input_tokens=900)
    assert completion["model"] == "gpt-3.5-turbo-instruct"
    assert completion["cost_usd"] == genai_price(
        "azure", "gpt-3.5-turbo-instruct", input_tokens=1200, output_tokens=300
    )


def test_azure_responses_name_the_deployment_in_the_body(make_rig: MakeRig, fake: Any) -> None:
    rig = _rig(make_rig, fake, {"prod-chat": "gpt-4o"})
    _client(rig).responses.create(model="prod-chat", input="Where is my order?", extra_headers=USAGE)
    (event,) = rig.events()
    assert (event["provider"], event["model"]) == ("azure", "gpt-4o")
    assert event["cost_usd"] == genai_price("azure", "gpt-4o", input_tokens=1200, output_tokens=300)
    assert json.loads(event["attributes"])["azure_deployment"] == "prod-chat"
    assert fake.requests.lines[-1] == ("POST", "/openai/responses")


def test_azure_budget_is_checked_at_the_mapped_models_price(make_rig: MakeRig, fake: Any) -> None:
    rig = _budget_rig(make_rig, fake, {"prod-chat": "gpt-4o"})
    # max_tokens 1000 of gpt-4o output alone is 1000 x $10/M = $0.01, over the $0.001 budget.
    with pytest.raises(openai.RateLimitError) as raised:
        _client(rig).chat.completions.create(model="prod-chat", messages=MESSAGES, max_tokens=1000)
    assert "tiny" in str(raised.value)
    assert not [line for line in fake.requests.lines if line[1].startswith("/openai/")]


def test_azure_route_without_an_azure_upstream_is_404(make_rig: MakeRig, fake: Any) -> None:
    rig = make_rig()
    with pytest.raises(openai.NotFoundError) as raised:
        _client(rig).chat.completions.create(model="prod-chat", messages=MESSAGES)
    assert "--upstream azure=" in str(raised.value)


def test_azure_upstream_url_keeps_the_deployment_path_and_api_version() -> None:
    config = GatewayConfig(upstreams={"azure": "https://acme.openai.azure.com/openai/"})
    url = config.upstream_url("azure", "/openai/deployments/d/chat/completions", b"api-version=2024-10-21")
    assert url == "https://acme.openai.azure.com/openai/deployments/d/chat/completions?api-version=2024-10-21"
    assert config.billed_provider("azure") == "azure"


def test_a_bad_deployments_file_is_refused_by_the_cli(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from costtrail.cli.main import app

    mapping = tmp_path / "deployments.yaml"
    mapping.write_text("deployments:\n  prod-chat: [gpt-4o]\n")
    result = CliRunner().invoke(app, ["gateway", "--azure-deployments", str(mapping)], env={"COLUMNS": "400"})
    assert result.exit_code == 2
    assert "deployments.yaml:2: deployments.prod-chat" in result.output


def test_an_unmapped_deployment_is_denied_by_a_usd_budget_not_reserved_at_zero(
    make_rig: MakeRig, fake: Any
) -> None:
    """'ops-chat' names no model genai-prices knows: a $0 estimate would let every call through."""
    rig = _budget_rig(make_rig, fake, None)
    with pytest.raises(openai.PermissionDeniedError) as raised:
        _client(rig).chat.completions.create(model="ops-chat", messages=MESSAGES, max_tokens=10)
    assert "ops-chat" in str(raised.value) and "--azure-deployments" in str(raised.value)
    assert "rate-card" in str(raised.value)
    assert not [line for line in fake.requests.lines if line[1].startswith("/openai/")]


@pytest.mark.parametrize("stream", [False, True])
def test_azure_v1_api_names_the_deployment_in_the_body(make_rig: MakeRig, fake: Any, stream: bool) -> None:
    """Azure's v1 API: the plain ``openai.OpenAI`` client at ``/openai/v1/``, no api-version."""
    rig = _rig(make_rig, fake, {"prod-chat": "gpt-4o"})
    client = rig.closing(openai.OpenAI(base_url=f"{rig.url}/openai/v1/", api_key=SECRET, max_retries=0))
    result = client.chat.completions.create(
        model="prod-chat", messages=MESSAGES, stream=stream, extra_headers=USAGE
    )
    if stream:
        for _ in result:
            pass
    client.responses.create(model="prod-chat", input="Where is my order?", extra_headers=USAGE)
    chat, answer = rig.events(2)
    for event in (chat, answer):
        assert (event["provider"], event["model"], event["status"]) == ("azure", "gpt-4o", "success")
        assert event["cost_usd"] == genai_price("azure", "gpt-4o", input_tokens=1200, output_tokens=300)
        assert json.loads(event["attributes"])["azure_deployment"] == "prod-chat"
    assert [line for line in fake.requests.lines if line[1].startswith("/openai/")] == [
        ("POST", "/openai/v1/chat/completions"),
        ("POST", "/openai/v1/responses"),
    ]
