"""`tidal simulate` with the KPA: requests held while a Service has no ready pod (the router's
hold, cold start = startupSeconds), scale from zero on the poke, scale to zero after the grace
period, and HPA vs KPA on the same trace. Expected numbers are derived in the comments."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path
from typing import Any

import pytest

from tidal.cli.env import Env
from tidal.cli.main import main as tidal_main
from tidal.sim.plugin import Record
from tidal.sim.requests import RequestFlow
from tidal.sim.run import simulate
from tidal.sim.scenario import ScenarioError, load_scenario, parse_scenario
from tidal.sim.summary import Summary

EXAMPLES = Path(__file__).parents[2] / "examples" / "sim"
K = "autoscaling.knative.dev/"


@pytest.mark.parametrize(
    ("rps", "ready", "timeout", "arrived", "held", "waited", "max_wait", "timed_out"),
    [
        # 0.5 req/s: a whole request every second tick (the running sum is floored)
        ([0.5] * 4, [1] * 4, None, 2, 0, 0.0, 0.0, 0),
        # held while no pod is ready (t=0,1,2), forwarded at t=3: waits 3+2+1
        ([1, 1, 1, 0], [0, 0, 0, 1], None, 3, 3, 6.0, 3.0, 0),
        # the same with a 2 s hold timeout: the one of t=0 gets the router's 503 at t=2
        ([1, 1, 1, 0], [0, 0, 0, 1], 2, 3, 3, 3.0, 2.0, 1),
        ([2, 0, 0, 0], [0, 0, 0, 1], 2, 2, 2, 0.0, 0.0, 2),
    ],
)
def test_request_flow_holds_and_forwards(
    rps: list[float],
    ready: list[int],
    timeout: float | None,
    arrived: int,
    held: int,
    waited: float,
    max_wait: float,
    timed_out: int,
) -> None:
    flow = RequestFlow("default", "web", hold_timeout_s=timeout)
    for t, (r, n) in enumerate(zip(rps, ready, strict=True)):
        flow.step(1000.0 + t, float(t), 1.0, r, r * 0.5, n)
    tot = flow.totals
    assert (tot.requests, tot.held, tot.waited_s, tot.max_wait_s, tot.timed_out) == (
        arrived,
        held,
        waited,
        max_wait,
        timed_out,
    )


def test_request_flow_buckets_are_the_routers() -> None:
    """Held requests count as in flight; requests land in their second's bucket."""
    flow = RequestFlow("default", "web")
    flow.step(1000.0, 0.0, 1.0, 3, 0, 0)  # 3 held
    flow.step(1001.0, 1.0, 1.0, 2, 1.5, 2)  # forwarded; 1.5 in flight on 2 pods
    load = flow.load()
    assert [(b.t, b.requests, b.concurrency) for b in load.buckets] == [
        (1000, 3, 3.0),
        (1001, 2, 1.5),
    ]
    assert (load.held, load.ready_endpoints, load.requests_total) == (0, 2, 5)


def _kpa_scenario(**over: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "duration": 300,
        "profile": "fast",
        "kpa": {"stable-window": "10s", "scale-to-zero-grace-period": "10s"},
        "deployments": [
            {
                "name": "web",
                "replicas": 0,
                "startupSeconds": 3,
                "load": {
                    "rps": "10 if 20 <= t < 80 else 0",
                    "concurrency": "4 if 20 <= t < 80 else 0",
                },
            }
        ],
        "objects": [
            {
                "apiVersion": "autoscaling.internal.knative.dev/v1alpha1",
                "kind": "PodAutoscaler",
                "metadata": {
                    "name": "web",
                    "annotations": {K + "target": "2", K + "min-scale": "0"},
                },
                "spec": {
                    "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}
                },
            }
        ],
    }
    data.update(over)
    return data


def _run(data: dict[str, Any]) -> tuple[list[Record], Summary]:
    return asyncio.run(simulate(parse_scenario(data)))


def test_scale_from_zero_on_the_poke_and_back_to_zero() -> None:
    records, summary = _run(_kpa_scenario())
    kpa = [r for r in records if r.controller == "kpa"]
    first_up = next(r for r in kpa if r.desired > r.current)
    # the first request (t=20) is held and pokes the KPA: a decision at once, not on a tick
    assert (first_up.t, first_up.current) == (20, 0)
    assert "poked by a held request" in first_up.reason
    # the pod is created on the next tick (21) and is ready 3 s later (24): requests of t=20..23
    # are held, 10 per second, and wait 4, 3, 2, 1 s
    req = summary.requests["web"]
    assert (req.requests, req.held, req.waited_s, req.max_wait_s) == (600, 40, 100.0, 4.0)
    # steady state: 4 in flight at target 2 × 70 % = 1.4 per pod -> ceil(4 / 1.4) = 3 pods
    steady = [r for r in kpa if 40 <= r.t < 80 and r.desired != r.current]
    assert [r.desired for r in kpa if r.t < 80][-1] == 3 and not steady
    # to zero once a stable window (10 s) has seen no traffic; the grace period is counted from
    # when the router entered the path, which with the default target-burst-capacity (211) it
    # did long before, so it does not add to the wait here
    last = kpa[-1]
    assert (last.current, last.desired, last.reason) == (1, 0, "NoTraffic")
    assert 80 + 10 <= last.t <= 80 + 10 + 2
    assert summary.requests["web"].held == 40  # and nothing held after the burst
    assert summary.max_replicas["web"] >= 3


def test_grace_period_counts_from_when_the_router_entered_the_path() -> None:
    """With target-burst-capacity 0 the router leaves the path while pods serve; it comes back
    when the PodAutoscaler goes inactive, and the last pod goes a grace period (10 s) later."""
    data = _kpa_scenario()
    data["kpa"]["target-burst-capacity"] = "0"
    records, _ = _run(data)
    kpa = [r for r in records if r.controller == "kpa"]
    inactive = next(r for r in kpa if r.reason == "NoTraffic")
    assert (inactive.current, inactive.desired) == (1, 1)
    assert (kpa[-1].current, kpa[-1].desired) == (1, 0)
    assert kpa[-1].t == inactive.t + 10


def test_held_requests_time_out_with_a_long_cold_start() -> None:
    data = _kpa_scenario()
    data["deployments"][0].update(startupSeconds=30, holdTimeoutSeconds=10)
    _, summary = _run(data)
    # pod ready at 20 + 1 + 30 = 51: requests of t=20..40 are held over 10 s when t=30..50
    req = summary.requests["web"]
    assert req.timed_out == 10 * 21
    assert req.max_wait_s == 10  # the ones forwarded at 51 arrived at 41 or later


def test_inference_service_with_knative_annotations_becomes_a_podautoscaler() -> None:
    data = _kpa_scenario()
    data["deployments"][0]["name"] = "iris0-predictor"
    data["objects"] = [
        {
            "apiVersion": "serving.kserve.io/v1beta1",
            "kind": "InferenceService",
            "metadata": {"name": "iris0", "annotations": {K + "target": "2"}},
            "spec": {
                "predictor": {"minReplicas": 0, "maxReplicas": 2, "scaleMetric": "concurrency"}
            },
        }
    ]
    records, summary = _run(data)
    kpa = [r for r in records if r.controller == "kpa"]
    assert {r.name for r in kpa} == {"iris0-predictor"}
    assert max(r.desired for r in kpa) == 2  # maxReplicas → max-scale 2 (4 / 1.4 would want 3)
    assert summary.kpa_above_target_s["iris0-predictor"] > 0


def test_hpa_scales_from_zero_on_the_routers_held_requests() -> None:
    """An HPA that scaled itself to zero (HPAScaleToZero) comes back on the Service's
    `router_held_requests` Object metric."""
    data = _kpa_scenario(duration=700, settings={"scaleToZero": True})
    data["deployments"][0].update(replicas=1)
    data["deployments"][0]["load"] = {
        "rps": "5 if 400 <= t < 440 else 0",
        "concurrency": "2 if 400 <= t < 440 else 0",
    }
    data["objects"] = [
        {
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "web"},
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                "minReplicas": 0,
                "maxReplicas": 5,
                "metrics": [
                    {
                        "type": "Object",
                        "object": {
                            "describedObject": {
                                "apiVersion": "v1",
                                "kind": "Service",
                                "name": "web",
                            },
                            "metric": {"name": "router_held_requests"},
                            "target": {"type": "Value", "value": "1"},
                        },
                    },
                    {
                        "type": "Pods",
                        "pods": {
                            "metric": {"name": "router_concurrency"},
                            "target": {"type": "AverageValue", "averageValue": "1"},
                        },
                    },
                ],
            },
        }
    ]
    records, summary = _run(data)
    moves = [(r.t, r.current, r.desired) for r in records if r.desired != r.current]
    assert moves[0] == (301, 1, 0)  # idle: to zero after the default 300 s stabilization
    assert moves[1][:2] == (400, 0)  # the first held request brings it back
    assert "router_held_requests above target" in records[[r.t for r in records].index(400)].reason
    assert summary.requests["web"].held > 0


def test_kpa_vs_hpa_example_compares_cost_and_waits() -> None:
    _, summary = asyncio.run(simulate(load_scenario(EXAMPLES / "kpa-vs-hpa.yaml")))
    kpa, hpa = summary.requests["web-kpa-predictor"], summary.requests["web-hpa-predictor"]
    # the same trace: 20 req/s for 120 s and 4 req/s for 80 s
    assert kpa.requests == hpa.requests == 20 * 120 + 4 * 80
    # the HPA keeps a pod: nothing held; the KPA holds 4 s of each burst's first requests
    # (poke at the first one, pod created next tick, ready 3 s later)
    assert hpa.held == 0
    assert (kpa.held, kpa.max_wait_s) == (20 * 4 + 4 * 4, 4)
    assert kpa.waited_s == 20 * (4 + 3 + 2 + 1) + 4 * (4 + 3 + 2 + 1)
    # and pays for fewer replica-seconds (zero pods while idle)
    assert (
        summary.replica_seconds["web-kpa-predictor"] < summary.replica_seconds["web-hpa-predictor"]
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"kpa": {"stable-window": "1s"}}, "kpa: "),
        ({"kpa": {"no-such-key": "1"}}, None),  # unknown config keys are ignored, as Knative does
    ],
)
def test_kpa_settings(change: dict[str, Any], message: str | None) -> None:
    if message is None:
        parse_scenario(_kpa_scenario(**change))
        return
    with pytest.raises(ScenarioError, match=message):
        parse_scenario(_kpa_scenario(**change))


def test_invalid_kpa_objects_name_the_field() -> None:
    data = _kpa_scenario()
    data["objects"][0]["metadata"]["annotations"][K + "window"] = "2s"
    with pytest.raises(
        ScenarioError, match=r'PodAutoscaler "web" is invalid: metadata.annotations'
    ):
        _run(data)
    data = _kpa_scenario()
    data["objects"] = [
        {
            "kind": "InferenceService",
            "metadata": {"name": "web"},
            "spec": {"predictor": {"minReplicas": 1, "maxReplicas": 2}},
        }
    ]
    with pytest.raises(ScenarioError, match='InferenceService "web" does not use the KPA'):
        _run(data)


def test_every_example_is_deterministic() -> None:
    for path in sorted(EXAMPLES.glob("*.yaml")):
        outs = []
        for _ in range(2):
            env = Env(io.StringIO(), io.StringIO(), io.StringIO())
            assert tidal_main(["simulate", str(path), "-o", "json"], env) == 0, path
            outs.append(env.stdout.getvalue())
        assert outs[0] == outs[1], path
