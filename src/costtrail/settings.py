"""One typed settings object, built at start-up and passed in (never a global)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field

from costtrail.ledger.open import DEFAULT_LEDGER


class Settings(BaseModel):
    """Settings shared by the CLI, collector and gateway.

    Every field can come from an environment variable ``COSTTRAIL_<NAME>``
    (see :meth:`from_env`), a CLI option, or code.
    """

    ledger: str = DEFAULT_LEDGER
    rate_card: Path | None = None
    targets: Path | None = Field(default=None, description="cost-per-outcome targets (units YAML), dashboard")
    plans: Path | None = Field(
        default=None, description="price plans (YAML): invoices in the API and dashboard"
    )
    environment: str | None = None
    store_content: bool = Field(default=False, description="keep prompt/completion text (off by default)")

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides: object) -> Settings:
        import os

        env = os.environ if environ is None else environ
        data: dict[str, object] = {}
        for name in cls.model_fields:
            key = f"COSTTRAIL_{name.upper()}"
            if key in env:
                data[name] = env[key]
        data.update({k: v for k, v in overrides.items() if v is not None})
        return cls.model_validate(data)
