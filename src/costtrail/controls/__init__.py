"""Controls: budgets, guardrails and alerts."""
