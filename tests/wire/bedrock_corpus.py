"""The Bedrock part of the differential corpus (corpus/bedrock/): real-shaped answers and what they say.

Bedrock has no gateway door (SigV4 signs the host), so its cases are not in
the gateway's differential test; instead each case's exact bytes are read two
ways, by the wire reading of the bytes as botocore decodes them and by the SDK
door through a real boto3 client the fake provider answers byte for byte, and
both must equal the case's expected reading. Each ``NAME.case.json`` names the
boto3 operation, the ``modelId``, the request, the answer's content type and
headers, the file with its bytes (JSON, or Bedrock's binary event stream) and
the expected reading; the expected cost is ``genai_prices.calc_price`` of it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import botocore.session
from botocore.eventstream import EventStream
from botocore.parsers import EventStreamJSONParser
from genai_prices import calc_price
from tests.wire.wire_corpus import expected_usage

CORPUS = Path(__file__).parent / "corpus" / "bedrock"
COMPARED = (
    "status",
    "error_type",
    "tool_calls",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "cache_write_1h_tokens",
)
OPERATIONS = {  # boto3 method -> (botocore operation, the streamed member)
    "converse": ("Converse", None),
    "converse_stream": ("ConverseStream", "stream"),
    "invoke_model": ("InvokeModel", None),
    "invoke_model_with_response_stream": ("InvokeModelWithResponseStream", "body"),
}
ROUTES = {
    "converse": "converse",
    "converse_stream": "converse-stream",
    "invoke_model": "invoke",
    "invoke_model_with_response_stream": "invoke-with-response-stream",
}


@dataclass(frozen=True)
class BedrockCase:
    name: str
    operation: str
    model_id: str
    request: dict[str, Any]
    content_type: str
    headers: dict[str, str]
    body: bytes
    expected: dict[str, Any]

    @property
    def streamed(self) -> bool:
        return OPERATIONS[self.operation][1] is not None

    def expected_cost(self) -> Decimal | None:
        e = self.expected
        if e["status"] != "success":
            return None
        return calc_price(expected_usage(e), self.model_id, provider_id="aws").total_price

    def events(self) -> Iterator[Any]:
        """The streamed answer's events as botocore decodes them (CRCs checked; exceptions raised)."""
        operation, member = OPERATIONS[self.operation]
        model = botocore.session.get_session().get_service_model("bedrock-runtime")
        shape = model.operation_model(operation).output_shape.members[str(member)]
        return iter(EventStream(_Raw(self.body), shape, EventStreamJSONParser(), operation))


class _Raw:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.data

    def close(self) -> None: ...


def load(name: str) -> BedrockCase:
    meta = json.loads((CORPUS / f"{name}.case.json").read_text())
    return BedrockCase(
        name=name,
        operation=meta["operation"],
        model_id=meta["model_id"],
        request=meta["request"],
        content_type=meta["content_type"],
        headers=meta["headers"],
        body=(CORPUS / meta["body_file"]).read_bytes(),
        expected=meta["expected"],
    )


CASES: tuple[BedrockCase, ...] = tuple(
    load(path.name.removesuffix(".case.json")) for path in sorted(CORPUS.glob("*.case.json"))
)
