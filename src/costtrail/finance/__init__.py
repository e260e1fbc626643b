"""Finance: periods, revenue, unit economics, cost-to-serve and margin (no I/O framework here)."""

from costtrail.finance.period import Period, PeriodError

__all__ = ["Period", "PeriodError"]
