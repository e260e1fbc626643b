"""The differential corpus: real-shaped provider responses (files under corpus/) and what they say.

Each ``NAME.case.json`` names its flavor (``openai chat``...), the request a
client sends, the HTTP status and content type of the answer, the file with
the answer's exact bytes (JSON body, SSE stream, or a malformed body) and the
expected reading: tokens in the envelope's convention, tier, tool calls and
status. The expected cost is computed from those tokens by
``genai_prices.calc_price``, never by costtrail.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from genai_prices import Usage, calc_price

from costtrail.schema import TOKEN_FIELDS, TOOL_FEE_FIELDS

CORPUS = Path(__file__).parent / "corpus"
COMPARED = ("status", "error_type", "service_tier", "tool_calls", *TOKEN_FIELDS, *TOOL_FEE_FIELDS)


@dataclass(frozen=True)
class Case:
    name: str
    provider: str
    flavor: str
    request: dict[str, Any]
    status: int
    content_type: str
    body: bytes
    expected: dict[str, Any]

    @property
    def streamed(self) -> bool:
        return self.content_type == "text/event-stream"

    def expected_cost(self) -> Decimal | None:
        """calc_price of the expected usage; None when the call's usage is unknown or it failed."""
        e = self.expected
        if e["status"] != "success":
            return None
        usage = expected_usage(e)
        tier = e["service_tier"]
        context: Any = {"service_tier": tier} if tier else None
        return calc_price(usage, e["model"], provider_id=self.provider, price_context=context).total_price


def expected_usage(e: dict[str, Any]) -> Usage:
    """genai-prices' Usage of a case's expected counts (a count the case does not name is 0)."""
    return Usage(
        input_tokens=e["input_tokens"],
        output_tokens=e["output_tokens"],
        cache_read_tokens=e["cache_read_tokens"],
        cache_write_tokens=e["cache_write_tokens"],
        cache_write_1h_tokens=e["cache_write_1h_tokens"],
        output_reasoning_tokens=e.get("reasoning_tokens", 0),
        input_audio_tokens=e.get("input_audio_tokens", 0),
        output_audio_tokens=e.get("output_audio_tokens", 0),
        web_searches=e.get("web_searches", 0),  # tool fees: genai-prices' own per-use prices
        storage_searches=e.get("file_searches", 0),
        code_executions=e.get("code_executions", 0),
    )


def load(name: str) -> Case:
    meta = json.loads((CORPUS / f"{name}.case.json").read_text())
    for fee in TOOL_FEE_FIELDS:  # a case without server-side tools used none
        meta["expected"].setdefault(fee, 0)
    provider, flavor = meta["flavor"].split(" ")
    return Case(
        name=name,
        provider=provider,
        flavor=flavor,
        request=meta["request"],
        status=meta["status"],
        content_type=meta["content_type"],
        body=(CORPUS / meta["body_file"]).read_bytes(),
        expected=meta["expected"],
    )


CASES: tuple[Case, ...] = tuple(
    load(path.name.removesuffix(".case.json")) for path in sorted(CORPUS.glob("*.case.json"))
)
