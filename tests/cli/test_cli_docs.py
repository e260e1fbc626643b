"""Docs stay true: every CLI command is documented in docs/cli.md and its --help shows an example."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from typer._click.core import Context
from typer.testing import CliRunner

from costtrail.cli.main import COMMANDS as LISTED
from costtrail.cli.main import app, load_command

CLI_DOC = Path(__file__).resolve().parents[2] / "docs" / "cli.md"


def command_paths(command: Any, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    if not hasattr(command, "list_commands"):
        yield prefix
        return
    ctx = Context(command)
    for name in command.list_commands(ctx):
        yield from command_paths(command.get_command(ctx, name), (*prefix, name))


COMMANDS = sorted(command_paths(typer.main.get_command(app)))


def test_the_core_commands_exist() -> None:
    assert {("report",), ("runs",), ("demo",), ("ingest",), ("prices",), ("reprice",)} <= set(COMMANDS)


@pytest.mark.parametrize("path", COMMANDS, ids=" ".join)
def test_command_is_in_docs_cli_md(path: tuple[str, ...]) -> None:
    text = CLI_DOC.read_text()
    assert f"costtrail {' '.join(path)}" in text, f"document `costtrail {' '.join(path)}` in docs/cli.md"


@pytest.mark.parametrize("path", COMMANDS, ids=" ".join)
def test_help_shows_an_example(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "Example" in result.stdout, f"`costtrail {' '.join(path)} --help` needs an example"


@pytest.mark.parametrize("name", sorted(LISTED))
def test_the_command_list_shows_each_commands_own_help(name: str) -> None:
    """``costtrail --help`` lists commands without importing them: its line must be the command's."""
    command = load_command(name)
    first_paragraph = " ".join((command.help or "").split("\n\n")[0].split())
    assert LISTED[name][1] == first_paragraph
