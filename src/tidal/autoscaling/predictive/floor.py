"""From the HPA to the floor, pure.

`needed_replicas(hpa)`: the demand in replicas the HPA's own metrics ask for right now, read from
its status (`currentMetrics`, `currentReplicas`) against its targets: for each metric the ratio
current/target times the current replicas (the replica calculator's usage ratio, without the
tolerance and rounding), the largest over metrics. That is the series the forecast runs on, so a
prediction is in the unit of the decision it feeds.

`decide_floor(...)`: the HPA `minReplicas` to set: the forecast rounded up, never below the
floor without prediction, never above the HPA's `maxReplicas`."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tidal.api.quantity import parse
from tidal.autoscaling.predictive.forecast import Forecast

_TARGET_FIELDS = ("averageUtilization", "averageValue", "value")
_SOURCE = {
    "Resource": "resource",
    "ContainerResource": "containerResource",
    "Pods": "pods",
    "Object": "object",
    "External": "external",
}


def _num(x: Any) -> float | None:
    if x is None:
        return None
    try:
        return float(parse(x)) if isinstance(x, str) else float(x)
    except (TypeError, ValueError):
        return None


def _metric_key(m: Mapping[str, Any]) -> tuple[str, str]:
    src = m.get(_SOURCE.get(str(m.get("type")), "")) or {}
    name = src.get("name") or (src.get("metric") or {}).get("name") or ""
    return str(m.get("type")), str(name)


def needed_replicas(hpa: Mapping[str, Any]) -> float | None:
    """Replicas the HPA's metrics ask for now (unrounded); None before it measured anything."""
    spec, status = hpa.get("spec") or {}, hpa.get("status") or {}
    replicas = status.get("currentReplicas")
    if not isinstance(replicas, int) or isinstance(replicas, bool):
        return None
    targets = {}
    for m in spec.get("metrics") or ():
        src = m.get(_SOURCE.get(str(m.get("type")), "")) or {}
        targets[_metric_key(m)] = src.get("target") or {}
    best: float | None = None
    for cur in status.get("currentMetrics") or ():
        target = targets.get(_metric_key(cur))
        src = cur.get(_SOURCE.get(str(cur.get("type")), "")) or {}
        current = src.get("current") or {}
        if not target:
            continue
        for f in _TARGET_FIELDS:
            want, have = _num(target.get(f)), _num(current.get(f))
            if want is None:
                continue
            if have is None or want <= 0:
                break
            need = have / want * replicas  # Object/External AverageValue: status is per pod
            best = need if best is None else max(best, need)
            break
    return best


@dataclass(frozen=True, slots=True)
class FloorDecision:
    floor: int  # the minReplicas to set on the HPA
    base: int  # the floor without prediction
    reason: str


def decide_floor(fc: Forecast | None, *, base: int, hpa_max: int) -> FloorDecision:
    """The HPA's floor for this forecast: `ceil(forecast)` within [base, hpa_max]."""
    if fc is None:
        return FloorDecision(base, base, f"no samples yet: floor {base} (the HPA's own)")
    want = math.ceil(fc.value - 1e-9)
    floor = min(max(want, base), max(hpa_max, base))
    why = fc.explain()
    if want > hpa_max:
        return FloorDecision(floor, base, f"{why}: capped at the HPA's maxReplicas {floor}")
    if want <= base:
        return FloorDecision(floor, base, f"{why}: floor {floor} (the HPA's own)")
    return FloorDecision(floor, base, f"{why}: floor {floor}")
