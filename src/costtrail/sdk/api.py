"""The process-wide SDK functions: ``costtrail.configure``, ``record``, ``outcome``, ``flush``, ...

These act on one recorder per process, held by :data:`~costtrail.sdk.active.ACTIVE`:
the SDK's module-level API is process-wide by design (as ``logging`` is). Everything
underneath takes its recorder and settings explicitly; tests and the gateway
build their own :class:`~costtrail.sdk.recorder.Recorder` and never touch it.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from costtrail.controls.gate import Decision
from costtrail.sdk import enforcement
from costtrail.sdk.active import ACTIVE
from costtrail.sdk.calls import RecorderRef
from costtrail.sdk.clients import instrument_client
from costtrail.sdk.config import SdkSettings, make_sink
from costtrail.sdk.context import Run, Step
from costtrail.sdk.enforcement import BudgetHook
from costtrail.sdk.recorder import Recorder
from costtrail.wire.azure import load_deployments

if TYPE_CHECKING:
    from costtrail.billing.credits import CreditGate
    from costtrail.controls.config import ControlsConfig
    from costtrail.ledger.store import LedgerStore

log = logging.getLogger("costtrail.sdk")

T = TypeVar("T")


def configure(
    ledger: str | None = None,
    endpoint: str | None = None,
    api_key: str | None = None,
    environment: str | None = None,
    *,
    settings: SdkSettings | None = None,
    **default_attribution: Any,
) -> Recorder:
    """Choose where events go and the attribution every event gets by default.

    >>> import costtrail
    >>> recorder = costtrail.configure(ledger=":memory:", environment="dev", product="helpdesk")
    >>> costtrail.shutdown()

    ``ledger="costtrail.duckdb"`` writes a local ledger file; ``endpoint=`` (with
    ``api_key=``) ships to a collector. ``settings=`` passes every knob
    (:class:`SdkSettings`: queue size, batch size, spool folder, timeouts).
    Calling it again replaces the previous configuration (flushing it first).
    """
    if settings is None:
        settings = SdkSettings.from_env(
            ledger=ledger, endpoint=endpoint, api_key=api_key, environment=environment
        )
    defaults = {"environment": settings.environment, **default_attribution}
    recorder = Recorder(make_sink(settings), defaults=defaults)
    ACTIVE.replace(recorder)
    return recorder


def get_recorder() -> Recorder:
    """The process's recorder (configured from the environment if ``configure`` was not called)."""
    return ACTIVE.get()


def run(workflow: str, *, run_id: str | None = None, **attribution: Any) -> Run:
    """Start a workflow run: ``with costtrail.run("support_reply", customer_id="c-42") as run:``."""
    return Run(workflow, run_id=run_id, recorder=ACTIVE.get, **attribution)


def step(name: str, *, agent: str | None = None, **attribution: Any) -> Step:
    """A step of the current run: ``with costtrail.step("retrieve_docs", agent="retriever"):``."""
    return Step(name, agent=agent, **attribution)


def record(kind: str = "other", **fields: Any) -> str | None:
    """Record a retrieval query, tool call, infra usage or any other cost event; returns its id."""
    try:
        return ACTIVE.get().record(kind, **fields)
    except Exception:
        log.warning("costtrail: record() failed; the app is not affected", exc_info=True)
        return None


def outcome(
    run_id: str | None = None,
    outcome: str = "completed",
    success: bool = True,
    value_usd: Decimal | str | int | None = None,
    **fields: Any,
) -> bool:
    """Record what a run achieved (``run_id`` defaults to the current run)."""
    try:
        return ACTIVE.get().outcome(run_id, outcome, success, value_usd, **fields)
    except Exception:
        log.warning("costtrail: outcome() failed; the app is not affected", exc_info=True)
        return False


def instrument(
    client: T,
    *,
    recorder: Recorder | None = None,
    azure_deployments: Mapping[str, str] | str | Path | None = None,
) -> T:
    """Record every call an official ``openai``/``anthropic`` client, a ``google.genai.Client``
    or a boto3 ``bedrock-runtime`` client (sync only) makes.

    The client is changed in place and returned. Without ``recorder`` the
    calls go to the process's configured recorder at the time they are made.
    An ``openai.AzureOpenAI`` client's calls are recorded as provider ``azure``;
    ``azure_deployments`` (a ``{deployment: model}`` mapping or the path of a
    deployments YAML file) names the model each deployment serves, else the
    model the response names is recorded.
    """
    deployments = load_deployments(azure_deployments)
    if recorder is not None:
        # A reference that returns the recorder without a Python frame: it is asked on every call.
        bound: RecorderRef = itertools.repeat(recorder).__next__
        return instrument_client(client, bound, deployments)  # type: ignore[no-any-return]
    return instrument_client(client, ACTIVE.get, deployments)  # type: ignore[no-any-return]


def flush(timeout: float | None = 5.0) -> bool:
    """Wait until everything recorded so far is written or spooled; False on timeout."""
    recorder = ACTIVE.peek()
    return True if recorder is None else recorder.flush(timeout)


def stats() -> dict[str, int]:
    """The recorder's counters (received, written, dropped, invalid, failed, sent, spooled, ...)."""
    recorder = ACTIVE.peek()
    return {} if recorder is None else recorder.stats()


def shutdown(timeout: float | None = None) -> None:
    """Flush and stop the configured recorder (done automatically at exit)."""
    ACTIVE.replace(None, timeout)


def enforce_budgets(
    config: ControlsConfig,
    *,
    store: LedgerStore | None = None,
    raise_before_send: bool = True,
    recorder: Recorder | None = None,
    credits: CreditGate | None = None,
) -> BudgetHook:
    """Turn on budgets (and ``credits``, customers' prepaid balances) for a recorder (default: the
    configured one); see :mod:`costtrail.sdk.enforcement`."""
    return enforcement.enforce_on(
        config,
        store=store,
        raise_before_send=raise_before_send,
        recorder=recorder or ACTIVE.get(),
        credits=credits,
    )


def check_budget(
    estimated_cost: Decimal | str | int = 0,
    *,
    provider: str | None = None,
    model: str | None = None,
    recorder: Recorder | None = None,
    **attribution: Any,
) -> Decision:
    """Is there room for a call of ``estimated_cost`` in the current run's budgets (configured recorder)?"""
    return enforcement.room_for(
        estimated_cost, provider=provider, model=model, recorder=recorder or ACTIVE.get(), **attribution
    )
