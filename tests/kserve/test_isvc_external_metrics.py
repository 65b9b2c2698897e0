"""KServe's `autoScaling.metrics[]` External form rendered into the HPA tidal evaluates directly,
and the labels the external metrics API reads back (tidal.metrics.external_api)."""

from __future__ import annotations

import pytest

from tidal.kserve import render as isvc_mod
from tidal.kserve.render import hpa_metrics, render_hpa
from tidal.metrics import external_api

QUERY = 'sum(vllm:num_requests_waiting{namespace="default"})'
PROM = {"backend": "prometheus", "serverAddress": "http://prom:9090", "query": QUERY}


def isvc(metrics: list[dict]) -> dict:
    return {
        "metadata": {"name": "llm", "namespace": "default"},
        "spec": {"predictor": {"maxReplicas": 3, "autoScaling": {"metrics": metrics}}},
    }


def external(index: int, target: dict) -> dict:
    return {
        "type": "External",
        "external": {
            "metric": {
                "name": "prometheus-query",
                "selector": {
                    "matchLabels": {
                        "serving.kserve.io/inferenceservice": "llm",
                        "serving.tidal.dev/metric-index": str(index),
                    }
                },
            },
            "target": target,
        },
    }


CPU = {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization"}}}
CPU_HPA = {
    "type": "Resource",
    "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}},
}

CASES = {
    "value target": (
        [
            {
                "type": "External",
                "external": {"metric": PROM, "target": {"type": "Value", "value": 5}},
            }
        ],
        [external(0, {"type": "Value", "value": "5"})],
    ),
    "KEDA-style target without a type": (
        [{"type": "External", "external": {"metric": PROM, "target": {"value": "2"}}}],
        [external(0, {"type": "Value", "value": "2"})],
    ),
    "average value, index counts every entry": (
        [
            CPU,
            {
                "type": "External",
                "external": {
                    "metric": PROM,
                    "target": {"type": "AverageValue", "averageValue": "500m"},
                },
            },
        ],
        [CPU_HPA, external(1, {"type": "AverageValue", "averageValue": "500m"})],
    ),
    "graphite and PodMetric entries are skipped": (
        [
            {
                "type": "External",
                "external": {"metric": {"backend": "graphite", "query": "x"}, "target": {}},
            },
            {"type": "PodMetric", "podmetric": {"metric": {"backend": "opentelemetry"}}},
            CPU,
        ],
        [CPU_HPA],
    ),
}


@pytest.mark.parametrize("given,want", CASES.values(), ids=CASES.keys())
def test_external_entries_render(given: list[dict], want: list[dict]) -> None:
    assert hpa_metrics(isvc(given)) == want
    hpa = render_hpa(isvc(given))
    assert hpa is not None and hpa["spec"]["metrics"] == want


def test_names_match_the_external_metrics_api() -> None:
    assert isvc_mod.KSERVE_EXTERNAL_METRIC == external_api.KSERVE_METRIC
    assert isvc_mod.ISVC_LABEL == external_api.ISVC_LABEL
    assert isvc_mod.METRIC_INDEX_LABEL == external_api.INDEX_LABEL
