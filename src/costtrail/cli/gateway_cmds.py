"""``costtrail gateway``: the OpenAI/Anthropic-compatible proxy that prices and attributes each call."""

from __future__ import annotations

from pathlib import Path

import typer

from costtrail.gateway import GatewayConfig, RecordSink, parse_upstreams
from costtrail.gateway.assembly import GateOptionError, GateOptions, GatewayGate
from costtrail.gateway.routes import check_prefix
from costtrail.gateway.server import serve
from costtrail.gateway.serving import serving_stack
from costtrail.settings import Settings
from costtrail.wire.azure import DeploymentsError, load_deployments


def register(app: typer.Typer) -> None:
    app.command("gateway")(gateway)


def _defaults(values: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in values:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise typer.BadParameter(f"'{item}' is not NAME=VALUE", param_hint="--default")
        out[name.strip()] = value.strip()
    return out


def build_sink(
    collector: str | None, api_key: str | None, ledger: str | None, spool_dir: Path | None
) -> RecordSink:
    """Ship to a collector (HTTP, spooled to disk while it is down) or write a local ledger file."""
    from costtrail.sdk.config import SdkSettings, make_sink

    options: dict[str, str] = {"spool_dir": str(spool_dir)} if spool_dir else {}
    if collector:
        return make_sink(SdkSettings(endpoint=collector, api_key=api_key, **options))
    # The gateway prices each call itself (for X-Costtrail-Cost): the writer need not price again.
    return make_sink(SdkSettings(ledger=ledger, price=False, **options))


def gateway(
    host: str = typer.Option("127.0.0.1", "--host", help="address to bind"),
    port: int = typer.Option(8788, "--port", help="port to listen on"),
    upstream: list[str] = typer.Option(
        [],
        "--upstream",
        help="provider=URL, e.g. --upstream openai=https://api.openai.com or "
        "azure=https://RESOURCE.openai.azure.com (repeatable)",
    ),
    azure_deployments: Path | None = typer.Option(
        None,
        "--azure-deployments",
        help="YAML file mapping Azure OpenAI deployment names to models ('deployments:' then "
        "'name: model' lines)",
    ),
    collector: str | None = typer.Option(
        None, "--collector", envvar="COSTTRAIL_COLLECTOR", help="ship events to this collector URL"
    ),
    api_key: str | None = typer.Option(
        None, "--api-key", envvar="COSTTRAIL_API_KEY", help="ingest key for the collector"
    ),
    ledger: str | None = typer.Option(
        None,
        "--ledger",
        envvar="COSTTRAIL_LEDGER",
        help="write a local ledger instead (this process owns it)",
    ),
    keys_file: Path | None = typer.Option(
        None, "--keys", help="require an X-Costtrail-Key from this keys file on every call"
    ),
    default: list[str] = typer.Option(
        [], "--default", help="attribution default, e.g. --default environment=prod"
    ),
    rate_card: Path | None = typer.Option(None, "--rate-card", help="YAML rate card with your own prices"),
    spool_dir: Path | None = typer.Option(
        None, "--spool-dir", help="where events wait while the collector is down"
    ),
    fail_closed: bool = typer.Option(
        False,
        "--fail-closed",
        help="answer 503 while events cannot reach the collector, and deny while a --budget-store is "
        "unreachable (default: serve)",
    ),
    store_content: bool = typer.Option(
        False,
        "--store-content",
        help="keep request/response text in the ledger's content table (off by default; needs --ledger)",
    ),
    allow_path: list[str] = typer.Option(
        [],
        "--allow-path",
        help="also forward (unpriced, key-checked) requests under this /v1/ prefix, e.g. /v1/models "
        "(repeatable); any other path is refused with 404",
    ),
    default_output_tokens: int = typer.Option(
        4096,
        "--default-output-tokens",
        min=1,
        help="output tokens the budget check assumes for a call without max_tokens whose model's "
        "limit is unknown to the rate card and genai-prices",
    ),
    controls: Path | None = typer.Option(
        None,
        "--controls",
        envvar="COSTTRAIL_CONTROLS",
        help="budgets, model policies, guardrails to enforce before forwarding (YAML, docs/controls.md)",
    ),
    budget_store: str | None = typer.Option(
        None,
        "--budget-store",
        envvar="COSTTRAIL_BUDGET_STORE",
        help="keep budget and --credits counters in Redis (redis://HOST:PORT/DB) so N gateways share "
        "one budget or balance (default: in this process); with --fail-closed an unreachable store "
        "denies, else admits",
    ),
    budget_lease: float = typer.Option(
        120.0,
        "--budget-lease-seconds",
        min=0.1,
        help="how long a shared budget holds a request's estimate if its gateway never settles it "
        "(killed): longer than the slowest call",
    ),
    spend_from: str | None = typer.Option(
        None,
        "--spend-from",
        help="ledger URL to read each budget's spend so far from at start (default: --ledger)",
    ),
    credits: Path | None = typer.Option(
        None,
        "--credits",
        envvar="COSTTRAIL_CREDITS",
        help="prepaid credit per customer (costtrail credits set), spent at the plan's price; needs --plans",
    ),
    plans: Path | None = typer.Option(
        None, "--plans", envvar="COSTTRAIL_PLANS", help="price plans (docs/billing.md) that price --credits"
    ),
) -> None:
    """Run the gateway: point an OpenAI or Anthropic SDK's base_url at it, and every call is priced.

    Example: costtrail gateway --port 8788 --collector http://127.0.0.1:8787 --api-key ct_...
    With budgets: costtrail gateway --ledger costtrail.duckdb --controls controls.yaml
    With credits: costtrail gateway --ledger costtrail.duckdb --credits credits.yaml --plans plans.yaml
    Then:    OpenAI(base_url="http://127.0.0.1:8788/v1"), Anthropic(base_url="http://127.0.0.1:8788")
    """

    from costtrail.auth import KeyRing

    if collector and ledger:
        raise typer.BadParameter("choose --collector or --ledger, not both", param_hint="--collector")
    try:
        upstreams = parse_upstreams(upstream)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--upstream") from exc
    try:
        deployments = load_deployments(azure_deployments)
    except DeploymentsError as exc:
        raise typer.BadParameter(str(exc), param_hint="--azure-deployments") from exc
    try:
        allowed = tuple(check_prefix(p) for p in allow_path)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--allow-path") from exc
    settings = Settings.from_env(rate_card=rate_card, ledger=ledger)
    keys = KeyRing.for_ledger(settings.ledger, keys_file=keys_file) if keys_file else None
    config = GatewayConfig(
        upstreams=upstreams,
        defaults=_defaults(default),
        require_key=keys is not None,
        fail_closed=fail_closed,
        store_content=store_content or settings.store_content,
        allowed_paths=allowed,
        default_output_tokens=default_output_tokens,
        azure_deployments=deployments,
    )
    if config.store_content and collector:
        raise typer.BadParameter(
            "content storage writes a local ledger's content table: use --ledger",
            param_hint="--store-content",
        )
    options = GateOptions(
        controls=controls,
        credits=credits,
        plans=plans,
        budget_store=budget_store,
        spend_from=spend_from or (None if collector else settings.ledger),
        fail_closed=fail_closed,
        lease_seconds=budget_lease,
    )
    try:
        gate = GatewayGate.open(options, notice=typer.echo, on_alert=lambda m: typer.echo(m, err=True))
    except GateOptionError as exc:
        raise typer.BadParameter(str(exc), param_hint=exc.option) from exc
    sink = build_sink(collector, api_key, None if collector else settings.ledger, spool_dir)
    where = f"collector {collector}" if collector else f"ledger {settings.ledger}"
    typer.echo(
        f"costtrail gateway on http://{host}:{port} -> {', '.join(f'{k}={v}' for k, v in upstreams.items())}"
    )
    typer.echo(f"events go to the {where}")
    typer.echo(f"serving with {serving_stack()}")
    serve(settings, config, sink=sink, host=host, port=port, keys=keys, gate=gate)
