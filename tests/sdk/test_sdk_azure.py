"""Azure OpenAI through the SDK: the official ``openai.AzureOpenAI`` client against the fake provider.

Calls name a deployment (``/openai/deployments/{deployment}/...?api-version=...``, an ``api-key``
header); the event is provider ``azure`` with the deployment's model (from the deployments map,
else the model the response names), priced at genai-prices' Azure price.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import openai
import pytest

import costtrail
from costtrail.controls.config import ControlsConfig
from costtrail.sdk import instrument
from costtrail.wire.azure import DeploymentsError

API_VERSION = "2024-10-21"
USAGE = {"x-fake-input-tokens": "1200", "x-fake-output-tokens": "300"}
MESSAGES = [{"role": "user", "content": "Where is my order #1234?"}]


def _azure(fake: Any) -> openai.AzureOpenAI:
    return openai.AzureOpenAI(azure_endpoint=fake.base_url, api_key="azure-key", api_version=API_VERSION)


@pytest.mark.parametrize("stream", [False, True])
def test_mapped_deployment_is_priced_as_its_azure_model(
    fake: Any, ledger: Any, expected_cost: Any, stream: bool
) -> None:
    with _azure(fake) as client:
        instrument(client, recorder=ledger.recorder, azure_deployments={"prod-chat": "gpt-4o"})
        result = client.chat.completions.create(
            model="prod-chat", messages=MESSAGES, stream=stream, extra_headers=USAGE
        )
        if stream:
            for _ in result:
                pass
    (event,) = ledger.events()
    assert (event["provider"], event["model"], event["status"]) == ("azure", "gpt-4o", "success")
    assert (event["input_tokens"], event["output_tokens"]) == (1200, 300)
    assert event["cost_usd"] == expected_cost("azure", "gpt-4o", input_tokens=1200, output_tokens=300)
    assert json.loads(event["attributes"])["azure_deployment"] == "prod-chat"
    assert fake.requests.last("/openai/deployments/prod-chat/chat/completions").body["model"] == "prod-chat"


async def test_async_client_without_a_map_records_the_model_the_response_names(
    fake: Any, ledger: Any, expected_cost: Any
) -> None:
    headers = {**USAGE, "x-fake-model": "gpt-4o-mini-2024-07-18"}
    async with openai.AsyncAzureOpenAI(
        azure_endpoint=fake.base_url, api_key="azure-key", api_version=API_VERSION
    ) as client:
        instrument(client, recorder=ledger.recorder)
        await client.chat.completions.create(model="mini-deploy", messages=MESSAGES, extra_headers=headers)
    (event,) = ledger.events()
    assert (event["provider"], event["model"]) == ("azure", "gpt-4o-mini-2024-07-18")
    assert event["cost_usd"] == expected_cost(
        "azure", "gpt-4o-mini-2024-07-18", input_tokens=1200, output_tokens=300
    )


def test_embeddings_and_responses_through_a_deployments_file(
    fake: Any, ledger: Any, expected_cost: Any, tmp_path: Path
) -> None:
    mapping = tmp_path / "deployments.yaml"
    mapping.write_text("deployments:\n  embedder: text-embedding-3-small\n  prod-chat: gpt-4o\n")
    with _azure(fake) as client:
        instrument(client, recorder=ledger.recorder, azure_deployments=mapping)
        client.embeddings.create(
            model="embedder", input="hello", extra_headers={"x-fake-input-tokens": "900"}
        )
        client.responses.create(model="prod-chat", input="hi", extra_headers=USAGE)
    embedding, response = ledger.events()
    assert (embedding["provider"], embedding["model"], embedding["kind"]) == (
        "azure",
        "text-embedding-3-small",
        "embedding",
    )
    assert embedding["cost_usd"] == expected_cost("azure", "text-embedding-3-small", input_tokens=900)
    assert (response["provider"], response["model"]) == ("azure", "gpt-4o")
    assert response["cost_usd"] == expected_cost("azure", "gpt-4o", input_tokens=1200, output_tokens=300)


def test_a_bad_deployments_file_names_file_line_and_field(tmp_path: Path) -> None:
    mapping = tmp_path / "deployments.yaml"
    mapping.write_text("deployments:\n  prod-chat: gpt-4o\n  embedder:\n")
    with (
        pytest.raises(DeploymentsError) as raised,
        openai.AzureOpenAI(
            azure_endpoint="http://127.0.0.1:9", api_key="k", api_version=API_VERSION
        ) as client,
    ):
        instrument(client, azure_deployments=mapping)
    assert f"{mapping}:3: deployments.embedder" in str(raised.value)


def test_the_budget_check_prices_the_mapped_model(fake: Any, ledger: Any) -> None:
    controls = ControlsConfig.from_yaml("budgets: [{name: tiny, limit_usd: 0.001}]\nalerts: {log: false}")
    costtrail.enforce_budgets(controls, recorder=ledger.recorder)
    with _azure(fake) as client:
        instrument(client, recorder=ledger.recorder, azure_deployments={"prod-chat": "gpt-4o"})
        sent = len(fake.requests)
        # 1000 output tokens of gpt-4o alone: 1000 x $10/M = $0.01, over the $0.001 budget.
        with pytest.raises(costtrail.BudgetExceeded, match="tiny"):
            client.chat.completions.create(model="prod-chat", messages=MESSAGES, max_tokens=1000)
    assert len(fake.requests) == sent  # never sent


def test_an_unmapped_deployment_is_denied_by_a_usd_budget(fake: Any, ledger: Any) -> None:
    """'ops-chat' has no price: reserving $0 against the budget would admit any number of calls."""
    controls = ControlsConfig.from_yaml("budgets: [{name: tiny, limit_usd: 0.001}]\nalerts: {log: false}")
    costtrail.enforce_budgets(controls, recorder=ledger.recorder)
    with _azure(fake) as client:
        instrument(client, recorder=ledger.recorder)
        sent = len(fake.requests)
        with pytest.raises(costtrail.BudgetExceeded, match=r"ops-chat.*azure_deployments"):
            client.chat.completions.create(model="ops-chat", messages=MESSAGES, max_tokens=10)
    assert len(fake.requests) == sent  # never sent


def test_an_unpriced_model_passes_a_token_budget(fake: Any, ledger: Any) -> None:
    """Only a USD budget cannot bound an unpriced call; a token budget still counts its tokens."""
    controls = ControlsConfig.from_yaml("budgets: [{name: t, limit_tokens: 1000000}]\nalerts: {log: false}")
    costtrail.enforce_budgets(controls, recorder=ledger.recorder)
    with _azure(fake) as client:
        instrument(client, recorder=ledger.recorder)
        client.chat.completions.create(
            model="ops-chat", messages=MESSAGES, max_tokens=10, extra_headers={"x-fake-model": "gpt-4o"}
        )
    assert fake.requests.lines[-1][1] == "/openai/deployments/ops-chat/chat/completions"
