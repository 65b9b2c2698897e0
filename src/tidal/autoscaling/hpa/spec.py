"""Reading an autoscaling/v2 HPA spec the way the controller does: API defaults
(`pkg/apis/autoscaling/v2/defaults.go`), per-HPA tolerances, and the metric names that appear in
conditions and events (`horizontal.go`)."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from tidal.api.quantity import parse

DEFAULT_CPU_UTILIZATION = 80
DEFAULT_SCALE_UP: dict[str, Any] = {
    "stabilizationWindowSeconds": 0,
    "selectPolicy": "Max",
    "policies": [
        {"type": "Pods", "value": 4, "periodSeconds": 15},
        {"type": "Percent", "value": 100, "periodSeconds": 15},
    ],
}
DEFAULT_SCALE_DOWN: dict[str, Any] = {
    "selectPolicy": "Max",
    "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}],
}


def default_spec(spec: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of `spec` with the API server's defaults: minReplicas 1, CPU 80 % when no metrics,
    and behavior filled field by field only when `behavior` is present."""
    out = copy.deepcopy(dict(spec))
    if out.get("minReplicas") is None:
        out["minReplicas"] = 1
    if not out.get("metrics"):
        out["metrics"] = [
            {
                "type": "Resource",
                "resource": {
                    "name": "cpu",
                    "target": {
                        "type": "Utilization",
                        "averageUtilization": DEFAULT_CPU_UTILIZATION,
                    },
                },
            }
        ]
    behavior = out.get("behavior")
    if behavior is not None:
        for key, defaults in (("scaleUp", DEFAULT_SCALE_UP), ("scaleDown", DEFAULT_SCALE_DOWN)):
            rules = behavior.get(key)
            rules = {} if rules is None else rules
            for field, value in defaults.items():
                if rules.get(field) is None:
                    rules[field] = copy.deepcopy(value)
            behavior[key] = rules
    return out


def tolerances(spec: Mapping[str, Any], default: float) -> tuple[float, float]:
    """(scale-down, scale-up) tolerance: the flag, overridden by `behavior.*.tolerance`."""
    down = up = default
    behavior = spec.get("behavior") or {}
    if (behavior.get("scaleDown") or {}).get("tolerance") is not None:
        down = float(parse(behavior["scaleDown"]["tolerance"]))
    if (behavior.get("scaleUp") or {}).get("tolerance") is not None:
        up = float(parse(behavior["scaleUp"]["tolerance"]))
    return down, up


def has_object_or_external(spec: Mapping[str, Any]) -> bool:
    return any(m.get("type") in ("Object", "External") for m in spec.get("metrics") or ())


def go_selector(selector: Mapping[str, Any] | None) -> str:
    """Go's `%+v` of a `*metav1.LabelSelector` (its generated String())."""
    if selector is None:
        return "nil"
    labels = selector.get("matchLabels") or {}
    ml = "".join(f"{k}: {labels[k]}," for k in sorted(labels))
    exprs = ""
    for e in selector.get("matchExpressions") or ():
        values = " ".join(e.get("values") or ())
        exprs += f"LabelSelectorRequirement{{Key:{e.get('key', '')},Operator:{e.get('operator', '')},Values:[{values}],}},"
    return (
        f"&LabelSelector{{MatchLabels:map[string]string{{{ml}}},"
        f"MatchExpressions:[]LabelSelectorRequirement{{{exprs}}},}}"
    )
