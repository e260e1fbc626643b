"""Property: no spelling of a path reaches the provider without the key check and the recording.

Hypothesis spells paths the way an attacker would (percent-encoding of any character in either
hex case, dot segments plain or encoded, doubled slashes, letter case, encoded ``?``/``#``/``\\``,
``;`` parameters, double encoding, a trailing slash) around the priced routes, an allowed
prefix and paths outside the API root, and sends each byte for byte to the gateway on
127.0.0.1 in front of the fake provider. For every spelling:

- without ``X-Costtrail-Key`` the answer is 401 and the provider sees nothing;
- with a key, whatever the provider sees is under ``/v1/``, free of dot segments and ``%``, and
  is either a priced route (POST), in which case exactly one event is recorded, or under the
  allowed prefix; anything else is refused by the gateway.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from tests.gateway.conftest import MakeRig, Rig
from tests.waiting import wait_until

from costtrail.auth import KeyRing, Scope
from costtrail.auth.throttle import AuthThrottle
from costtrail.demo.fake_provider import FakeProvider
from costtrail.gateway.routes import ROUTES, PathRefused, resolve

ALLOWED = "/v1/models"
AZURE = [
    "/openai/deployments/prod-chat/chat/completions",
    "/openai/deployments/prod-chat/completions",
    "/openai/deployments/embedder/embeddings",
    "/openai/deployments/prod-chat/files",
    "/openai/responses",
]
GEMINI = [
    "/v1beta/models/gemini-2.5-flash:generateContent",
    "/v1beta/models/gemini-2.5-flash:streamGenerateContent",
    "/v1/models/gemini-2.5-pro:generateContent",
    "/v1beta/models/gemini-2.5-flash:countTokens",
]
BASES = [
    *ROUTES,
    *AZURE,
    *GEMINI,
    ALLOWED,
    "/v1/models/gpt-4o",
    "/v1/files",
    "/admin",
    "/v2/chat/completions",
    "/",
]
BODY = json.dumps(
    {"model": "gpt-4o-mini", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}
).encode()


def _encode(char: str, upper: bool) -> str:
    text = f"%{ord(char):02X}"
    return text if upper else text.lower()


@st.composite
def spellings(draw: st.DrawFn) -> str:
    base = draw(st.sampled_from(BASES))
    segments = base.strip("/").split("/") if base != "/" else []
    out: list[str] = []
    for segment in segments:
        for _ in range(draw(st.sampled_from([0, 0, 0, 0, 0, 1, 2]))):  # dot segments, plain or encoded
            dots = draw(st.sampled_from([".", "..", "%2e", "%2E%2e", ".%2E", "%2e."]))
            out.append(dots)
        if draw(st.booleans()):
            segment = "".join(c.upper() if draw(st.booleans()) else c for c in segment)
        chars = [_encode(c, draw(st.booleans())) if draw(st.integers(0, 4)) == 0 else c for c in segment]
        out.append("".join(chars))
    joiner = draw(st.sampled_from(["/", "/", "/", "/", "//", "/%2f", "/%2F", "%5c"]))
    path = "/" + joiner.join(out) if joiner != "/" else "/" + "/".join(out)
    tail = draw(
        st.sampled_from(["", "", "/", "//", "%3F", "%3f", "%23", ";x=1", "%253F", "%252e%252e", "?a=1"])
    )
    return path + tail


@pytest.fixture
def door(make_rig: MakeRig, fake: FakeProvider, tmp_path: Path) -> Iterator[tuple[Rig, str]]:
    keys = KeyRing(tmp_path / "keys.json", secret=b"p" * 32)
    upstreams = {
        "openai": fake.openai_base_url,
        "anthropic": fake.base_url,
        "azure": fake.base_url,
        "google": fake.base_url,
    }
    rig = make_rig(keys=keys, allowed_paths=(ALLOWED,), upstreams=upstreams)
    rig.app.throttle = AuthThrottle(burst=1_000_000)  # the keyless spellings must keep getting 401
    yield rig, keys.create(Scope.INGEST).token


def _send(rig: Rig, method: str, path: str, key: str | None) -> int:
    parts = urlsplit(rig.url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
    headers = {"content-type": "application/json", "authorization": "Bearer sk-test"}
    if key is not None:
        headers["x-costtrail-key"] = key
    try:
        conn.request(method, path, body=BODY if method == "POST" else None, headers=headers)
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def _priced(target: str) -> bool:
    try:
        return resolve("POST", target.encode()).route is not None
    except PathRefused:
        return False


def _recorded(rig: Rig, expected: int) -> int:
    wait_until(lambda: rig.sink.stats()["received"] >= expected, 10, interval=0.002)
    return int(rig.sink.stats()["received"])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=spellings(), method=st.sampled_from(["POST", "GET"]))
def test_no_spelling_reaches_the_provider_unchecked_or_unrecorded(
    door: tuple[Rig, str], path: str, method: str
) -> None:
    rig, token = door
    lines = rig.fake.requests.lines
    lines.clear()
    assert _send(rig, method, path, key=None) == 401
    assert list(lines) == [], path

    before = int(rig.sink.stats()["received"])
    status = _send(rig, method, path, key=token)
    seen = list(lines)
    assert len(seen) <= 1, seen
    event(f"refused {status}" if not seen else "forwarded")
    if not seen:
        assert status in (400, 404), (path, status)
        assert _recorded(rig, before) == before
        return
    [(seen_method, seen_path)] = seen
    target = seen_path.partition("?")[0]
    assert seen_method == method and target.startswith(("/v1/", "/openai/", "/v1beta/models/")), (
        path,
        seen,
    )
    assert "%" not in target and "\\" not in target and ";" not in target, (path, seen)
    assert not {".", ".."} & set(target.split("/")), (path, seen)
    if method == "POST" and _priced(target):
        assert _recorded(rig, before + 1) == before + 1, path  # priced and recorded, once
    else:
        assert target == ALLOWED or target.startswith(ALLOWED + "/"), (path, seen)
        assert _recorded(rig, before) == before
