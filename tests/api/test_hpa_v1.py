"""autoscaling/v1 <-> v2 HorizontalPodAutoscaler conversion, as kube-apiserver's
(pkg/apis/autoscaling/v1/conversion.go): cases, then round trips both ways."""

from __future__ import annotations

import json

import pytest

from tidal.api import hpa_v1
from tidal.api.errors import BadRequest

REF = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}
CPU50 = {
    "type": "Resource",
    "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}},
}
PODS = {
    "type": "Pods",
    "pods": {"metric": {"name": "rps"}, "target": {"type": "AverageValue", "averageValue": "10"}},
}
EXTERNAL = {
    "type": "External",
    "external": {
        "metric": {"name": "queue", "selector": {"matchLabels": {"q": "a"}}},
        "target": {"type": "Value", "value": "30"},
    },
}
OBJECT = {
    "type": "Object",
    "object": {
        "describedObject": {"apiVersion": "v1", "kind": "Service", "name": "s"},
        "metric": {"name": "hits"},
        "target": {"type": "AverageValue", "averageValue": "5"},
    },
}
MEMORY = {
    "type": "Resource",
    "resource": {"name": "memory", "target": {"type": "AverageValue", "averageValue": "100Mi"}},
}


def v2(metrics: list, **spec: object) -> dict:
    return {
        "kind": "HorizontalPodAutoscaler",
        "apiVersion": "autoscaling/v2",
        "metadata": {"name": "web", "namespace": "d"},
        "spec": {"scaleTargetRef": REF, "minReplicas": 1, "maxReplicas": 3, "metrics": metrics,
                 **spec},
    }  # fmt: skip


@pytest.mark.parametrize(
    ("metrics", "cpu", "others"),
    [
        ([CPU50], 50, None),
        ([PODS, CPU50], 50, [{"type": "Pods", "pods": {"metricName": "rps", "targetAverageValue": "10"}}]),
        ([MEMORY], None, [{"type": "Resource", "resource": {"name": "memory", "targetAverageValue": "100Mi"}}]),
        ([EXTERNAL], None, [{"type": "External", "external": {"metricName": "queue", "metricSelector": {"matchLabels": {"q": "a"}}, "targetValue": "30"}}]),
        ([OBJECT], None, [{"type": "Object", "object": {"target": {"apiVersion": "v1", "kind": "Service", "name": "s"}, "metricName": "hits", "averageValue": "5"}}]),
    ],
)  # fmt: skip
def test_to_v1(metrics: list, cpu: int | None, others: list | None) -> None:
    out = hpa_v1.to_v1(v2(metrics))
    assert out["apiVersion"] == "autoscaling/v1"
    assert out["spec"].get("targetCPUUtilizationPercentage") == cpu
    notes = out["metadata"].get("annotations") or {}
    if others is None:
        assert hpa_v1.METRICS not in notes
    else:
        assert json.loads(notes[hpa_v1.METRICS]) == others
    # and back: the same v2 metrics (cpu first, as kube-apiserver orders them)
    back = hpa_v1.to_v2(out)
    want = [m for m in metrics if m is CPU50] + [m for m in metrics if m is not CPU50]
    assert back["spec"]["metrics"] == want
    assert "annotations" not in back["metadata"]


def test_v1_without_a_metric_gets_cpu_80() -> None:
    v1 = {"apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler",
          "metadata": {"name": "x"}, "spec": {"scaleTargetRef": REF, "maxReplicas": 2}}  # fmt: skip
    out = hpa_v1.to_v2(v1)
    assert out["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"] == 80
    assert "minReplicas" not in out["spec"]


def test_status_behavior_and_conditions_round_trip() -> None:
    obj = v2([CPU50, PODS], behavior={"scaleDown": {"stabilizationWindowSeconds": 60}})
    obj["metadata"]["annotations"] = {"team": "a"}
    obj["status"] = {
        "observedGeneration": 2,
        "currentReplicas": 2,
        "desiredReplicas": 3,
        "currentMetrics": [
            {"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 70, "averageValue": "140m"}}},
            {"type": "Pods", "pods": {"metric": {"name": "rps"}, "current": {"averageValue": "12"}}},
        ],
        "conditions": [{"type": "AbleToScale", "status": "True", "reason": "ReadyForNewScale"}],
    }  # fmt: skip
    out = hpa_v1.to_v1(obj)
    assert out["status"] == {
        "observedGeneration": 2,
        "currentReplicas": 2,
        "desiredReplicas": 3,
        "currentCPUUtilizationPercentage": 70,
    }
    assert out["metadata"]["annotations"]["team"] == "a"
    back = hpa_v1.to_v2(out)
    assert back["spec"] == obj["spec"]
    assert back["status"] == obj["status"]
    assert back["metadata"]["annotations"] == {"team": "a"}


def test_a_broken_annotation_is_a_bad_request() -> None:
    v1 = {"metadata": {"annotations": {hpa_v1.METRICS: "[not json"}},
          "spec": {"scaleTargetRef": REF, "maxReplicas": 2}}  # fmt: skip
    with pytest.raises(BadRequest, match="autoscaling.alpha.kubernetes.io/metrics"):
        hpa_v1.to_v2(v1)
    with pytest.raises(BadRequest, match="must be a list"):
        hpa_v1.to_v2({"metadata": {"annotations": {hpa_v1.METRICS: "{}"}}, "spec": {}})
