"""``costtrail keys``: create, list and revoke API keys for the collector and gateway."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import typer

from costtrail.auth import KeyRing, Scope
from costtrail.cli.output import Format, print_rows, to_json

keys_app = typer.Typer(help="API keys for the collector and gateway (stored hashed beside the ledger).")

LEDGER = typer.Option("costtrail.duckdb", "--ledger", envvar="COSTTRAIL_LEDGER", help="ledger URL or path")
KEYS = typer.Option(None, "--keys", help="keys file (default: <ledger>.keys.json)")


def register(app: typer.Typer) -> None:
    app.add_typer(keys_app, name="keys")


def _ring(ledger: str, keys_file: Path | None) -> KeyRing:
    return KeyRing.for_ledger(ledger, keys_file=keys_file)


def _parse_defaults(values: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in values:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise typer.BadParameter(f"'{item}' is not NAME=VALUE", param_hint="--default")
        out[name.strip()] = value.strip()
    return out


_LIFETIME = re.compile(r"(\d{1,6})([hdw])")
_UNITS = {"h": "hours", "d": "days", "w": "weeks"}


def _expiry(text: str) -> datetime:
    """``--expires``: a lifetime from now (``30d``) or an instant (ISO date/time, UTC unless it says)."""
    now = datetime.now(UTC)
    match = _LIFETIME.fullmatch(text.strip().lower())
    if match:
        at = now + timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    else:
        try:
            at = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
        except ValueError:
            raise typer.BadParameter(
                f"'{text}' is neither a lifetime (30d, 12h, 2w) nor a date (2027-01-31)",
                param_hint="--expires",
            ) from None
        at = at.replace(tzinfo=UTC) if at.tzinfo is None else at
    if at <= now:
        raise typer.BadParameter(f"'{text}' is not in the future", param_hint="--expires")
    return at


@keys_app.command("create")
def create(
    scope: Scope = typer.Option(..., "--scope", help="ingest (write), read, or admin (both)"),
    tenant: str | None = typer.Option(None, "--tenant", help="bind the key to one tenant"),
    label: str = typer.Option("", "--label", help="a note to recognise the key by"),
    default: list[str] = typer.Option(
        [], "--default", help="attribution default for the gateway, e.g. --default environment=prod"
    ),
    expires: str | None = typer.Option(
        None, "--expires", help="lifetime (30d, 12h, 2w) or a UTC date/time (2027-01-31); default: never"
    ),
    ledger: str = LEDGER,
    keys_file: Path | None = KEYS,
    fmt: Format = typer.Option(Format.table, "--format", help="table or json"),
) -> None:
    """Create an API key and print it once (only its HMAC digest is stored).

    Example: costtrail keys create --scope ingest --tenant acme --ledger costtrail.duckdb
    Expiry:  costtrail keys create --scope read --expires 30d
    """
    issued = _ring(ledger, keys_file).create(
        scope,
        tenant=tenant,
        label=label,
        defaults=_parse_defaults(default),
        expires_at=_expiry(expires) if expires else None,
    )
    if fmt is Format.json:
        print(to_json({"key": issued.token, **issued.key.as_dict()}))
        return
    typer.echo(issued.token)
    typer.echo(
        f"key id {issued.key.key_id}, scope {issued.key.scope}"
        + (f", tenant {issued.key.tenant}" if issued.key.tenant else "")
        + (f", expires {issued.key.expires_at}" if issued.key.expires_at else "")
        + ". Store it now: it is not shown again.",
        err=True,
    )


@keys_app.command("list")
def list_keys(
    ledger: str = LEDGER,
    keys_file: Path | None = KEYS,
    fmt: Format = typer.Option(Format.table, "--format", help="table, json or csv"),
) -> None:
    """List key ids, scopes and tenants (never the keys themselves).

    Example: costtrail keys list --format json
    """
    rows = [k.as_dict() for k in _ring(ledger, keys_file).list()]
    for r in rows:
        r["defaults"] = ",".join(f"{k}={v}" for k, v in r["defaults"].items())
        r.pop("demo", None)
    print_rows(
        rows,
        fmt,
        title="API keys",
        columns=["key_id", "scope", "tenant", "label", "created_at", "expires_at", "defaults"],
    )


@keys_app.command("revoke")
def revoke(
    key_id: str = typer.Argument(..., help="the key id shown by costtrail keys list"),
    ledger: str = LEDGER,
    keys_file: Path | None = KEYS,
) -> None:
    """Revoke a key; the collector refuses it from the next request on.

    Example: costtrail keys revoke 3f9a0c1b2d4e
    """
    if not _ring(ledger, keys_file).revoke(key_id):
        typer.echo(f"no key with id {key_id}", err=True)
        raise typer.Exit(code=1)
    typer.echo(f"revoked {key_id}")
