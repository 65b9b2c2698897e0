"""The autoscaling/v2 HorizontalPodAutoscaler's API defaults (`pkg/apis/autoscaling/v2/
defaults.go`): one home for admission (`tidal.validation.hpa.default`) and for the controller
and the simulator, which read a spec as the API server would have stored it."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

Obj = dict[str, Any]

MIN_REPLICAS = 1
DEFAULT_CPU_UTILIZATION = 80
DEFAULT_SCALE_UP: Obj = {
    "stabilizationWindowSeconds": 0,
    "selectPolicy": "Max",
    "policies": [
        {"type": "Pods", "value": 4, "periodSeconds": 15},
        {"type": "Percent", "value": 100, "periodSeconds": 15},
    ],
}
# no stabilizationWindowSeconds: the controller's flag (5 minutes) applies
DEFAULT_SCALE_DOWN: Obj = {
    "selectPolicy": "Max",
    "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}],
}


def default_cpu_metric() -> Obj:
    """The metric an HPA without metrics scales on (autoscaling/v1 and v2 alike)."""
    return {
        "type": "Resource",
        "resource": {
            "name": "cpu",
            "target": {"type": "Utilization", "averageUtilization": DEFAULT_CPU_UTILIZATION},
        },
    }


def fill_defaults(spec: Obj) -> Obj:
    """Fill `spec` in place and return it: minReplicas 1; CPU Utilization 80 % when there are no
    metrics; behavior filled field by field only when `behavior` is present. Fields of the wrong
    type are left for validation to report."""
    if spec.get("minReplicas") is None:
        spec["minReplicas"] = MIN_REPLICAS
    if not spec.get("metrics"):
        spec["metrics"] = [default_cpu_metric()]
    behavior = spec.get("behavior")
    if isinstance(behavior, dict):
        for key, defaults in (("scaleUp", DEFAULT_SCALE_UP), ("scaleDown", DEFAULT_SCALE_DOWN)):
            rules = behavior.get(key)
            if rules is None:
                rules = behavior[key] = {}
            if not isinstance(rules, dict):
                continue
            for field, value in defaults.items():
                if rules.get(field) is None:
                    rules[field] = copy.deepcopy(value)
    return spec


def default_spec(spec: Mapping[str, Any]) -> Obj:
    """A defaulted copy of `spec` (the input is left alone)."""
    return fill_defaults(copy.deepcopy(dict(spec)))
