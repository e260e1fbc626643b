"""A ClickHouse HTTP interface on 127.0.0.1 whose engine is the real one (chdb), recording every request.

It does what a ClickHouse server does with an HTTP request: the ``query`` URL
parameter plus the body is the SQL (or, for ``INSERT ... FORMAT x``, the body
is the data, possibly compressed per Content-Encoding), other parameters are
settings, ``database`` selects the database, credentials come as Basic auth
or X-ClickHouse-User/Key. Answers carry the X-ClickHouse-* headers the
client reads. Tests then assert on the exact requests clickhouse-connect sent.
"""

from __future__ import annotations

import base64
import re
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

_INSERT_DATA = re.compile(
    r"^\s*INSERT\s+INTO\s+(?P<table>[\w.`]+)\s*(?:\((?P<cols>[^)]*)\))?\s*FORMAT\s+(?P<fmt>\w+)\s*$",
    re.IGNORECASE | re.DOTALL,
)
_FORMAT = re.compile(r"\bFORMAT\s+(\w+)\s*;?\s*$", re.IGNORECASE)
_NOT_SETTINGS = {
    "query",
    "database",
    "default_format",
    "session_id",
    "session_timeout",
    "query_id",
    "compress",
    "decompress",
    "user",
    "password",
    "client_protocol_version",
    "enable_http_compression",
    "wait_end_of_query",
    "send_progress_in_http_headers",
    "http_headers_progress_interval_ms",
    "cancel_http_readonly_queries_on_client_close",
}


@dataclass
class RecordedRequest:
    method: str
    path: str
    params: dict[str, str]
    headers: dict[str, str]
    body: bytes  # as sent (still compressed when Content-Encoding says so)

    @property
    def sql(self) -> str:
        return self.params.get("query", "")


class ClickHouseHTTPEmulator:
    """Serve ClickHouse's HTTP protocol from a chdb-backed clickhouse-connect client."""

    def __init__(self, engine: Any, *, user: str, password: str) -> None:
        self.engine = engine
        self.user, self.password = user, password
        self.requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> ClickHouseHTTPEmulator:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def _authorized(self, headers: dict[str, str], params: dict[str, str]) -> bool:
        user = headers.get("x-clickhouse-user") or params.get("user")
        key = headers.get("x-clickhouse-key") or params.get("password")
        auth = headers.get("authorization", "")
        if auth.startswith("Basic "):
            user, _, key = base64.b64decode(auth[6:]).decode().partition(":")
        return (user, key) == (self.user, self.password)

    def run(self, req: RecordedRequest) -> tuple[int, bytes, dict[str, str]]:
        params = req.params
        settings = {k: v for k, v in params.items() if k not in _NOT_SETTINGS and not k.startswith("param_")}
        with self._lock:
            self.engine.database = params.get("database") or "default"
            insert = _INSERT_DATA.match(req.sql)
            if insert and req.body:
                cols = [c.strip(" `") for c in insert["cols"].split(",")] if insert["cols"] else None
                self.engine.raw_insert(
                    insert["table"],
                    cols,
                    req.body,
                    settings=settings,
                    fmt=insert["fmt"],
                    compression=req.headers.get("content-encoding"),
                )
                return 200, b"", {"X-ClickHouse-Summary": '{"written_rows":"0"}'}
            body = req.body.decode()
            if req.headers.get("content-encoding"):
                raise ValueError("compressed query bodies are not expected")
            sql = f"{req.sql}\n{body}" if req.sql and body else (req.sql or body)
            fmt_match = _FORMAT.search(sql)
            # The engine answers format-less statements in TabSeparated, as the server's default.
            fmt = fmt_match.group(1) if fmt_match else "TabSeparated"
            data = self.engine.raw_query(sql, settings=settings)
            return 200, data, {"X-ClickHouse-Format": fmt, "X-ClickHouse-Summary": "{}"}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        emulator = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    out = bytearray()
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                        if size == 0:
                            self.rfile.readline()
                            return bytes(out)
                        out += self.rfile.read(size)
                        self.rfile.readline()
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def _serve(self) -> None:
                url = urlsplit(self.path)
                params = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
                headers = {k.lower(): v for k, v in self.headers.items()}
                req = RecordedRequest(self.command, url.path, params, headers, self._body())
                emulator.requests.append(req)
                if url.path == "/ping":
                    self._reply(200, b"Ok.\n", {})
                elif not emulator._authorized(headers, params):
                    msg = b"Code: 516. DB::Exception: Authentication failed. (AUTHENTICATION_FAILED)\n"
                    self._reply(403, msg, {"X-ClickHouse-Exception-Code": "516"})
                else:
                    try:
                        status, data, extra = emulator.run(req)
                    except Exception as exc:
                        code = re.search(r"Code: (\d+)", str(exc))
                        self._reply(
                            500,
                            str(exc).encode(),
                            {"X-ClickHouse-Exception-Code": code.group(1) if code else "1000"},
                        )
                        return
                    self._reply(status, data, extra)

            def _reply(self, status: int, data: bytes, extra: dict[str, str]) -> None:
                self.send_response(status)
                self.send_header("Content-Length", str(len(data)))
                self.send_header("X-ClickHouse-Timezone", "UTC")
                self.send_header("X-ClickHouse-Server-Display-Name", "chdb-emulator")
                self.send_header("X-ClickHouse-Query-Id", "q")
                for k, v in extra.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            do_GET = _serve
            do_POST = _serve

        return Handler
