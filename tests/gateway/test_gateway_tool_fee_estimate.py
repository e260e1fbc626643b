"""The gateway's budget estimate counts the tool fees a request foresees (a web search tool).

A $0.005 budget; every call caps its output at 100 tokens. Tokens alone estimate about $0.001
(gpt-4o: 100 x $10/M output, plus a few input tokens), which fits; one web search adds
genai-prices' $0.01 (gpt-4o's Responses ``web_search``) or the rate card's $0.025 (the chat
search-preview model's ``web_search_options``), which does not: refused before it is sent.
"""

from __future__ import annotations

from typing import Any

import openai
import pytest
from tests.gateway.conftest import MakeRig, Rig

from costtrail.controls.chain import build_controls
from costtrail.controls.config import ControlsConfig
from costtrail.pricing import Pricer, RateCard

USAGE = {"x-fake-input-tokens": "20", "x-fake-output-tokens": "10"}
CARD = RateCard.from_yaml("version: v1\ntools: [{id: search, tool_name: web_search, usd_per_call: 0.025}]\n")


def _rig(make_rig: MakeRig) -> Rig:
    controls = ControlsConfig.from_yaml(
        "budgets:\n  - {name: small, scope: {}, period: day, limit_usd: 0.005, owner: sre@example.com}\n"
        "alerts: {log: false}\n"
    )
    return make_rig(gate=build_controls(controls).gate, pricer=Pricer(CARD))


def _client(rig: Rig) -> openai.OpenAI:
    return rig.closing(openai.OpenAI(base_url=rig.openai_url, api_key="sk-test", max_retries=0))


def test_a_responses_web_search_tool_is_in_the_estimate(make_rig: MakeRig, fake: Any) -> None:
    rig = _rig(make_rig)
    client = _client(rig)
    ask = {"model": "gpt-4o", "input": "What is new in FOCUS 1.3?", "max_output_tokens": 100}
    client.responses.create(**ask, extra_headers=USAGE)  # ~$0.001: fits
    assert rig.events(1)
    with pytest.raises(openai.RateLimitError) as raised:
        client.responses.create(**ask, tools=[{"type": "web_search"}], extra_headers=USAGE)
    assert "small" in str(raised.value)
    assert len([line for line in fake.requests.lines if line[1] == "/v1/responses"]) == 1


def test_chat_web_search_options_are_in_the_estimate(make_rig: MakeRig, fake: Any) -> None:
    rig = _rig(make_rig)
    client = _client(rig)
    messages = [{"role": "user", "content": "What is new in FOCUS 1.3?"}]
    ask: dict[str, Any] = {"model": "gpt-4o-search-preview", "messages": messages, "max_tokens": 100}
    client.chat.completions.create(**ask, extra_headers=USAGE)
    assert rig.events(1)
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(**ask, web_search_options={}, extra_headers=USAGE)
    assert len([line for line in fake.requests.lines if line[1] == "/v1/chat/completions"]) == 1
