"""The ``costtrail`` command: one thin wrapper per core function.

Each command group lives in its own module and registers itself here.
"""

from __future__ import annotations

import typer

from costtrail.cli import (
    billing_cmds,
    content_cmds,
    controls_cmds,
    demo_cmds,
    finance_cmds,
    gateway_cmds,
    keys_cmds,
    ledger_cmds,
    migrate_cmds,
    pricing_cmds,
    report_cmds,
    retention_cmds,
    serve_cmds,
)

app = typer.Typer(
    name="costtrail",
    help="costtrail: an AI cost ledger. Price every model call, roll it up to runs, features and customers.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
)


@app.callback()
def _root() -> None:
    """costtrail: an AI cost ledger."""


ledger_cmds.register(app)
migrate_cmds.register(app)
pricing_cmds.register(app)
serve_cmds.register(app)
keys_cmds.register(app)
gateway_cmds.register(app)
report_cmds.register(app)
demo_cmds.register(app)
controls_cmds.register(app)
finance_cmds.register(app)
billing_cmds.register(app)
content_cmds.register(app)
retention_cmds.register(app)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
