"""The gateway served as the CLI serves it: coalesced writes still deliver every byte, in order."""

from __future__ import annotations

import socket

from tests.gateway.conftest import Rig

from costtrail.gateway.serving import serving_stack


def _exchange(rig: Rig, request: bytes) -> bytes:
    host, port = rig.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(request)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    return received


def test_connection_close_flushes_the_response_before_the_fin(rig: Rig) -> None:
    answer = _exchange(rig, b"GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ") and b"connection: close" in head.lower()
    assert body == b'{"status":"ok"}'


def test_pipelined_requests_get_their_answers_in_order(rig: Rig) -> None:
    one = b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n"
    last = b"GET /nothing-here HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n"
    answer = _exchange(rig, one + one + last)
    assert answer.count(b'{"status":"ok"}') == 2
    assert answer.index(b"HTTP/1.1 404") > answer.rindex(b'{"status":"ok"}')


def test_serving_stack_names_loop_and_parser() -> None:
    assert serving_stack() == "uvloop + httptools"  # both are costtrail dependencies
