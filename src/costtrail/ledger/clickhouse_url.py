"""Parsing ClickHouse ledger URLs into connection arguments.

``clickhouse://user:pass@host:8123/db`` (``clickhouses://`` for TLS) names a
server; ``chdb://<dir>`` the in-process engine storing its data in ``dir``
(``chdb://:memory:`` keeps it in memory). Query options: ``ttl_days=N``
(retention for events and outcomes), ``cluster=name`` (Replicated +
Distributed tables over that cluster), ``database=name`` (for ``chdb://``;
default ``costtrail``), ``config=/path/clickhouse.xml`` (for ``chdb://``: a
ClickHouse config file for the in-process engine, e.g. one defining a cluster
in ``remote_servers``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit

from costtrail.ledger.store import LedgerError

DEFAULT_DATABASE = "costtrail"
_OPTIONS = {"ttl_days", "cluster", "database", "secure", "config"}


@dataclass(frozen=True)
class ClickHouseTarget:
    """Where a ClickHouse ledger lives and how its tables are shaped."""

    engine: str  # "server" or "chdb"
    database: str = DEFAULT_DATABASE
    host: str = "localhost"
    port: int = 8123
    username: str = "default"
    password: str = ""
    secure: bool = False
    path: str = ":memory:"
    cluster: str | None = None
    ttl_days: int | None = None
    config: str | None = None

    @property
    def display_url(self) -> str:
        """The URL without its password, safe to print and log."""
        if self.engine == "chdb":
            return f"chdb://{self.path}?database={self.database}"
        scheme = "clickhouses" if self.secure else "clickhouse"
        user = f"{self.username}:***@" if self.password else f"{self.username}@"
        return f"{scheme}://{user}{self.host}:{self.port}/{self.database}"


def parse_clickhouse_url(url: str) -> ClickHouseTarget:
    """Parse a ledger URL; a bad option raises :class:`LedgerError` naming it and the accepted ones."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme not in ("clickhouse", "clickhouses", "chdb"):
        raise LedgerError(f"not a ClickHouse ledger URL: {url!r} (use clickhouse://user:pass@host:8123/db)")
    location, _, query = rest.partition("?")
    params = {k: v[-1] for k, v in parse_qs(query, keep_blank_values=True).items()}
    unknown = set(params) - _OPTIONS
    if unknown:
        raise LedgerError(
            f"unknown ledger URL option(s) {', '.join(sorted(unknown))}; "
            f"accepted: {', '.join(sorted(_OPTIONS))}"
        )
    ttl_days = _ttl(params.get("ttl_days"))
    cluster = params.get("cluster") or None
    config = params.get("config") or None
    if config and scheme != "chdb":
        raise LedgerError("the config option is for chdb:// ledgers; a server reads its own config files")
    if config and not os.path.isfile(config):
        raise LedgerError(f"config={config!r}: no such file (a ClickHouse XML or YAML config)")
    if scheme == "chdb":
        path = unquote(location) or ":memory:"
        path = os.path.abspath(path) if path not in (":memory:", "memory") else ":memory:"
        return ClickHouseTarget(
            engine="chdb",
            database=params.get("database") or DEFAULT_DATABASE,
            path=path,
            cluster=cluster,
            ttl_days=ttl_days,
            config=os.path.abspath(config) if config else None,
        )
    parts = urlsplit(f"{scheme}://{location}")
    secure = scheme == "clickhouses" or params.get("secure", "").lower() in ("1", "true", "yes")
    try:
        port = parts.port or (8443 if secure else 8123)
    except ValueError as exc:
        raise LedgerError(f"bad port in ledger URL {url!r}: {exc}") from exc
    database = unquote(parts.path.strip("/")) or params.get("database") or DEFAULT_DATABASE
    return ClickHouseTarget(
        engine="server",
        database=database,
        host=parts.hostname or "localhost",
        port=port,
        username=unquote(parts.username) if parts.username else "default",
        password=unquote(parts.password) if parts.password else "",
        secure=secure,
        cluster=cluster,
        ttl_days=ttl_days,
    )


def _ttl(value: str | None) -> int | None:
    if value is None or value == "":
        return None
    try:
        days = int(value)
    except ValueError:
        raise LedgerError(f"ttl_days must be a whole number of days, got {value!r}") from None
    if days <= 0:
        raise LedgerError(f"ttl_days must be positive, got {days} (leave it out to keep rows forever)")
    return days
