"""The ``costtrail`` command: one thin wrapper per core function.

Each command group lives in its own module with a ``register(app)``; this module
only knows, per command, which module registers it and its one-line help. A
command's module (and so FastAPI, DuckDB, the pricing data, ...) is imported when
that command runs, never for ``costtrail --help`` or another command.
"""

from __future__ import annotations

from collections.abc import Sequence
from difflib import get_close_matches
from importlib import import_module

import typer
from typer._click.core import Command, Context, Parameter
from typer._click.formatting import HelpFormatter
from typer.core import TyperCommand, TyperGroup, TyperOption

# name: (module that registers it, the first paragraph of its help). The order is the --help order.
COMMANDS: dict[str, tuple[str, str]] = {
    "ingest": (
        "ledger_cmds",
        "Load events from a file into the ledger, pricing each one; re-loading a file stores nothing twice.",
    ),
    "migrate": (
        "migrate_cmds",
        "Copy events, outcomes and cost lines from one ledger to another, day by day, then verify.",
    ),
    "ledger-ddl": (
        "migrate_cmds",
        "Print the ClickHouse cluster schema: Replicated tables plus Distributed tables sharded by tenant.",
    ),
    "prices": (
        "pricing_cmds",
        "Show the per-unit prices in force for a model (genai-prices data plus your rate card).",
    ),
    "reprice": (
        "pricing_cmds",
        "Re-price stored events with today's price data and rate card, and say what changed.",
    ),
    "serve": (
        "serve_cmds",
        "Run the collector: ingest events, outcomes, cost lines and OTLP traces; serve the read API.",
    ),
    "gateway": (
        "gateway_cmds",
        "Run the gateway: point an OpenAI or Anthropic SDK's base_url at it, and every call is priced.",
    ),
    "report": (
        "report_cmds",
        "Roll costs up by workflow, agent, model, tool, step, payload band, feature, customer, tenant, "
        "environment or day, with the unpriced line under every report.",
    ),
    "runs": ("report_cmds", "The most expensive runs, or one run's steps in order with their costs."),
    "demo": (
        "demo_cmds",
        "Simulate 30 days of an AI help desk (support replies, document extraction, onboarding) through "
        "the real SDK and the official openai/anthropic clients against a local fake provider, then print "
        "cost by workflow, cost per successful completion, top customers, model mix and the unpriced line.",
    ),
    "budgets": (
        "controls_cmds",
        "Each budget with its spend, remaining, burn rate and projected exhaustion time.",
    ),
    "alerts": (
        "controls_cmds",
        "Alerts raised (budgets, cost spikes, retry loops, pacing, tenants, model policy), newest first.",
    ),
    "guard": (
        "controls_cmds",
        "Run every guardrail over the ledger now and send new alerts (log, webhooks, alerts table).",
    ),
    "whatif": (
        "controls_cmds",
        "Re-price a workflow's real traffic on another model: cost per run, per success and per month.",
    ),
    "cheapest": (
        "controls_cmds",
        "The cheapest model that clears the eval bar, priced on real production traffic; monthly saving.",
    ),
    "audit": (
        "controls_cmds",
        "Compare sampled production calls with the eval set: which dimension drifted.",
    ),
    "drift": (
        "controls_cmds",
        "Cost and tokens per call and per run over time, with change-points and the week-over-week trend.",
    ),
    "forecast": (
        "controls_cmds",
        "Month-end spend forecast (month to date + recent daily run rate), in total and per budget scope.",
    ),
    "evals": ("controls_cmds", "Eval results: import them for costtrail cheapest and costtrail audit."),
    "import": ("finance_cmds", "Import a bill as cost lines; re-importing the same file stores nothing new."),
    "allocate": (
        "finance_cmds",
        "Split shared cost pools by the rules; re-running replaces the period's allocations.",
    ),
    "reconcile": (
        "finance_cmds",
        "Compare provider bills with telemetry per day x provider x model x account.",
    ),
    "unit-cost": (
        "finance_cmds",
        "Cost per outcome (direct + allocated), with the trailing week and a drift flag.",
    ),
    "cost-to-serve": (
        "finance_cmds",
        "Cost-to-serve (direct + allocated) and gross margin per customer, tenant, plan tier, ...",
    ),
    "margins": (
        "finance_cmds",
        "Margin-dilutive customers: margin below the threshold, most dollars lost first.",
    ),
    "invoice": ("billing_cmds", "Invoices from price plans: preview a period, list a line's events."),
    "meters": ("meter_cmds", "Meter exports to billing systems (Stripe, OpenMeter, Lago)."),
    "credits": ("credit_cmds", "Prepaid credit per customer, enforced by the gateway."),
    "export": ("finance_cmds", "Export the ledger in standard formats."),
    "revenue": ("finance_cmds", "Revenue per customer or tenant (for margin)."),
    "keys": ("keys_cmds", "API keys for the collector and gateway (stored hashed beside the ledger)."),
    "purge-content": (
        "content_cmds",
        "Delete the prompt and completion text kept by content storage (the content table).",
    ),
    "prune-events": (
        "retention_cmds",
        "Delete old events from a DuckDB ledger; outcomes and cost lines (invoices) stay.",
    ),
}


def load_command(name: str) -> Command:
    """The real command ``name``, built by importing the module that registers it."""
    module = import_module(f"costtrail.cli.{COMMANDS[name][0]}")
    holder = typer.Typer(rich_markup_mode="rich")
    module.register(holder)
    command = typer.main.get_group(holder).commands[name]
    command.name = name
    _untyped_flags(command)
    return command


def _untype_flags(params: Sequence[Parameter | None]) -> None:
    """Help shows no ``<bool>`` type after a flag (a flag takes no value) and, for a repeatable
    option, its value's type and "(repeatable)" instead of Typer's ``<list[str]>``."""
    for param in params:
        if not isinstance(param, TyperOption) or param.metavar is not None:
            continue
        if param.is_flag:
            param.metavar = ""
        elif param.multiple:
            element = param.bare_type().removeprefix("list[").removesuffix("]")
            param.metavar = f"<{element}> (repeatable)"


def _untyped_flags(command: Command) -> None:
    _untype_flags([*command.params, command.get_help_option(Context(command))])
    for sub in getattr(command, "commands", {}).values():
        _untyped_flags(sub)


class LazyGroup(TyperGroup):
    """The root group: lists commands from :data:`COMMANDS`, imports one only to run it or show its help."""

    _listing = False

    def list_commands(self, ctx: Context) -> list[str]:
        return list(COMMANDS)

    def get_params(self, ctx: Context) -> list[Parameter]:
        params = super().get_params(ctx)
        _untype_flags(params)
        return params

    def get_command(self, ctx: Context, cmd_name: str) -> Command | None:
        if cmd_name not in COMMANDS:
            return None
        if self._listing:
            return TyperCommand(cmd_name, help=COMMANDS[cmd_name][1])
        return load_command(cmd_name)

    def format_help(self, ctx: Context, formatter: HelpFormatter) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False

    def resolve_command(self, ctx: Context, args: list[str]) -> tuple[str | None, Command | None, list[str]]:
        if args and args[0] not in COMMANDS and not args[0].startswith("-"):
            close = get_close_matches(args[0], list(COMMANDS))
            hint = f" Did you mean {', '.join(close)}?" if close else ""
            ctx.fail(f"No such command {args[0]!r}.{hint}")
        return super().resolve_command(ctx, args)


app = typer.Typer(
    name="costtrail",
    cls=LazyGroup,
    help="costtrail: an AI cost ledger. Price every model call, roll it up to runs, features and customers.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
)


def _print_version(value: bool) -> None:
    if value:
        import costtrail

        typer.echo(f"costtrail {costtrail.__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    show_version: bool = typer.Option(
        False, "--version", is_eager=True, callback=_print_version, help="print the version and exit"
    ),
) -> None:
    """costtrail: an AI cost ledger. Price every model call, roll it up to runs, features and customers."""


def main() -> None:
    app()


if __name__ == "__main__":
    main()
