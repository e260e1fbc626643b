"""Where a read command reads: the local ledger (``--ledger``) or a running collector (``--endpoint``).

A command asks its question once through a :class:`costtrail.reader.Reader`; the answer is the
same from either place, so the command prints the same.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

import typer

from costtrail.reader import LocalReader, Reader, ReadFailed

ENDPOINT = typer.Option(
    None,
    "--endpoint",
    envvar="COSTTRAIL_ENDPOINT",
    help="read through a running collector (http://host:port) instead of --ledger",
)
API_KEY = typer.Option(None, "--api-key", envvar="COSTTRAIL_API_KEY", help="a read key for --endpoint")


def fail(message: str, code: int = 2) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


@contextmanager
def read_from(ledger: str, endpoint: str | None = None, api_key: str | None = None) -> Iterator[Reader]:
    """The reader for ``--endpoint`` when given, else for the ``--ledger`` (read-only)."""
    reader: Reader
    try:
        if endpoint:
            from costtrail.reader.remote import RemoteReader  # httpx only when reading remotely

            reader = RemoteReader(endpoint, api_key)
        else:
            path = ledger.removeprefix("duckdb://")
            if "://" not in path and path != ":memory:" and not Path(path).exists():
                fail(
                    f"no ledger at {path}: run `costtrail demo` or `costtrail ingest FILE` first, "
                    "pass --ledger, or read through a collector with --endpoint"
                )
            reader = LocalReader(ledger)
    except ReadFailed as exc:
        fail(str(exc))
    try:
        yield reader
    finally:
        reader.close()


def ask(reader: Reader, question: str, *, not_found: int = 2, **args: Any) -> Any:
    """``reader.ask``, a failure printed as one line (exit 2, or ``not_found`` when nothing matched)."""
    try:
        return reader.ask(question, **args)
    except ReadFailed as exc:
        fail(str(exc), not_found if exc.kind == "not_found" else 2)
