"""Sign-in: a read key gets in; a wrong, missing or ingest-only key gets the login page, never data."""

from __future__ import annotations

import httpx
import pytest
from tests.web.dashboard_harness import Served, login

from costtrail.web.sessions import COOKIE_NAME, SessionSigner

pytestmark = pytest.mark.browser


def test_read_key_signs_in_and_cookie_is_httponly_strict(page, served: Served) -> None:
    login(page, served, served.keys.read, "/")
    assert page.url == f"{served.base}/"
    assert page.locator("h1").inner_text() == "Overview"
    cookie = next(c for c in page.context.cookies() if c["name"] == COOKIE_NAME)
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Strict"
    assert cookie["secure"] is False  # plain http on loopback; https sets Secure (see docs/dashboard.md)
    assert served.keys.read not in cookie["value"]
    assert page.evaluate("document.cookie") == ""  # not readable from scripts


@pytest.mark.parametrize("which", ["wrong", "ingest"])
def test_wrong_or_ingest_key_gets_login_page(page, served: Served, which: str) -> None:
    key = served.keys.ingest if which == "ingest" else "ct_nothere_" + "x" * 40
    login(page, served, key, "/")
    assert "/login" in page.url or page.locator("#login-form").count() == 1
    assert page.locator("#login-error").inner_text() == "That key cannot read this dashboard."
    assert not [c for c in page.context.cookies() if c["name"] == COOKIE_NAME]
    assert page.locator("main.page").count() == 0


def test_missing_cookie_redirects_every_page_to_login(served: Served) -> None:
    with httpx.Client(base_url=served.base, follow_redirects=False) as client:
        for path in ("/", "/?download=workflows", "/workflows", "/runs", "/nope-not-a-page-but-safe"):
            response = client.get(path)
            if response.status_code == 404:
                continue
            assert response.status_code == 303, path
            assert response.headers["location"].startswith("/login?next=")
    with httpx.Client(
        base_url=served.base, follow_redirects=False, cookies={COOKIE_NAME: "a2V5.9999999999.forged"}
    ) as forged:
        assert forged.get("/").status_code == 303


def test_session_of_a_revoked_key_ends(served: Served) -> None:
    issued = served.ring.create(served.ring.list()[0].scope, label="temporary")
    with httpx.Client(base_url=served.base, follow_redirects=False) as client:
        signed_in = client.post("/login", data={"key": issued.token, "next": "/"})
        assert signed_in.status_code == 303
        assert client.get("/").status_code == 200
        served.ring.revoke(issued.key.key_id)
        assert client.get("/").status_code == 303


def test_login_refuses_open_redirects(served: Served) -> None:
    with httpx.Client(base_url=served.base, follow_redirects=False) as client:
        response = client.post("/login", data={"key": served.keys.read, "next": "//evil.example/x"})
        assert response.headers["location"] == "/"


def test_signer_rejects_tampering_and_expiry() -> None:
    signer = SessionSigner(b"s" * 32, lifetime=60)
    token = signer.issue("k1", now=1000)
    assert signer.verify(token, now=1030) == "k1"
    assert signer.verify(token, now=1061) is None
    ident, expires, sig = token.split(".")
    assert signer.verify(f"{ident}.{int(expires) + 999}.{sig}", now=1030) is None
    assert SessionSigner(b"t" * 32).verify(token, now=1030) is None
