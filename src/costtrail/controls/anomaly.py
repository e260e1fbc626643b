"""Per-tenant anomaly: a tenant's daily cost-to-serve against its own robust range.

For the last complete UTC day before ``now``, each tenant's cost is compared
with the median of its previous ``history_days`` days (days without traffic
count as $0 from its first day on). The scale is the median absolute deviation
(MAD x 1.4826, the normal-consistent estimate); a day is anomalous when it is
more than ``threshold`` scales from the median **and** at least
``min_deviation_fraction`` of the median away (so a tenant with a perfectly
flat history is not flagged for a cent). A tenant whose first event is on the
evaluated day is reported separately as a ``new_tenant``; tenants with fewer
than ``min_history_days`` days of history, or with traffic on fewer than
``min_active_fraction`` of them (sparse tenants), are not judged.
"""

from __future__ import annotations

import statistics
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from costtrail.controls.alerts import Alert
from costtrail.controls.config import TenantAnomalyConfig
from costtrail.controls.periods import as_utc
from costtrail.ledger.store import LedgerStore
from costtrail.schema.amounts import MICRO

MAD_SCALE = Decimal("1.4826")


def _as_date(value: Any) -> date:
    return value.date() if isinstance(value, datetime) else value


def tenant_anomalies(store: LedgerStore, cfg: TenantAnomalyConfig, now: datetime) -> list[Alert]:
    """Tenants whose cost on the last complete day is outside their own range, and new tenants."""
    if not cfg.enabled:
        return []
    now = as_utc(now)
    day = (now - timedelta(days=1)).date()
    first_day = day - timedelta(days=cfg.history_days)
    d = store.dialect
    lit = d.literal
    start = datetime.combine(first_day, datetime.min.time(), tzinfo=now.tzinfo)
    end = datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=now.tzinfo)
    rows = store.query(
        f"SELECT tenant_id, {d.day('started_at')} AS day, sum(cost_usd) AS cost, count(*) AS events "
        f"FROM {d.final('events')} WHERE tenant_id IS NOT NULL AND started_at >= {lit(start)} "
        f"AND started_at < {lit(end)} GROUP BY tenant_id, {d.day('started_at')}"
    )
    daily: dict[str, dict[date, tuple[Decimal, int]]] = {}
    for r in rows:
        cost = Decimal(str(r["cost"])) if r["cost"] is not None else Decimal(0)
        daily.setdefault(r["tenant_id"], {})[_as_date(r["day"])] = (cost, int(r["events"]))
    active = sorted(t for t, days in daily.items() if day in days)
    if not active:
        return []
    firsts = {
        r["tenant_id"]: _as_date(r["first"])
        for r in store.query(
            f"SELECT tenant_id, min({d.day('started_at')}) AS first FROM {d.final('events')} "
            f"WHERE tenant_id IN ({', '.join(lit(t) for t in active)}) GROUP BY tenant_id"
        )
    }
    alerts = []
    for tenant in active:
        cost, events = daily[tenant][day]
        first = firsts.get(tenant, day)
        if first >= day:
            alerts.append(_new_tenant(tenant, day, cost, events, now))
            continue
        history_start = max(first, first_day)
        history = [
            daily[tenant].get(history_start + timedelta(days=i), (Decimal(0), 0))[0]
            for i in range((day - history_start).days)
        ]
        if len(history) < cfg.min_history_days or cost < cfg.min_daily_usd:
            continue
        if sum(1 for x in history if x > 0) < cfg.min_active_fraction * len(history):
            continue
        alert = _judge(tenant, day, cost, events, history, cfg, now)
        if alert is not None:
            alerts.append(alert)
    return alerts


def _judge(
    tenant: str,
    day: date,
    cost: Decimal,
    events: int,
    history: list[Decimal],
    cfg: TenantAnomalyConfig,
    now: datetime,
) -> Alert | None:
    median = statistics.median(history)
    mad = statistics.median([abs(x - median) for x in history])
    scale = MAD_SCALE * mad
    deviation = cost - median
    if abs(deviation) < Decimal(str(cfg.min_deviation_fraction)) * median:
        return None
    if scale > 0 and abs(deviation) / scale <= Decimal(str(cfg.threshold)):
        return None
    if scale == 0 and deviation == 0:
        return None
    score = round(float(deviation / scale), 2) if scale > 0 else None
    direction = "above" if deviation > 0 else "below"
    return Alert(
        kind="tenant_anomaly",
        key=f"tenant_anomaly:{tenant}:{day.isoformat()}",
        severity="warning",
        title=f"tenant {tenant}: ${cost.quantize(Decimal('0.01'))} on {day} is {direction} its usual range",
        message=(
            f"tenant {tenant!r} cost ${cost.quantize(MICRO)} on {day} ({events} events) vs a median of "
            f"${median.quantize(MICRO)}/day over {len(history)} days (MAD ${mad.quantize(MICRO)}); "
            f"robust z = {score}"
        ),
        scope={"tenant_id": tenant},
        evidence={
            "tenant_id": tenant,
            "day": day,
            "cost_usd": cost,
            "events": events,
            "median_usd": median.quantize(MICRO),
            "mad_usd": mad.quantize(MICRO),
            "robust_z": score,
            "threshold": cfg.threshold,
            "history_days": len(history),
            "direction": direction,
        },
        raised_at=now,
    )


def _new_tenant(tenant: str, day: date, cost: Decimal, events: int, now: datetime) -> Alert:
    return Alert(
        kind="new_tenant",
        key=f"new_tenant:{tenant}",
        severity="info",
        title=f"new tenant {tenant}: first traffic on {day}",
        message=f"tenant {tenant!r} appeared on {day}: ${cost.quantize(MICRO)} over {events} events",
        scope={"tenant_id": tenant},
        evidence={"tenant_id": tenant, "day": day, "cost_usd": cost, "events": events},
        raised_at=now,
    )
