"""Reading a request body into records: size limits, gzip, JSON array or NDJSON.

Limits are checked while the body streams in (a huge body is refused before it
is held in memory) and again after decompression (a small gzip bomb is refused
too).
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.requests import Request

from costtrail.collector.errors import ApiError
from costtrail.schema.json_depth import JsonTooDeep, check_json_depth


@dataclass(frozen=True)
class Limits:
    """Request size limits (bytes on the wire, bytes after gunzip, records per batch)."""

    max_body_bytes: int = 16 * 1024 * 1024
    max_decoded_bytes: int = 64 * 1024 * 1024
    max_records: int = 50_000


async def read_request_body(request: Request, limits: Limits) -> bytes:
    """The request body, decompressed when ``Content-Encoding: gzip``; 413 when over a limit."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limits.max_body_bytes:
        raise _too_large(int(declared), limits.max_body_bytes, "request body")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limits.max_body_bytes:
            raise _too_large(size, limits.max_body_bytes, "request body")
        chunks.append(chunk)
    raw = b"".join(chunks)
    encoding = request.headers.get("content-encoding", "identity").lower().strip()
    if encoding in ("", "identity"):
        return raw
    if encoding not in ("gzip", "x-gzip", "deflate"):
        raise ApiError(
            415,
            "unsupported_encoding",
            f"Content-Encoding '{encoding}' is not supported: send the body plain or gzip-compressed",
            field="Content-Encoding",
        )
    return _inflate(raw, encoding, limits)


def _inflate(raw: bytes, encoding: str, limits: Limits) -> bytes:
    wbits = 16 + zlib.MAX_WBITS if encoding != "deflate" else zlib.MAX_WBITS
    inflater = zlib.decompressobj(wbits)
    try:
        out = inflater.decompress(raw, limits.max_decoded_bytes + 1)
    except zlib.error as exc:
        raise ApiError(
            400, "bad_encoding", f"the body is not valid {encoding} data: {exc}", field="Content-Encoding"
        ) from exc
    if len(out) > limits.max_decoded_bytes or inflater.unconsumed_tail:
        raise _too_large(len(out), limits.max_decoded_bytes, "decompressed body")
    if not inflater.eof:
        raise ApiError(
            400,
            "bad_encoding",
            f"the {encoding} body ends before its end marker (truncated in transit?): send it again whole",
            field="Content-Encoding",
        )
    return out


def _too_large(size: int, limit: int, what: str) -> ApiError:
    return ApiError(
        413,
        "payload_too_large",
        f"the {what} is {size:,} bytes or more, over the limit of {limit:,}: split it into smaller batches",
        field="(body)",
        extra={"limit_bytes": limit},
    )


def parse_records(body: bytes, content_type: str, limits: Limits) -> list[Any]:
    """A JSON array, one JSON object, or NDJSON (one object per line) as a list of records."""
    if not body.strip():
        raise ApiError(
            400, "empty_body", "the body is empty: send a JSON array or NDJSON of records", field="(body)"
        )
    refuse_deep_json(body)
    is_ndjson = "ndjson" in content_type or "jsonl" in content_type or "json-seq" in content_type
    records = _ndjson(body) if is_ndjson else _json_or_ndjson(body)
    if len(records) > limits.max_records:
        raise ApiError(
            413,
            "too_many_records",
            f"{len(records):,} records in one batch, over the limit of {limits.max_records:,}: "
            "send smaller batches",
            field="(body)",
            extra={"limit_records": limits.max_records},
        )
    return records


def refuse_deep_json(body: bytes) -> None:
    """422 before parsing when the body nests deeper than the ledger reads (a parser would recurse)."""
    try:
        check_json_depth(body)
    except JsonTooDeep as exc:
        raise ApiError(
            422, "json_too_deep", str(exc), field="(body)", extra={"limit_depth": exc.limit}
        ) from exc


# orjson reads an integer past 64 bits as a float where the standard library keeps it whole (the
# ledger then refuses it by name): a body with a number of 19 digits or more is read by the
# standard library instead. Anything orjson refuses (NaN, lone surrogates, UTF-16) is read by it
# too, so a body decodes to exactly what ``json.loads`` gives, and a bad one gets its error message.
_ALL_ZERO = bytes.maketrans(b"123456789", b"000000000")
_LONG_RUN = b"0" * 19
_NUMBER_AFTER = frozenset(b":[,")
_NUMBER_PREFIX = frozenset(b" \t\r\n-")


def _long_number(body: bytes) -> bool:
    """True when the body may hold an integer of 19+ digits (a run of digits that starts a value).

    Scanned with bytes methods (a regular expression costs much more on a large body); a run
    inside a string that happens to follow ``:``, ``[`` or ``,`` only sends the body the slow way.
    """
    digits = body.translate(_ALL_ZERO)
    at = digits.find(_LONG_RUN)
    while at != -1:
        before = at - 1
        while before >= 0 and digits[before] in _NUMBER_PREFIX:
            before -= 1
        if before < 0 or digits[before] in _NUMBER_AFTER:
            return True
        at = digits.find(_LONG_RUN, at + len(_LONG_RUN))
    return False


def fast_json_loads(body: bytes) -> Any:
    """``json.loads(body)``, faster on the bodies the collector usually gets (orjson), same result."""
    if not _long_number(body):
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError:
            pass
    return json.loads(body)


def _json_or_ndjson(body: bytes) -> list[Any]:
    try:
        data = fast_json_loads(body)
    except json.JSONDecodeError as exc:
        if body.lstrip().startswith(b"{") and b"\n" in body.strip():
            return _ndjson(body)
        raise ApiError(
            400,
            "malformed_json",
            f"the body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
            field="(body)",
        ) from exc
    except UnicodeDecodeError as exc:
        raise ApiError(400, "malformed_json", f"the body is not UTF-8 text: {exc}", field="(body)") from exc
    if isinstance(data, dict):
        return [data]
    if not isinstance(data, list):
        raise ApiError(
            422,
            "wrong_type",
            f"expected a JSON array of objects (or one object), got {type(data).__name__}",
            field="(body)",
        )
    return data


def _ndjson(body: bytes) -> list[Any]:
    records: list[Any] = []
    for lineno, line in enumerate(body.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            records.append(fast_json_loads(line))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            reason = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
            raise ApiError(
                400,
                "malformed_json",
                f"line {lineno} is not valid JSON ({reason}): send one JSON object per line",
                field=f"line {lineno}",
            ) from exc
    return records
