"""Cost-per-outcome targets: what the business is willing to pay for one successful outcome.

The targets file is the finance layer's unit file, the one ``costtrail unit-cost
--config`` already reads: per outcome name, a ``target_usd`` and an optional
``drift_factor`` (the trailing week is flagged above target x factor)::

    units:
      ticket_resolved:
        target_usd: "0.40"       # USD per successful outcome
        drift_factor: 1.25       # optional (1.25)
      fields_extracted:
        target_usd: "0.05"

The dashboard (``costtrail serve --targets FILE`` or ``COSTTRAIL_TARGETS``)
shows each outcome's actual cost per outcome against its target and
highlights the ones over target. A bad file stops the server with an error
naming the file, the line and the field.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from costtrail.schema.yaml_source import describe_errors, parse_mapping, read_source

DEFAULT_DRIFT = Decimal("1.25")


class TargetsError(ValueError):
    """A targets file that cannot be used; the message names the file, line and field."""


def _exact(value: Any, field: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (int, float, str, Decimal)):
        raise ValueError(f'{field} must be a number such as "0.40"')
    try:
        # through str: a YAML float 0.1 is the decimal 0.1, not its binary neighbour
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f'{field} must be a number such as "0.40", not {value!r}') from None
    if not amount.is_finite():
        raise ValueError(f"{field} must be a finite number, not {value!r}")
    return amount


class UnitTarget(BaseModel):
    """The target cost of one successful outcome (USD) and the drift factor for its trailing week."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    target_usd: Decimal = Field(description="USD the business is willing to pay per successful outcome")
    drift_factor: Decimal = Field(default=DEFAULT_DRIFT, description="flag a week above target x this")

    @field_validator("target_usd", mode="before")
    @classmethod
    def _target(cls, value: Any) -> Decimal:
        amount = _exact(value, "target_usd")
        if amount <= 0:
            raise ValueError(f"target_usd must be above 0 (USD per successful outcome), not {amount}")
        return amount

    @field_validator("drift_factor", mode="before")
    @classmethod
    def _factor(cls, value: Any) -> Decimal:
        factor = _exact(value, "drift_factor")
        if factor < 1:
            raise ValueError(f"drift_factor must be 1 or more (1.25 flags 25% above), not {factor}")
        return factor


class UnitTargets(BaseModel):
    """Targets per outcome name (``units:`` in the file). Look one up with :meth:`get`.

    >>> UnitTargets.from_yaml('units: {ticket_resolved: {target_usd: "0.40"}}').get("ticket_resolved")
    UnitTarget(target_usd=Decimal('0.40'), drift_factor=Decimal('1.25'))
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    units: dict[str, UnitTarget] = Field(default_factory=dict)

    def get(self, outcome: str) -> UnitTarget | None:
        return self.units.get(outcome)

    def names(self) -> list[str]:
        return sorted(self.units)

    @classmethod
    def load(cls, path: str | Path) -> UnitTargets:
        """Read and validate a targets file; raises :class:`TargetsError` naming file, line, field."""
        return cls.from_yaml(read_source(path, TargetsError, "targets file"), source=str(path))

    @classmethod
    def from_yaml(cls, text: str, *, source: str = "<targets>") -> UnitTargets:
        node, data = parse_mapping(
            text,
            source,
            TargetsError,
            "a targets file is a YAML mapping with one key, units: "
            '(units: {ticket_resolved: {target_usd: "0.40"}})',
        )
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise TargetsError(
                describe_errors(
                    exc,
                    data,
                    node,
                    source,
                    title="invalid targets file",
                    default="targets",
                    name_key="outcome",
                    explain=_explain,
                )
            ) from exc


def _explain(kind: str, loc: list[Any]) -> str | None:
    if kind == "extra_forbidden":
        if len(loc) == 3:
            return "unknown field (an outcome takes target_usd and drift_factor)"
        return "unknown field (the file has one key, units:, mapping outcome names to targets)"
    if kind in ("model_type", "dict_type"):
        return 'expected a mapping, e.g. ticket_resolved: {target_usd: "0.40"}'
    if kind == "missing":
        return 'missing: give the USD per successful outcome, e.g. target_usd: "0.40"'
    return None


def load_targets(path: str | Path | None) -> UnitTargets | None:
    """The targets file at ``path`` (None: no targets); raises :class:`TargetsError`."""
    return None if path is None else UnitTargets.load(path)
