"""Controls: budgets enforced in the request path, guardrails and alerts (see docs/controls.md).

>>> from decimal import Decimal
>>> from costtrail.controls import ControlsConfig, RequestContext, build_controls
>>> controls = build_controls(ControlsConfig.from_yaml("budgets: [{name: dev, limit_usd: 1}]"))
>>> controls.gate.reserve(RequestContext(environment="dev"), Decimal("2")).allowed
False
"""

from costtrail.controls.alerts import Alert, AlertDispatcher, LedgerAlertSink, LogSink, read_alerts
from costtrail.controls.budgets import BudgetGate, BudgetStatus
from costtrail.controls.chain import ChainGate, Controls, budget_gate_of, build_alerts, build_controls
from costtrail.controls.config import BudgetConfig, ControlsConfig, ControlsConfigError, ModelPolicyConfig
from costtrail.controls.estimate import CostEstimator, Estimate
from costtrail.controls.gate import ALLOW, AllowAll, BudgetExceeded, Decision, RequestContext, RequestGate
from costtrail.controls.guardrails import run_guardrails
from costtrail.controls.policy import ModelPolicyGate
from costtrail.controls.runloop import RunLoopGuard
from costtrail.controls.webhook import WebhookSink

__all__ = [
    "ALLOW",
    "Alert",
    "AlertDispatcher",
    "AllowAll",
    "BudgetConfig",
    "BudgetExceeded",
    "BudgetGate",
    "BudgetStatus",
    "ChainGate",
    "Controls",
    "ControlsConfig",
    "ControlsConfigError",
    "CostEstimator",
    "Decision",
    "Estimate",
    "LedgerAlertSink",
    "LogSink",
    "ModelPolicyConfig",
    "ModelPolicyGate",
    "RequestContext",
    "RequestGate",
    "RunLoopGuard",
    "WebhookSink",
    "budget_gate_of",
    "build_alerts",
    "build_controls",
    "read_alerts",
    "run_guardrails",
]
