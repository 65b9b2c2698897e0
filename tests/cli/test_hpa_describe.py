"""`describe hpa` and the TARGETS cell against the seed's kubectl outputs, letter for letter."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest

from tests.seed_outputs import SEED_IRIS, SEED_QWEN
from tidal.api.events import make_event
from tidal.api.hpa_format import format_targets, qty, table_row
from tidal.api.meta import parse_time
from tidal.cli.describe.hpa import describe_hpa


@pytest.fixture
def shanghai() -> Iterator[None]:
    """kubectl prints times in the local zone; the seed ran at +0800."""
    old = os.environ.get("TZ")
    os.environ["TZ"] = "Asia/Shanghai"
    time.tzset()
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = old
        time.tzset()


def _cond(type_: str, status: str, reason: str, message: str) -> dict:
    return {"type": type_, "status": status, "reason": reason, "message": message}


def _events(hpa: dict, now: float, rows: list[tuple[int, str]]) -> list[dict]:
    return [
        make_event(
            hpa,
            "SuccessfulRescale",
            msg,
            now=now - minutes * 60,
            component="horizontal-pod-autoscaler",
        )
        for minutes, msg in rows
    ]


def test_describe_matches_the_seed_sklearn_iris(shanghai: None) -> None:
    hpa = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {
            "name": "sklearn-iris-predictor",
            "namespace": "default",
            "creationTimestamp": "2024-05-11T09:15:47Z",
            "labels": {
                "app": "isvc.sklearn-iris-predictor",
                "arena.kubeflow.org/uid": "3399d840e8b371ed7ca45dda29debeb1",
                "chart": "kserve-0.1.0",
                "component": "predictor",
                "heritage": "Helm",
                "release": "sklearn-iris",
                "serving.kserve.io/inferenceservice": "sklearn-iris",
                "servingName": "sklearn-iris",
                "servingType": "kserve",
            },
            "annotations": {
                "arena.kubeflow.org/username": "kubecfg:certauth:admin",
                "serving.kserve.io/deploymentMode": "RawDeployment",
            },
        },
        "spec": {
            "scaleTargetRef": {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "name": "sklearn-iris-predictor",
            },
            "minReplicas": 1,
            "maxReplicas": 10,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": 10},
                    },
                }
            ],
            "behavior": {
                "scaleUp": {
                    "stabilizationWindowSeconds": 0,
                    "selectPolicy": "Max",
                    "policies": [
                        {"type": "Pods", "value": 4, "periodSeconds": 15},
                        {"type": "Percent", "value": 100, "periodSeconds": 15},
                    ],
                },
                "scaleDown": {
                    "selectPolicy": "Max",
                    "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}],
                },
            },
        },
        "status": {
            "currentReplicas": 10,
            "desiredReplicas": 10,
            "currentMetrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "current": {"averageUtilization": 0, "averageValue": "2m"},
                    },
                }
            ],
            "conditions": [
                _cond(
                    "AbleToScale",
                    "True",
                    "ScaleDownStabilized",
                    "recent recommendations were higher than current one, applying the highest recent recommendation",
                ),
                _cond(
                    "ScalingActive",
                    "True",
                    "ValidMetricFound",
                    "the HPA was able to successfully calculate a replica count from cpu resource utilization (percentage of request)",
                ),
                _cond(
                    "ScalingLimited",
                    "False",
                    "DesiredWithinRange",
                    "the desired count is within the acceptable range",
                ),
            ],
        },
    }
    now = parse_time("2024-05-11T10:00:00Z") or 0.0
    events = _events(
        hpa,
        now,
        [
            (
                38,
                "New size: 8; reason: cpu resource utilization (percentage of request) above target",
            ),
            (28, "New size: 7; reason: All metrics below target"),
            (27, "New size: 1; reason: All metrics below target"),
        ],
    )
    assert describe_hpa(hpa, events, now) == SEED_IRIS
    assert format_targets(hpa) == "cpu: 0%/10%"
    assert table_row(hpa, now) == [
        "sklearn-iris-predictor",
        "Deployment/sklearn-iris-predictor",
        "cpu: 0%/10%",
        "1",
        "10",
        "10",
        "44m",
    ]


def test_describe_matches_the_seed_qwen_pods_metric(shanghai: None) -> None:
    hpa = {
        "metadata": {
            "name": "qwen-hpa",
            "namespace": "default",
            "creationTimestamp": "2024-05-14T06:57:03Z",
        },
        "spec": {
            "scaleTargetRef": {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "name": "qwen-predictor",
            },
            "minReplicas": 1,
            "maxReplicas": 2,
            "metrics": [
                {
                    "type": "Pods",
                    "pods": {
                        "metric": {"name": "DCGM_CUSTOM_PROCESS_SM_UTIL"},
                        "target": {"type": "AverageValue", "averageValue": "50"},
                    },
                }
            ],
        },
        "status": {
            "currentReplicas": 1,
            "desiredReplicas": 1,
            "currentMetrics": [
                {
                    "type": "Pods",
                    "pods": {
                        "metric": {"name": "DCGM_CUSTOM_PROCESS_SM_UTIL"},
                        "current": {"averageValue": "0"},
                    },
                }
            ],
            "conditions": [
                _cond(
                    "AbleToScale",
                    "True",
                    "ReadyForNewScale",
                    "recommended size matches current size",
                ),
                _cond(
                    "ScalingActive",
                    "True",
                    "ValidMetricFound",
                    "the HPA was able to successfully calculate a replica count from pods metric DCGM_CUSTOM_PROCESS_SM_UTIL",
                ),
                _cond(
                    "ScalingLimited",
                    "True",
                    "TooFewReplicas",
                    "the desired replica count is less than the minimum replica count",
                ),
            ],
        },
    }
    now = parse_time("2024-05-14T08:00:00Z") or 0.0
    events = _events(
        hpa,
        now,
        [
            (43, "New size: 2; reason: pods metric DCGM_CUSTOM_PROCESS_SM_UTIL above target"),
            (34, "New size: 1; reason: All metrics below target"),
        ],
    )
    assert describe_hpa(hpa, events, now) == SEED_QWEN
    assert format_targets(hpa) == "0/50"


def test_metrics_lines_and_targets_for_every_source() -> None:
    spec = {
        "scaleTargetRef": {"kind": "Deployment", "name": "d"},
        "maxReplicas": 3,
        "metrics": [
            {
                "type": "Resource",
                "resource": {
                    "name": "memory",
                    "target": {"type": "AverageValue", "averageValue": "4Gi"},
                },
            },
            {
                "type": "External",
                "external": {
                    "metric": {"name": "queue"},
                    "target": {"type": "AverageValue", "averageValue": "30"},
                },
            },
            {
                "type": "Object",
                "object": {
                    "describedObject": {"kind": "Service", "name": "s"},
                    "metric": {"name": "rps"},
                    "target": {"type": "Value", "value": "1k"},
                },
            },
        ],
    }
    status = {
        "currentMetrics": [
            {
                "type": "Resource",
                "resource": {"name": "memory", "current": {"averageValue": "1932Mi"}},
            },
            {
                "type": "External",
                "external": {"metric": {"name": "queue"}, "current": {"averageValue": "30"}},
            },
        ]
    }
    hpa = {"metadata": {"name": "x", "namespace": "default"}, "spec": spec, "status": status}
    text = describe_hpa(hpa, [], 0.0)
    assert "  resource memory on pods:            1932Mi / 4Gi\n" in text
    assert '  "queue" (target average value):     30 / 30\n' in text
    assert '  "rps" on Service/s (target value):  <unknown> / 1k\n' in text
    assert "Min replicas:                         <unset>\n" in text
    assert text.endswith("Events:                               <none>\n")
    assert format_targets(hpa) == "memory: 1932Mi/4Gi, 30/30 (avg) + 1 more..."
    assert [qty("1000m"), qty("0.5"), qty("2048Mi"), qty("1500")] == ["1", "500m", "2Gi", "1500"]
