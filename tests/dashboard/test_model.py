"""The dashboard's numbers (tidal.dashboard.model): pure functions of the objects, the router's
counters and the pods' usage, checked case by case."""

from __future__ import annotations

import math

import pytest

from tidal.dashboard import model
from tidal.dashboard.model import Counters, Inputs

ROUTER_TEXT = """\
# HELP tidal_router_requests_total Requests the router answered, by service and code.
# TYPE tidal_router_requests_total counter
tidal_router_requests_total{namespace="default",service="iris",code="200"} 90
tidal_router_requests_total{namespace="default",service="iris",code="503"} 10
tidal_router_in_flight_requests{namespace="default",service="iris"} 3
tidal_router_request_duration_seconds_bucket{namespace="default",service="iris",le="0.01"} 50
tidal_router_request_duration_seconds_bucket{namespace="default",service="iris",le="0.1"} 99
tidal_router_request_duration_seconds_bucket{namespace="default",service="iris",le="+Inf"} 100
tidal_router_request_duration_seconds_sum{namespace="default",service="iris"} 2.5
"""


def test_parse_router_metrics() -> None:
    c = model.parse_router_metrics(ROUTER_TEXT)["default/iris"]
    assert c.by_code == {"200": 90.0, "503": 10.0}
    assert c.latency == {0.01: 50.0, 0.1: 99.0, math.inf: 100.0}
    assert c.total == 100 and c.non_2xx == 10
    assert model.parse_router_metrics("") == {}


@pytest.mark.parametrize(
    ("q", "buckets", "want"),
    [
        (0.5, {0.01: 50, 0.1: 100, math.inf: 100}, 0.01),  # exactly at a bound
        (0.75, {0.01: 50, 0.1: 100, math.inf: 100}, 0.055),  # interpolated inside (0.01, 0.1]
        (0.5, {0.01: 100, math.inf: 100}, 0.005),  # first bucket interpolates from 0
        (0.99, {0.01: 10, 0.1: 20, math.inf: 100}, 0.1),  # in +Inf: the largest finite bound
        (0.5, {0.01: 0, math.inf: 0}, None),  # nothing observed
        (0.5, {}, None),
    ],
)
def test_histogram_quantile(q: float, buckets: dict, want: float | None) -> None:
    got = model.histogram_quantile(q, buckets)
    assert got == (None if want is None else pytest.approx(want))


@pytest.mark.parametrize(
    ("new", "old", "dt", "want"),
    [
        (
            Counters({"200": 30, "500": 10}, {0.1: 40, math.inf: 40}),
            Counters({"200": 10, "500": 10}, {0.1: 20, math.inf: 20}),
            2.0,
            {"rps": 10.0, "errors": 0.0, "p50": 50.0, "p99": 99.0},
        ),
        (  # the router restarted: counters went down, count from zero
            Counters({"200": 4}, {0.1: 4, math.inf: 4}),
            Counters({"200": 100}, {0.1: 100, math.inf: 100}),
            1.0,
            {"rps": 4.0, "errors": 0.0, "p50": 50.0, "p99": 99.0},
        ),
        (Counters({"200": 5}), None, 1.0, {"rps": None, "errors": None, "p50": None, "p99": None}),
        (  # no requests in the interval: rates 0, no latency
            Counters({"200": 5}, {0.1: 5, math.inf: 5}),
            Counters({"200": 5}, {0.1: 5, math.inf: 5}),
            1.0,
            {"rps": 0.0, "errors": 0.0, "p50": None, "p99": None},
        ),
    ],
)
def test_rates(new: Counters, old: Counters | None, dt: float, want: dict) -> None:
    assert model.rates(new, old, dt) == want


def hpa(metrics: list | None = None, current: list | None = None) -> dict:
    return {
        "metadata": {"name": "iris", "namespace": "default"},
        "spec": {
            "scaleTargetRef": {"kind": "Deployment", "name": "iris"},
            "minReplicas": 1,
            "maxReplicas": 5,
            **({"metrics": metrics} if metrics is not None else {}),
        },
        "status": {"currentMetrics": current or []},
    }


@pytest.mark.parametrize(
    ("metrics", "current", "want"),
    [
        (
            None,  # the default: CPU at 80 %
            [{"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 12}}}],
            [{"name": "cpu", "unit": "%", "current": 12.0, "target": 80.0}],
        ),
        (
            [{"type": "Pods", "pods": {"metric": {"name": "qps"}, "target": {"type": "AverageValue", "averageValue": "500m"}}}],
            [{"type": "Pods", "pods": {"metric": {"name": "qps"}, "current": {"averageValue": "1500m"}}}],
            [{"name": "qps", "unit": "avg", "current": 1.5, "target": 0.5}],
        ),
        (
            [{"type": "External", "external": {"metric": {"name": "queue"}, "target": {"type": "Value", "value": "30"}}}],
            [],  # not measured yet
            [{"name": "queue", "unit": "value", "current": None, "target": 30.0}],
        ),
    ],
)  # fmt: skip
def test_hpa_metrics(metrics: list | None, current: list, want: list) -> None:
    assert model.hpa_metrics(hpa(metrics, current)) == want


def event(kind: str, reason: str, count: int = 1, type_: str = "Normal") -> dict:
    return {
        "metadata": {"name": "e1", "uid": "u1"},
        "involvedObject": {"kind": kind, "name": "iris", "namespace": "default"},
        "reason": reason,
        "message": "New size: 3; reason: cpu resource utilization (percentage of request) above target",
        "type": type_,
        "count": count,
        "lastTimestamp": "2026-01-02T03:04:05Z",
    }


def test_event_rows_are_decisions_of_autoscalers() -> None:
    row = model.event_row(event("HorizontalPodAutoscaler", "SuccessfulRescale", count=2))
    assert row is not None
    assert row["id"] == "u1#2" and row["kind"] == "HPA" and row["object"] == "default/iris"
    assert row["t"] == 1767323045.0 and row["reason"] == "SuccessfulRescale"
    assert model.event_row(event("Pod", "Started")) is None
    assert model.event_row(event("PodAutoscaler", "X"))["kind"] == "KPA"  # type: ignore[index]


def deployment(name: str, replicas: int, ready: int) -> dict:
    return {
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"replicas": replicas},
        "status": {"readyReplicas": ready},
    }


def pod(name: str, dep: str, phase: str = "Running", restarts: int = 0) -> dict:
    return {
        "metadata": {
            "name": name,
            "namespace": "default",
            "ownerReferences": [{"kind": "Deployment", "name": dep, "controller": True}],
        },
        "status": {
            "phase": phase,
            "containerStatuses": [{"ready": phase == "Running", "restartCount": restarts}],
        },
    }


def test_frame_joins_objects_router_and_usage() -> None:
    counters = model.parse_router_metrics(ROUTER_TEXT)
    old = {"default/iris": Counters({"200": 40, "503": 10}, {0.01: 25, 0.1: 49, math.inf: 50})}
    pa = {
        "metadata": {
            "name": "web",
            "namespace": "default",
            "annotations": {"autoscaling.knative.dev/max-scale": "4"},
        },
        "spec": {"scaleTargetRef": {"name": "web"}},
    }
    cron = {
        "metadata": {"name": "nightly", "namespace": "default"},
        "spec": {
            "scaleTargetRef": {"name": "iris"},
            "jobs": [{"targetSize": 2}, {"targetSize": 6}],
        },
    }
    f = model.frame(
        Inputs(
            now=1000.5,
            deployments=[deployment("iris", 3, 2), deployment("web", 0, 0), deployment("bare", 1, 1)],
            hpas=[hpa(None, [{"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 120}}}])],
            podautoscalers=[pa],
            cronhpas=[cron],
            pods=[pod("iris-a", "iris"), pod("iris-b", "iris", "Pending", 2), pod("lone", "gone")],
            router_stats={"default/iris": {"in_flight": 3, "held": 1, "buckets": []},
                          "default/web": {"in_flight": 4, "held": 4, "buckets": [
                              {"t": 998, "concurrency": 3.0}, {"t": 999, "concurrency": 3.0}]}},
            counters=counters,
            old_counters=old,
            counters_dt=5.0,
            usage={("default", "iris-a"): (0.25, 100 * 2**20)},
            kpa_targets={"default/web": ("concurrency", 2.0)},
        )
    )  # fmt: skip
    iris = f["services"]["default/iris"]
    assert (iris["desired"], iris["ready"], iris["in_flight"], iris["held"]) == (3, 2, 3, 1)
    assert iris["rps"] == 10.0 and iris["errors"] == 0.0 and iris["p50"] == 10.0
    assert iris["autoscaler"] == {"kind": "HPA", "name": "iris"}
    assert (iris["min"], iris["max"]) == (1, 5)
    assert iris["metrics"] == [{"name": "cpu", "unit": "%", "current": 120.0, "target": 80.0}]
    assert iris["cron"] == {"name": "nightly", "min": 2, "max": 6}
    web = f["services"]["default/web"]
    assert web["autoscaler"] == {"kind": "KPA", "name": "web"} and web["max"] == 4.0
    assert web["metrics"] == [
        {"name": "concurrency", "unit": "per pod", "current": 2.0, "target": 2.0}
    ]
    bare = f["services"]["default/bare"]
    assert bare["autoscaler"] is None and bare["rps"] is None and bare["metrics"] == []
    pods = f["pods"]["default/iris"]
    assert [(p["name"], p["phase"], p["ready"], p["restarts"]) for p in pods] == [
        ("iris-a", "Running", True, 0),
        ("iris-b", "Pending", False, 2),
    ]
    assert pods[0]["cpu_m"] == 250.0 and pods[0]["mem_mib"] == 100.0 and pods[1]["cpu_m"] is None
    assert set(f["pods"]) == {"default/iris"}  # a pod of no listed Deployment is no service's


def test_decisions_are_tagged_with_their_service() -> None:
    rows = {
        "default/iris-predictor": {"ns": "default", "autoscaler": {"kind": "HPA", "name": "iris-predictor"}},
        "default/x": {"ns": "default", "autoscaler": None, "cron": {"name": "night"}},
    }  # fmt: skip
    evs = [
        {"object": "default/iris-predictor", "reason": "SuccessfulRescale"},
        {"object": "default/night", "reason": "Succeed"},
        {"object": "other/iris-predictor", "reason": "SuccessfulRescale"},
    ]
    got = model.decisions_for(evs, rows)
    assert [(d["service"], d["reason"]) for d in got] == [
        ("default/iris-predictor", "SuccessfulRescale"),
        ("default/x", "Succeed"),
    ]


def test_dashboard_command_without_a_plane(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from tests.plane import run_cli
    from tidal.cli.commands.dashboard import has_display

    code, out, err = run_cli(tmp_path, "dashboard")
    assert code == 1 and out == "" and "run `tidal up` first" in err
    assert has_display({"DISPLAY": ":0"}, "linux") and has_display({}, "darwin")
    assert not has_display({}, "linux")
