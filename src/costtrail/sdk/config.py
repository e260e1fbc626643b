"""SDK settings and the sink factory (also used by the gateway to ship its events)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, Field, SecretStr, model_validator

from costtrail.sdk.sink import DEFAULT_BATCH_SIZE, DEFAULT_FLUSH_INTERVAL, DEFAULT_MAX_QUEUE, QueuedSink
from costtrail.sdk.spool import DEFAULT_SPOOL_DIR, DEFAULT_SPOOL_MAX_BYTES


class SdkSettings(BaseModel):
    """Where events go and how the background writer behaves.

    Exactly one of ``ledger`` (a local ledger URL or path) and ``endpoint``
    (a collector URL) is used; with neither, the local ``costtrail.duckdb``.
    Environment: ``COSTTRAIL_LEDGER``, ``COSTTRAIL_ENDPOINT``, ``COSTTRAIL_API_KEY``,
    ``COSTTRAIL_ENVIRONMENT``, ``COSTTRAIL_SPOOL_DIR``.
    """

    ledger: str | None = None
    endpoint: str | None = None
    api_key: SecretStr | None = Field(default=None, repr=False)
    environment: str | None = None
    spool_dir: str = str(DEFAULT_SPOOL_DIR)
    spool_max_bytes: int = Field(default=DEFAULT_SPOOL_MAX_BYTES, ge=0)
    max_queue: int = Field(default=DEFAULT_MAX_QUEUE, ge=1)
    batch_size: int = Field(default=DEFAULT_BATCH_SIZE, ge=1)
    flush_interval: float = Field(default=DEFAULT_FLUSH_INTERVAL, gt=0)
    shutdown_timeout: float = Field(default=5.0, ge=0)
    request_timeout: float = Field(default=5.0, gt=0)
    max_attempts: int = Field(default=3, ge=1)
    replay_interval: float = Field(default=2.0, gt=0)
    price: bool | None = Field(
        default=None, description="price in the writer thread; default: yes for a ledger, no for a collector"
    )

    @model_validator(mode="after")
    def _one_destination(self) -> SdkSettings:
        if self.ledger and self.endpoint:
            raise ValueError(
                "configure either ledger= (a local file) or endpoint= (a collector), not both: "
                "a ledger file has one writer, so apps share it through the collector"
            )
        if self.endpoint and not self.endpoint.startswith(("http://", "https://")):
            raise ValueError(
                f"endpoint must be an http(s) URL such as http://127.0.0.1:8787, got {self.endpoint!r}"
            )
        return self

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> SdkSettings:
        env = os.environ if environ is None else environ
        data: dict[str, Any] = {}
        for name in ("ledger", "endpoint", "api_key", "environment", "spool_dir"):
            value = env.get(f"COSTTRAIL_{name.upper()}")
            if value:
                data[name] = value
        if overrides.get("ledger") or overrides.get("endpoint"):
            data.pop("ledger", None)
            data.pop("endpoint", None)
        data.update({k: v for k, v in overrides.items() if v is not None})
        return cls.model_validate(data)


def make_sink(settings: SdkSettings) -> QueuedSink:
    """A started :class:`QueuedSink` writing where ``settings`` say (a ledger file or a collector).

    >>> sink = make_sink(SdkSettings(ledger=":memory:"))
    >>> sink.submit({"kind": "tool", "tool_name": "search"})
    True
    >>> sink.close()
    """
    common: dict[str, Any] = {
        "max_queue": settings.max_queue,
        "batch_size": settings.batch_size,
        "flush_interval": settings.flush_interval,
        "shutdown_timeout": settings.shutdown_timeout,
    }
    endpoint = settings.endpoint
    if endpoint:
        from costtrail.sdk.remote import CollectorDestination

        key = settings.api_key.get_secret_value() if settings.api_key else None

        def remote() -> CollectorDestination:
            return CollectorDestination(
                endpoint,
                key,
                spool_dir=settings.spool_dir,
                batch_size=settings.batch_size,
                batch_interval=settings.flush_interval,
                timeout=settings.request_timeout,
                max_attempts=settings.max_attempts,
                replay_interval=settings.replay_interval,
                spool_max_bytes=settings.spool_max_bytes,
            )

        price = False if settings.price is None else settings.price
        return QueuedSink(remote, price=price, name="costtrail-exporter", **common)

    from costtrail.sdk.ledger_destination import LedgerDestination

    ledger = settings.ledger or "costtrail.duckdb"
    price = True if settings.price is None else settings.price
    return QueuedSink(lambda: LedgerDestination(ledger), price=price, name="costtrail-writer", **common)
