"""Security basics: keys stored as keyed digests and checked in constant time, auth failures rate-limited,
CORS closed, the dashboard cookie HttpOnly/SameSite (Secure over https)."""

from __future__ import annotations

import hashlib
import inspect
import json
import math
import stat
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from costtrail.auth import KeyRing, Scope
from costtrail.auth.keys import load_secret
from costtrail.auth.throttle import DEFAULT_BURST, DEFAULT_PER_SECOND, AuthThrottle
from costtrail.collector import create_app
from costtrail.collector.server import BackgroundServer
from costtrail.demo.fake_provider import FakeProvider
from costtrail.gateway import GatewayConfig, create_gateway_app
from costtrail.ledger.duckdb_store import DuckDBStore
from costtrail.sdk import SdkSettings, make_sink
from costtrail.settings import Settings


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, KeyRing, str]]:
    ledger = tmp_path / "ledger.duckdb"
    store = DuckDBStore(ledger)
    keys = KeyRing.for_ledger(str(ledger))
    token = keys.create(Scope.READ).token
    with BackgroundServer(create_app(Settings(ledger=str(ledger)), store, keys=keys)) as server:
        yield server.url, keys, token
    store.close()


def test_keys_file_holds_keyed_digests_only(served: tuple[str, KeyRing, str]) -> None:
    _, keys, token = served
    assert keys.path is not None
    text = keys.path.read_text()
    assert token not in text and token.split("_")[-1] not in text
    assert hashlib.sha256(token.encode()).hexdigest() not in text  # not a bare hash: keyed with the secret
    record = json.loads(text)["keys"][0]
    assert set(record) >= {"key_id", "scope", "digest"} and len(record["digest"]) == 64
    secret_file = keys.path.with_name(keys.path.name + ".secret")
    assert stat.S_IMODE(keys.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    assert load_secret(keys.path) == secret_file.read_bytes().strip()
    # The digest is HMAC-SHA256 under the secret; another secret never accepts the key.
    assert KeyRing(keys.path, secret=b"another secret").verify(token) is None


def test_key_check_is_constant_time() -> None:
    source = inspect.getsource(KeyRing.verify)
    assert "hmac.compare_digest" in source
    # An unknown key id is still hashed and compared against a dummy digest (no early return that
    # would tell a guesser which key ids exist).
    assert "self._dummy" in source


def _hammer(url: str, n: int, *, local: str = "127.0.0.1") -> list[httpx.Response]:
    transport = httpx.HTTPTransport(local_address=local)
    with httpx.Client(base_url=url, transport=transport, timeout=10) as c:
        return [c.get("/v1/report", headers={"Authorization": f"Bearer ct_guess{i}_x"}) for i in range(n)]


def test_auth_failures_are_rate_limited_per_client(served: tuple[str, KeyRing, str]) -> None:
    url, _, token = served
    answers = _hammer(url, 30)
    codes = [r.status_code for r in answers]
    assert codes[:20] == [401] * 20
    assert codes[-1] == 429, codes
    limited = answers[-1]
    assert int(limited.headers["Retry-After"]) >= 1
    assert limited.json()["error"]["code"] == "too_many_auth_failures"
    # Another client address is not affected; the throttled one waits for its wrong keys only: a
    # valid key still gets in (issue hardening-2, finding 9: the flood must not lock its owner out).
    other = httpx.Client(base_url=url, transport=httpx.HTTPTransport(local_address="127.0.0.2"), timeout=10)
    with other:
        assert other.get("/v1/report", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert httpx.get(url + "/v1/report", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert httpx.get(url + "/v1/report", headers={"Authorization": "Bearer ct_guess_x"}).status_code == 429


def _assert_throttled(guess: Callable[[int], int]) -> None:
    """Wrong keys are refused (401) until the bucket is empty, then 429.

    The bucket holds DEFAULT_BURST failures and refills at DEFAULT_PER_SECOND, so on a slow
    machine the guesses refill it as they go: count until the first 429 and bound the count by
    the time the guessing took.
    """
    started = time.monotonic()
    codes: list[int] = []
    while 429 not in codes and len(codes) < 200:
        codes.append(guess(len(codes)))
    refilled = (time.monotonic() - started) * DEFAULT_PER_SECOND
    assert codes[-1] == 429 and set(codes[:-1]) == {401}, codes
    assert DEFAULT_BURST <= len(codes) - 1 <= DEFAULT_BURST + math.ceil(refilled), (len(codes), refilled)


def test_dashboard_sign_in_failures_are_rate_limited(served: tuple[str, KeyRing, str]) -> None:
    url, _, _ = served
    _assert_throttled(lambda i: httpx.post(url + "/login", data={"key": f"ct_bad{i}_x"}).status_code)


def test_throttle_refills_and_forgets_old_clients() -> None:
    now = [0.0]
    throttle = AuthThrottle(burst=3, per_second=0.5, max_clients=2, clock=lambda: now[0])
    for _ in range(3):
        throttle.failed("a")
    assert throttle.retry_after("a") == 2
    now[0] = 2.0
    assert throttle.retry_after("a") == 0
    throttle.failed("b")
    throttle.failed("c")  # over max_clients: "a" is forgotten first
    assert throttle.retry_after("a") == 0


PREFLIGHT = {
    "Origin": "https://evil.example",
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "authorization,content-type",
}


def _assert_no_cors(response: httpx.Response) -> None:
    assert not any(h.lower().startswith("access-control-allow") for h in response.headers), response.headers


def test_cors_is_closed_on_the_collector(served: tuple[str, KeyRing, str]) -> None:
    url, _, token = served
    for path in ("/v1/events", "/v1/report", "/login", "/"):
        _assert_no_cors(httpx.options(url + path, headers=PREFLIGHT))
    read = httpx.get(
        url + "/v1/report", headers={"Origin": "https://evil.example", "Authorization": f"Bearer {token}"}
    )
    assert read.status_code == 200
    _assert_no_cors(read)


def test_cors_is_closed_on_the_gateway(tmp_path: Path) -> None:
    sink = make_sink(SdkSettings(ledger=str(tmp_path / "gw.duckdb")))
    with FakeProvider() as fake:
        config = GatewayConfig(upstreams={"openai": fake.openai_base_url})
        app = create_gateway_app(Settings(ledger=":memory:"), config, sink=sink)
        with BackgroundServer(app) as gateway:
            preflight = httpx.options(gateway.url + "/v1/chat/completions", headers=PREFLIGHT)
            _assert_no_cors(preflight)
            call = httpx.post(
                gateway.url + "/v1/chat/completions",
                json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]},
                headers={"Origin": "https://evil.example", "Authorization": "Bearer sk-test"},
            )
            assert call.status_code == 200
            _assert_no_cors(call)
    sink.close(5)


def _session_cookie(url: str, token: str, headers: dict[str, str] | None = None) -> str:
    response = httpx.post(url + "/login", data={"key": token, "next": "/"}, headers=headers or {})
    assert response.status_code == 303
    cookies = [v for k, v in response.headers.multi_items() if k.lower() == "set-cookie"]
    assert len(cookies) == 1
    return cookies[0]


def test_dashboard_cookie_flags(served: tuple[str, KeyRing, str]) -> None:
    url, _, token = served
    plain = _session_cookie(url, token).lower()
    assert "httponly" in plain and "samesite=strict" in plain and "path=/" in plain
    assert token not in plain  # the cookie names the key id, never the key
    # Behind a TLS proxy (X-Forwarded-Proto from a trusted address) the cookie is Secure.
    tls = _session_cookie(url, token, {"X-Forwarded-Proto": "https"}).lower()
    assert "secure" in tls.split("; ") and "httponly" in tls


def test_gateway_key_failures_are_rate_limited(tmp_path: Path) -> None:
    keys = KeyRing(tmp_path / "keys.json", secret=b"k" * 32)
    good = keys.create(Scope.INGEST).token
    sink = make_sink(SdkSettings(ledger=str(tmp_path / "gw.duckdb")))
    with FakeProvider() as fake:
        config = GatewayConfig(upstreams={"openai": fake.openai_base_url}, require_key=True)
        app = create_gateway_app(Settings(ledger=":memory:"), config, sink=sink, keys=keys)
        with BackgroundServer(app) as gateway:
            body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}

            def call(key: str, local: str = "127.0.0.1") -> httpx.Response:
                transport = httpx.HTTPTransport(local_address=local)
                with httpx.Client(transport=transport, timeout=10) as c:
                    headers = {"Authorization": "Bearer sk-test", "X-Costtrail-Key": key}
                    return c.post(gateway.url + "/v1/chat/completions", json=body, headers=headers)

            _assert_throttled(lambda i: call(f"ct_guess{i}_x").status_code)
            assert call(good, local="127.0.0.2").status_code == 200
    sink.close(5)
