"""The HPA's API defaults, shared by admission and by the controller's reading of a spec."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tidal.api.hpa_defaults import (
    DEFAULT_SCALE_DOWN,
    DEFAULT_SCALE_UP,
    default_spec,
    fill_defaults,
)
from tidal.autoscaling import hpa as hpa_decision
from tidal.validation import hpa as hpa_validation

CPU_80 = [
    {
        "type": "Resource",
        "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}},
    }
]
MEM = [
    {
        "type": "Resource",
        "resource": {"name": "memory", "target": {"type": "AverageValue", "averageValue": "1Gi"}},
    }
]

CASES: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "empty: min 1, CPU 80 %, no behavior": (
        {"maxReplicas": 5},
        {"maxReplicas": 5, "minReplicas": 1, "metrics": CPU_80},
    ),
    "given values stay": (
        {"minReplicas": 0, "maxReplicas": 5, "metrics": MEM},
        {"minReplicas": 0, "maxReplicas": 5, "metrics": MEM},
    ),
    "empty behavior: both directions filled": (
        {"minReplicas": 2, "metrics": MEM, "behavior": {}},
        {
            "minReplicas": 2,
            "metrics": MEM,
            "behavior": {"scaleUp": DEFAULT_SCALE_UP, "scaleDown": DEFAULT_SCALE_DOWN},
        },
    ),
    "behavior filled field by field": (
        {"minReplicas": 2, "metrics": MEM, "behavior": {"scaleDown": {"selectPolicy": "Min"}}},
        {
            "minReplicas": 2,
            "metrics": MEM,
            "behavior": {
                "scaleUp": DEFAULT_SCALE_UP,
                "scaleDown": {"selectPolicy": "Min", "policies": DEFAULT_SCALE_DOWN["policies"]},
            },
        },
    ),
    "wrong types left for validation": (
        {"minReplicas": 2, "metrics": MEM, "behavior": {"scaleUp": "fast"}},
        {
            "minReplicas": 2,
            "metrics": MEM,
            "behavior": {"scaleUp": "fast", "scaleDown": DEFAULT_SCALE_DOWN},
        },
    ),
}


@pytest.mark.parametrize(("spec", "want"), list(CASES.values()), ids=list(CASES))
def test_defaults(spec: dict[str, Any], want: dict[str, Any]) -> None:
    given = copy.deepcopy(spec)
    assert default_spec(spec) == want
    assert spec == given  # default_spec copies
    assert fill_defaults(spec) == want and spec == want  # fill_defaults fills in place


def test_admission_and_decision_read_the_same_defaults() -> None:
    for spec, want in CASES.values():
        obj = {"kind": "HorizontalPodAutoscaler", "spec": copy.deepcopy(spec)}
        assert hpa_validation.default(obj)["spec"] == want
        assert hpa_decision.default_spec(spec) == want


def test_defaults_are_not_shared_between_objects() -> None:
    a = default_spec({"behavior": {}})
    a["behavior"]["scaleUp"]["policies"].append({"type": "Pods", "value": 1, "periodSeconds": 1})
    assert default_spec({"behavior": {}})["behavior"]["scaleUp"] == DEFAULT_SCALE_UP
    assert len(DEFAULT_SCALE_UP["policies"]) == 2
