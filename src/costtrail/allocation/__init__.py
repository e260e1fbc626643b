"""Allocation: shared cost pools split by documented rules (direct, proportional, even, overhead)."""

from costtrail.allocation.engine import AllocationRun, RuleOutcome, allocate, signal_by_target
from costtrail.allocation.rules import (
    AllocationRule,
    AllocationRuleError,
    Method,
    Pool,
    Signal,
    load_rules,
    parse_rules,
)
from costtrail.allocation.split import split_amount

__all__ = [
    "AllocationRule",
    "AllocationRuleError",
    "AllocationRun",
    "Method",
    "Pool",
    "RuleOutcome",
    "Signal",
    "allocate",
    "load_rules",
    "parse_rules",
    "signal_by_target",
    "split_amount",
]
