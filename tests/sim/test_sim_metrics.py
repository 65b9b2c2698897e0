"""`tidal simulate` custom and GPU metrics: Pods metrics (e.g. DCGM_CUSTOM_PROCESS_SM_UTIL,
vllm:num_requests_waiting) and Object metrics over time, served through the custom metrics API
paths the HPA controller reads."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from tidal.api.errors import NotFound
from tidal.sim.metrics import SimMetrics
from tidal.sim.run import simulate
from tidal.sim.scenario import ScenarioError, load_scenario, parse_scenario

EXAMPLES = Path(__file__).parents[2] / "examples" / "sim"
CM = "/apis/custom.metrics.k8s.io/v1beta2/namespaces/default"


def _pods(_ns: str, selector: str | None) -> list[str]:
    """q-0 and q-1 have app=q; other-0 has app=other."""
    names = {"q-0": "q", "q-1": "q", "other-0": "other"}
    want = (selector or "").removeprefix("app=")
    return [n for n, app in names.items() if not selector or app == want]


def _metrics() -> SimMetrics:
    m = SimMetrics(_pods, 1.0, 2.0, lambda ns, name: ["q-0", "q-1"] if name == "q" else [])
    for now in (100.0, 101.0):
        m.record(now, "default", "q-0", (0.1, 0.0, {"gpu": 30.0}))
        m.record(now, "default", "q-1", (0.1, 0.0, {"gpu": 50.0}))
        m.record_object(now, "default", "services", "q", {"vllm:num_requests_waiting": now - 99})
    m.maybe_publish(101.0)
    return m


@pytest.mark.parametrize(
    ("path", "params", "values"),
    [
        (f"{CM}/pods/*/gpu", {"labelSelector": "app=q"}, {"q-0": "30000m", "q-1": "50000m"}),
        (f"{CM}/pods/q-1/gpu", None, {"q-1": "50000m"}),
        # Object metrics: the scenario's value (window average of 1 and 2), and a Deployment's
        # sum over its pods
        (f"{CM}/services/q/vllm:num_requests_waiting", None, {"q": "1500m"}),
        (f"{CM}/deployments/q/gpu", None, {"q": "80000m"}),
    ],
)
def test_custom_metrics_paths(
    path: str, params: dict[str, str] | None, values: dict[str, str]
) -> None:
    body = _metrics()(path, params)
    assert body["kind"] == "MetricValueList"
    assert {i["describedObject"]["name"]: i["value"] for i in body["items"]} == values


def test_unknown_object_metric_is_not_found() -> None:
    with pytest.raises(NotFound):
        _metrics()(f"{CM}/services/q/nope", None)
    with pytest.raises(NotFound):
        _metrics()(f"{CM}/services/elsewhere/vllm:num_requests_waiting", None)


def test_gpu_example_scales_on_the_pods_metric() -> None:
    records, summary = asyncio.run(simulate(load_scenario(EXAMPLES / "gpu-metric.yaml")))
    moves = [(r.t, r.current, r.desired, r.reason) for r in records if r.desired != r.current]
    # load from t=60: 140 % of a GPU on one pod (capped at 100) over target 50 -> 2 (max 2); the
    # 15 s metrics window first averages it in at 75
    assert moves[0] == (75, 1, 2, "pods metric DCGM_CUSTOM_PROCESS_SM_UTIL above target")
    # idle from 300: down after the 300 s stabilization window
    assert moves[1][:3] == (615, 2, 1)
    assert len(moves) == 2
    # above target for the whole burst: 100 % on one pod, then 70 % each on two
    assert summary.above_target_s["qwen-hpa"] == 300 - 60
    # t=90: the second pod is still starting (30 s): 8 waiting on one pod (16 - 8*1);
    # t=135: two pods share the GPU work (70 % each) and the queue is empty (16 - 8*2)
    at = {r.t: r.metrics for r in records}
    assert (at[90], at[135]) == ("100/50, 8/5", "70/50, 0/5")


def _object_only(value: str, duration: int = 120) -> dict[str, Any]:
    return {
        "duration": duration,
        "profile": "fast",
        "deployments": [{"name": "q", "replicas": 1, "load": {"cpu": "0.01"}}],
        "objectMetrics": [
            {"kind": "Service", "name": "q", "metrics": {"vllm:num_requests_waiting": value}}
        ],
        "objects": [
            {
                "apiVersion": "autoscaling/v2",
                "kind": "HorizontalPodAutoscaler",
                "metadata": {"name": "q"},
                "spec": {
                    "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "q"},
                    "minReplicas": 1,
                    "maxReplicas": 8,
                    "metrics": [
                        {
                            "type": "Object",
                            "object": {
                                "describedObject": {
                                    "apiVersion": "v1",
                                    "kind": "Service",
                                    "name": "q",
                                },
                                "metric": {"name": "vllm:num_requests_waiting"},
                                "target": {"type": "AverageValue", "averageValue": "4"},
                            },
                        }
                    ],
                },
            }
        ],
    }


@pytest.mark.parametrize(
    ("value", "final"),
    [
        ("20", 5),  # 20 waiting / 4 per pod
        ("12 if t >= 30 else 0", 3),
        ("0", 1),
    ],
)
def test_object_metric_drives_the_hpa(value: str, final: int) -> None:
    records, summary = asyncio.run(simulate(parse_scenario(_object_only(value))))
    assert records[-1].desired == final
    ups = [r for r in records if r.desired > r.current]
    # Kubernetes names an AverageValue Object metric this way (computeStatusForObjectMetric)
    assert all(
        r.reason == "external metric vllm:num_requests_waiting(nil) above target" for r in ups
    )
    assert summary.max_replicas["q"] == final


@pytest.mark.parametrize(
    ("entry", "field"),
    [
        ({"name": "q", "metrics": {"m": "1"}}, "objectMetrics[0].kind"),
        ({"kind": "Service", "name": "q"}, "objectMetrics[0].metrics"),
        ({"kind": "Service", "name": "q", "metrics": {"m": "q.x"}}, "objectMetrics[0].metrics.m"),
    ],
)
def test_bad_object_metrics_name_the_field(entry: dict[str, Any], field: str) -> None:
    data = _object_only("1")
    data["objectMetrics"] = [entry]
    with pytest.raises(ScenarioError) as err:
        parse_scenario(data)
    assert str(err.value).startswith(field)
