"""Reading an autoscaling/v2 HPA spec the way the controller does (the API defaults are
`tidal.api.hpa_defaults`): per-HPA tolerances, and the metric names that appear in
conditions and events (`horizontal.go`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tidal.api.quantity import parse


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
