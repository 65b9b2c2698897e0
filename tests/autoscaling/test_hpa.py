"""Table tests of the pure HPA decision beyond the acceptance cases: selectors, zero replicas,
history persistence, failure paths, status formatting. Arithmetic in the comments."""

from __future__ import annotations

import pytest

from tidal.autoscaling.hpa import (
    History,
    Inputs,
    MetricData,
    Pod,
    Sample,
    Scale,
    ScaleEvent,
    decide,
    rescale_failed,
)
from tidal.autoscaling.hpa.normalize import store_scale_event
from tidal.autoscaling.hpa.spec import go_selector

NOW = 1_000_000.0
CPU50 = {
    "type": "Resource",
    "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}},
}
MEM = {
    "type": "Resource",
    "resource": {"name": "memory", "target": {"type": "AverageValue", "averageValue": "4Gi"}},
}


def _pods(n: int, res: str = "cpu", request: int = 1000) -> tuple[Pod, ...]:
    return tuple(
        Pod(
            f"p{i}",
            start_time=NOW - 3600,
            ready_transition_time=NOW - 3600,
            requests={"c": {res: request}},
        )
        for i in range(n)
    )


def _inputs(
    metrics: list, data: list[MetricData], replicas: int = 2, selector: str | None = "app=x", **kw
) -> Inputs:
    spec = {"minReplicas": kw.pop("min", 1), "maxReplicas": kw.pop("max", 10), "metrics": metrics}
    return Inputs(
        now=NOW,
        spec=spec,
        scale=Scale(replicas, replicas, selector),
        pods=kw.pop("pods", _pods(replicas)),
        metrics=tuple(data),
        history=kw.pop("history", History(seen=True)),
        **kw,
    )


def _cpu(*milli: int) -> MetricData:
    return MetricData(pods={f"p{i}": Sample(m, NOW) for i, m in enumerate(milli)})


def _conds(d) -> dict[str, tuple[str, str]]:
    return {c["type"]: (c["status"], c["reason"]) for c in d.status.get("conditions", [])}


def test_missing_selector_is_reported_and_nothing_scales() -> None:
    d = decide(_inputs([CPU50], [_cpu(900, 900)], selector=None))
    assert not d.rescale and d.replicas == 2
    assert _conds(d)["ScalingActive"] == ("False", "InvalidSelector")
    assert [e.reason for e in d.events] == ["SelectorRequired", "FailedComputeMetricsReplicas"]


def test_zero_replicas_without_scaled_to_zero_disables_scaling() -> None:
    d = decide(_inputs([CPU50], [_cpu()], replicas=0, pods=()))
    assert (d.replicas, d.rescale) == (0, False)
    assert _conds(d)["ScalingActive"] == ("False", "ScalingDisabled")


def test_above_max_goes_to_max_without_reading_metrics() -> None:
    d = decide(_inputs([CPU50], [MetricData(error="boom")], replicas=12, max=10))
    assert (d.replicas, d.reason) == (10, "Current number of replicas above Spec.MaxReplicas")
    assert [e.message for e in d.events] == [
        "New size: 10; reason: Current number of replicas above Spec.MaxReplicas"
    ]


def test_scale_up_with_legacy_cap() -> None:
    # util = (900+900)*100/2000 = 90 % vs 50 %: ceil(1.8*2) = 4; cap max(2*2, 4) = 4
    d = decide(_inputs([CPU50], [_cpu(900, 900)]))
    assert (d.replicas, d.rescale) == (4, True)
    assert d.status["currentMetrics"][0]["resource"]["current"] == {
        "averageUtilization": 90,
        "averageValue": "900m",
    }


def test_memory_average_value_reported_in_binary_units() -> None:
    mib = 1932 * 2**20 * 1000  # milli-bytes
    d = decide(
        _inputs(
            [MEM],
            [MetricData(pods={"p0": Sample(mib, NOW), "p1": Sample(mib, NOW)})],
            pods=_pods(2, "memory"),
        )
    )
    assert d.status["currentMetrics"][0]["resource"]["current"] == {"averageValue": "1932Mi"}
    # 1932Mi / 4Gi = 0.47: ceil(0.47*2) = 1
    assert (d.replicas, d.reason) == (1, "All metrics below target")


def test_first_sight_records_the_current_scale() -> None:
    d = decide(_inputs([CPU50], [_cpu(100, 100)], history=History()))
    assert d.history.recommendations[0] == (NOW, 2)
    assert d.replicas == 2 and _conds(d)["AbleToScale"] == ("True", "ScaleDownStabilized")


def test_history_round_trips_through_its_dict() -> None:
    h = History(True, ((1.5, 3), (2.0, 4)), (ScaleEvent(2, 1.0),), (ScaleEvent(1, 3.0),))
    assert History.from_dict(h.to_dict()) == h
    assert History.from_dict({"recommendations": [["x", 1]]}) == History()
    assert not History.from_dict(None).seen


def test_scale_events_older_than_the_longest_period_are_dropped() -> None:
    behavior = {
        "scaleUp": {"policies": [{"type": "Pods", "value": 1, "periodSeconds": 60}]},
        "scaleDown": {},
    }
    h = History(True, (), (ScaleEvent(1, NOW - 100), ScaleEvent(2, NOW - 30)), ())
    got = store_scale_event(h, behavior, 3, 5, NOW)
    assert got.scale_up_events == (ScaleEvent(2, NOW - 30), ScaleEvent(2, NOW))
    assert store_scale_event(h, None, 3, 5, NOW) == h  # legacy path keeps no events


def test_rescale_failure_keeps_desired_and_drops_the_scale_event() -> None:
    behavior = {"scaleUp": {"policies": [{"type": "Pods", "value": 10, "periodSeconds": 60}]}}
    inputs = _inputs([CPU50], [_cpu(900, 900)], status={"desiredReplicas": 2})
    inputs = Inputs(
        **{
            **{f: getattr(inputs, f) for f in inputs.__slots__},
            "spec": {**inputs.spec, "behavior": behavior},
        }
    )
    d = decide(inputs)
    assert d.rescale and d.history.scale_up_events
    failed = rescale_failed(inputs, d, "boom")
    assert (failed.replicas, failed.rescale, failed.status["desiredReplicas"]) == (2, False, 2)
    assert failed.history.scale_up_events == ()
    assert [e.reason for e in failed.events] == ["FailedRescale"]
    assert _conds(failed)["AbleToScale"] == ("False", "FailedUpdateScale")


@pytest.mark.parametrize(
    ("selector", "text"),
    [
        (None, "nil"),
        (
            {},
            "&LabelSelector{MatchLabels:map[string]string{},MatchExpressions:[]LabelSelectorRequirement{},}",
        ),
        (
            {"matchLabels": {"b": "2", "a": "1"}},
            "&LabelSelector{MatchLabels:map[string]string{a: 1,b: 2,},MatchExpressions:[]LabelSelectorRequirement{},}",
        ),
    ],
)
def test_go_selector_string(selector, text: str) -> None:
    assert go_selector(selector) == text
