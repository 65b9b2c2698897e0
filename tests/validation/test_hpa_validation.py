"""HPA admission: Kubernetes' defaults and validation messages (field paths as kubectl shows)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tidal.validation.hpa import default, validate

BASE: dict[str, Any] = {
    "apiVersion": "autoscaling/v2",
    "kind": "HorizontalPodAutoscaler",
    "metadata": {"name": "h", "namespace": "default"},
    "spec": {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "d"},
        "maxReplicas": 3,
    },
}


def _with(**spec: Any) -> dict[str, Any]:
    obj = copy.deepcopy(BASE)
    obj["spec"].update(spec)
    return obj


def test_defaults_fill_min_metrics_and_behavior_only_when_present() -> None:
    obj = default(_with())
    assert obj["spec"]["minReplicas"] == 1
    assert obj["spec"]["metrics"] == [
        {
            "type": "Resource",
            "resource": {
                "name": "cpu",
                "target": {"type": "Utilization", "averageUtilization": 80},
            },
        }
    ]
    assert "behavior" not in obj["spec"]
    obj = default(_with(behavior={"scaleDown": {"stabilizationWindowSeconds": 60}}))
    assert obj["spec"]["behavior"] == {
        "scaleDown": {
            "stabilizationWindowSeconds": 60,
            "selectPolicy": "Max",
            "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}],
        },
        "scaleUp": {
            "stabilizationWindowSeconds": 0,
            "selectPolicy": "Max",
            "policies": [
                {"type": "Pods", "value": 4, "periodSeconds": 15},
                {"type": "Percent", "value": 100, "periodSeconds": 15},
            ],
        },
    }
    assert validate(obj) == []


CPU = {
    "type": "Resource",
    "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}},
}


@pytest.mark.parametrize(
    ("spec", "field", "message"),
    [
        ({"maxReplicas": 0}, "spec.maxReplicas", "Invalid value: 0: must be greater than 0"),
        (
            {"minReplicas": 4, "metrics": [CPU]},
            "spec.maxReplicas",
            "Invalid value: 3: must be greater than or equal to `minReplicas`",
        ),
        (
            {"minReplicas": -1, "metrics": [CPU]},
            "spec.minReplicas",
            "Invalid value: -1: must be greater than or equal to 0",
        ),
        (
            {"minReplicas": 0, "metrics": [CPU]},
            "spec.metrics",
            "Forbidden: must specify at least one Object or External metric to support scaling to zero replicas",
        ),
        ({"scaleTargetRef": {"kind": "Deployment"}}, "spec.scaleTargetRef.name", "Required value"),
        (
            {"metrics": [{"type": "Gadget"}]},
            "spec.metrics[0].type",
            'Unsupported value: "Gadget": supported values: "ContainerResource", "External", "Object", "Pods", "Resource"',
        ),
        (
            {"metrics": [{"type": "Pods"}]},
            "spec.metrics[0].pods",
            "Required value: must populate information for the given metric source",
        ),
        (
            {
                "metrics": [
                    {
                        "type": "Resource",
                        "resource": {"name": "cpu", "target": {"type": "Utilization"}},
                    }
                ]
            },
            "spec.metrics[0].resource.target.averageUtilization",
            "Required value: must set either a target raw value or a target utilization",
        ),
        (
            {
                "metrics": [
                    {
                        "type": "Pods",
                        "pods": {
                            "metric": {"name": "q"},
                            "target": {"type": "AverageValue", "averageValue": "0"},
                        },
                    }
                ]
            },
            "spec.metrics[0].pods.target.averageValue",
            "Invalid value: 0: must be positive",
        ),
        (
            {
                "behavior": {
                    "scaleUp": {
                        "stabilizationWindowSeconds": 4000,
                        "policies": [{"type": "Pods", "value": 1, "periodSeconds": 15}],
                    }
                }
            },
            "spec.behavior.scaleUp.stabilizationWindowSeconds",
            "Invalid value: 4000: must be less than or equal to 3600",
        ),
        (
            {
                "behavior": {
                    "scaleDown": {"policies": [{"type": "Pods", "value": 1, "periodSeconds": 1801}]}
                }
            },
            "spec.behavior.scaleDown.policies[0].periodSeconds",
            "Invalid value: 1801: must be less than or equal to 1800",
        ),
        (
            {
                "behavior": {
                    "scaleDown": {
                        "policies": [{"type": "Pods", "value": 1, "periodSeconds": 15}],
                        "selectPolicy": "Most",
                    }
                }
            },
            "spec.behavior.scaleDown.selectPolicy",
            'Unsupported value: "Most": supported values: "Disabled", "Max", "Min"',
        ),
        (
            {"behavior": {"scaleDown": {"policies": []}}},
            "spec.behavior.scaleDown.policies",
            "Required value: must specify at least one Policy",
        ),
    ],
)
def test_validation_messages(spec: dict[str, Any], field: str, message: str) -> None:
    causes = validate(_with(**spec))
    assert (field, message) in [(c.field, c.message) for c in causes], causes
