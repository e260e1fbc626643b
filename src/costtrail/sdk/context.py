"""Run and step context: who owns a cost, carried by contextvars through sync and async code.

A :class:`Run` is one execution of a workflow; a :class:`Step` a named part of
it. Both are context managers (``with`` and ``async with``) that push their
attribution onto a context variable, so every event recorded inside them, in
this thread or in any task started from it (``asyncio.gather`` copies the
context), carries the run's id, workflow, step and business fields.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextvars import ContextVar, Token
from types import MappingProxyType, TracebackType
from typing import Any, Protocol

from costtrail.schema import new_event_id

Attribution = Mapping[str, Any]

_EMPTY: Attribution = MappingProxyType({})

# The attribution in force: an immutable mapping, replaced (never mutated) by each run/step.
_ATTRIBUTION: ContextVar[Attribution] = ContextVar("costtrail_attribution", default=_EMPTY)


class OutcomeRecorder(Protocol):
    """What a run needs of a recorder: a way to record its outcome."""

    def outcome(
        self, run_id: str | None, outcome: str, success: bool, value_usd: Any, **fields: Any
    ) -> bool: ...


def current_attribution() -> Attribution:
    """The run/step attribution in force here (an immutable mapping; empty outside any run)."""
    return _ATTRIBUTION.get()


# current_attribution() without a Python frame: for the instrumented send's fast path.
read_attribution = _ATTRIBUTION.get


def current_run_id() -> str | None:
    """The id of the innermost run in force, or ``None``."""
    value = _ATTRIBUTION.get().get("run_id")
    return value if isinstance(value, str) else None


def _clean(fields: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if v is not None}


class _Scope:
    """Pushes attribution on enter and restores the previous one on exit (sync or async)."""

    _token: Token[Attribution] | None = None
    attribution: Attribution = _EMPTY

    def _build(self, parent: Attribution) -> Attribution:
        raise NotImplementedError

    def __enter__(self) -> Any:
        self.attribution = MappingProxyType(dict(self._build(_ATTRIBUTION.get())))
        self._token = _ATTRIBUTION.set(self.attribution)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._token is not None:
            _ATTRIBUTION.reset(self._token)
            self._token = None

    async def __aenter__(self) -> Any:
        return self.__enter__()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.__exit__(exc_type, exc, tb)


class Run(_Scope):
    """One execution of a workflow; every event inside carries its ``run_id``.

    >>> with Run("support_reply", customer_id="c-42") as run:
    ...     current_run_id() == run.run_id
    True

    A run inside a run is a child run: a new ``run_id``, the outer attribution
    inherited, and ``parent_run_id`` kept in the events' attributes. Pass
    ``run_id=`` to continue a run started elsewhere (another process or queue worker).
    """

    def __init__(
        self,
        workflow: str,
        *,
        run_id: str | None = None,
        recorder: Callable[[], OutcomeRecorder] | None = None,
        **attribution: Any,
    ) -> None:
        if not workflow or not isinstance(workflow, str):
            raise ValueError("run() needs a workflow name, e.g. costtrail.run('support_reply')")
        self.workflow = workflow
        self.run_id = run_id or new_event_id()
        self.fields = _clean(attribution)
        self._recorder = recorder

    def _build(self, parent: Attribution) -> Attribution:
        merged = {k: v for k, v in parent.items() if k not in ("step", "agent", "parent_run_id")}
        parent_run = parent.get("run_id")
        if parent_run and parent_run != self.run_id:
            merged["parent_run_id"] = parent_run
        merged.update(self.fields)
        merged["workflow"] = self.workflow
        merged["run_id"] = self.run_id
        return merged

    def __enter__(self) -> Run:
        super().__enter__()
        return self

    async def __aenter__(self) -> Run:
        return self.__enter__()

    def outcome(self, outcome: str, success: bool = True, value_usd: Any = None, **fields: Any) -> bool:
        """Record this run's outcome with the recorder that started it (see ``costtrail.outcome``)."""
        if self._recorder is None:
            raise RuntimeError(
                "this Run records no outcome: start it with costtrail.run(...) or recorder.run(...), "
                "or call costtrail.outcome(run_id=...)"
            )
        fields.setdefault("workflow", self.workflow)
        return self._recorder().outcome(self.run_id, outcome, success, value_usd, **fields)

    def __repr__(self) -> str:
        return f"Run(workflow={self.workflow!r}, run_id={self.run_id!r})"


class Step(_Scope):
    """A named step of the current run (optionally the agent performing it).

    >>> with Run("support_reply"), Step("retrieve_docs", agent="retriever") as step:
    ...     current_attribution()["step"]
    'retrieve_docs'
    """

    def __init__(self, name: str, *, agent: str | None = None, **attribution: Any) -> None:
        if not name or not isinstance(name, str):
            raise ValueError("step() needs a step name, e.g. costtrail.step('retrieve_docs')")
        self.name = name
        self.fields = _clean({"agent": agent, **attribution})

    def _build(self, parent: Attribution) -> Attribution:
        return {**parent, **self.fields, "step": self.name}

    def __enter__(self) -> Step:
        super().__enter__()
        return self

    async def __aenter__(self) -> Step:
        return self.__enter__()

    def __repr__(self) -> str:
        return f"Step(name={self.name!r})"
