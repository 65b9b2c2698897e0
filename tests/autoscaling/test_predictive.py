"""Predictive scaling, the pure parts: history, forecast, demand from the HPA's status, floor,
admission. Tables of cases."""

from __future__ import annotations

import math

import pytest

from tidal.autoscaling.predictive import (
    History,
    decide_floor,
    forecast,
    needed_replicas,
    params_of,
    record,
)
from tidal.autoscaling.predictive.history import BUCKET_S, RETENTION_S, at
from tidal.validation import predictive as admission

DAY = 86400.0
WEEK = 7 * DAY


def series(values: list[tuple[float, float]], recent_s: float = 300) -> History:
    h = History()
    for t, v in values:
        h = record(h, t, v, recent_s=recent_s)
    return h


def test_history_is_bounded_and_buckets_are_means() -> None:
    h = series([(float(t), float(t % 7)) for t in range(0, 40 * 86400, 600)])
    assert len(h.buckets) <= RETENTION_S / BUCKET_S + 1
    assert all(h.samples[-1][0] - t <= 600 for t, _ in h.samples)  # at least 10 min kept
    h2 = series([(0, 1.0), (100, 3.0), (200, 5.0), (300, 10.0)])
    assert h2.buckets == ((0.0, 3.0, 3), (300.0, 10.0, 1))
    assert record(h2, 250, 99.0, recent_s=300) == h2  # a sample from the past is ignored
    assert History.from_dict(h2.to_dict()) == h2
    assert History.from_dict({"samples": [[1, "x"], [2, 3]], "buckets": [["a"]]}).samples == (
        (2.0, 3.0),
    )


@pytest.mark.parametrize(
    ("t", "want"),
    [
        (150.0, 3.0),  # the middle of the first bucket
        (300.0, 6.5),  # half way between the two bucket middles
        (450.0, 10.0),
        (-10.0, None),
        (700.0, None),
    ],
)
def test_buckets_interpolate(t: float, want: float | None) -> None:
    h = series([(0, 1.0), (100, 3.0), (200, 5.0), (300, 10.0)])
    got = at(h, t)
    assert got == (None if want is None else pytest.approx(want))


def _fc(h: History, now: float, ahead: float = 30, q: float = 50.0, periods=()):
    return forecast(h, now, ahead, trend_window_s=300, quantile=q, periods=periods)


# (name, samples, now, ahead, quantile, periods, expected value, method)
CASES = [
    ("no samples", [], 100, 30, 90, (), None, None),
    ("one sample: its value", [(100, 4.0)], 100, 30, 90, (), 4.0, "level"),
    ("flat: the level", [(t, 3.0) for t in range(0, 301, 15)], 300, 30, 90, (), 3.0, "level"),
    (
        "a ramp continues: +1/min for 30 s ahead",
        [(t, t / 60) for t in range(0, 301, 15)],
        300,
        30,
        50,
        (),
        5.5,
        "level+trend",
    ),
    (
        "a falling ramp falls",
        [(t, 10 - t / 60) for t in range(0, 301, 15)],
        300,
        60,
        50,
        (),
        4.0,
        "level+trend",
    ),
    (
        "no trend from less than half the window",
        [(t, t / 60) for t in range(0, 121, 15)],
        120,
        30,
        50,
        (),
        2.0,
        "level",
    ),
    (
        "no extrapolation over the gap since the last sample",
        [(t, t / 60) for t in range(0, 301, 15)],
        320,
        30,
        50,
        (),
        5.5,
        "level+trend",
    ),
    (
        "only the trend window counts",
        [(0, 100.0)] + [(t, 2.0) for t in range(400, 701, 15)],
        700,
        30,
        90,
        (),
        2.0,
        "level",
    ),
]


@pytest.mark.parametrize(
    ("name", "samples", "now", "ahead", "q", "periods", "want", "method"),
    CASES,
    ids=[c[0] for c in CASES],
)
def test_forecast_table(name, samples, now, ahead, q, periods, want, method) -> None:
    fc = forecast(series(samples), now, ahead, trend_window_s=300, quantile=q, periods=periods)
    if want is None:
        assert fc is None
        return
    assert fc is not None
    assert fc.value == pytest.approx(want, abs=1e-6)
    assert fc.method == method


def test_margin_grows_with_noise_and_quantile() -> None:
    noisy = series([(t, 5.0 + (1 if (t // 15) % 2 else -1)) for t in range(0, 301, 15)])
    f50, f90, f99 = (_fc(noisy, 300, q=q) for q in (50, 90, 99))
    assert f50 is not None and f90 is not None and f99 is not None
    assert f50.margin == 0
    assert 0 < f90.margin < f99.margin
    assert f90.value == pytest.approx(f90.point + f90.margin)


def test_daily_pattern_is_seen_a_day_ahead() -> None:
    """Yesterday demand rose from 2 to 10 at 09:00; today the level is 2 at 08:58: the daily
    forecast 5 minutes ahead is the rise yesterday, which the flat trend cannot see."""

    def demand(t: float) -> float:
        return 10.0 if (t % DAY) >= 9 * 3600 else 2.0

    start = 8 * 3600.0
    samples = [(start + t, demand(start + t)) for t in range(0, 2 * 3600, 60)]
    samples += [(DAY + start + t, 2.0) for t in range(0, 3480, 60)]  # today until 08:58
    h = series(samples)
    now = DAY + start + 3480
    trend_only = _fc(h, now, ahead=300)
    daily = _fc(h, now, ahead=300, periods=(("daily", DAY), ("weekly", WEEK)))
    assert trend_only is not None and daily is not None
    assert trend_only.value == pytest.approx(2.0)
    assert daily.method == "level+daily"  # no week of history: weekly is not used
    assert daily.value > 5.0
    assert dict(daily.seasonal)["daily"] > 3.0


HPA_SPEC = {
    "minReplicas": 1,
    "maxReplicas": 10,
    "metrics": [
        {
            "type": "Pods",
            "pods": {
                "metric": {"name": "router_concurrency"},
                "target": {"type": "AverageValue", "averageValue": "4"},
            },
        },
        {
            "type": "Resource",
            "resource": {
                "name": "cpu",
                "target": {"type": "Utilization", "averageUtilization": 50},
            },
        },
    ],
}


def _pods(v: str) -> dict:
    return {
        "type": "Pods",
        "pods": {"metric": {"name": "router_concurrency"}, "current": {"averageValue": v}},
    }


def _cpu(u: int) -> dict:
    return {"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": u}}}


@pytest.mark.parametrize(
    ("status", "want"),
    [
        ({}, None),
        ({"currentReplicas": 3}, None),  # not measured yet
        ({"currentReplicas": 3, "currentMetrics": [_pods("6")]}, 4.5),
        ({"currentReplicas": 3, "currentMetrics": [_pods("2500m"), _cpu(100)]}, 6.0),
        ({"currentReplicas": 2, "currentMetrics": [_pods("0")]}, 0.0),
    ],
)
def test_needed_replicas(status: dict, want: float | None) -> None:
    got = needed_replicas({"spec": HPA_SPEC, "status": status})
    assert got == (None if want is None else pytest.approx(want))


def test_needed_replicas_object_value() -> None:
    spec = {
        "metrics": [
            {
                "type": "Object",
                "object": {
                    "metric": {"name": "q"},
                    "describedObject": {"kind": "Service", "name": "s"},
                    "target": {"type": "Value", "value": "10"},
                },
            }
        ]
    }
    cur = {"type": "Object", "object": {"metric": {"name": "q"}, "current": {"value": "25"}}}
    assert needed_replicas(
        {"spec": spec, "status": {"currentReplicas": 2, "currentMetrics": [cur]}}
    ) == pytest.approx(5.0)


@pytest.mark.parametrize(
    ("value", "base", "hpa_max", "floor", "says"),
    [
        (None, 2, 10, 2, "no samples yet"),
        (0.4, 1, 10, 1, "(the HPA's own)"),
        (3.0, 1, 10, 3, "floor 3"),
        (3.01, 1, 10, 4, "floor 4"),
        (42.0, 1, 10, 10, "capped at the HPA's maxReplicas 10"),
        (3.0, 5, 10, 5, "(the HPA's own)"),
    ],
)
def test_decide_floor(value: float | None, base: int, hpa_max: int, floor: int, says: str) -> None:
    fc = None if value is None else _fc(series([(0, value)]), 0)
    d = decide_floor(fc, base=base, hpa_max=hpa_max)
    assert d.floor == floor and d.base == base
    assert says in d.reason


def _obj(spec: object) -> dict:
    return {
        "apiVersion": "autoscaling.tidal.dev/v1alpha1",
        "kind": "PredictiveHorizontalPodAutoscaler",
        "metadata": {"name": "p"},
        "spec": spec,
    }


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        (None, "spec"),
        ({}, "spec.hpaRef"),
        ({"hpaRef": {}}, "spec.hpaRef.name"),
        ({"hpaRef": {"name": "Bad_Name"}}, "spec.hpaRef.name"),
        ({"hpaRef": {"name": "h"}, "scaleStrategy": "proactive"}, "spec.scaleStrategy"),
        ({"hpaRef": {"name": "h"}, "minReplicas": -1}, "spec.minReplicas"),
        ({"hpaRef": {"name": "h"}, "prediction": {"quantile": 100}}, "spec.prediction.quantile"),
        (
            {"hpaRef": {"name": "h"}, "prediction": {"scaleUpForward": 1.5}},
            "spec.prediction.scaleUpForward",
        ),
        (
            {"hpaRef": {"name": "h"}, "prediction": {"trendWindow": 0}},
            "spec.prediction.trendWindow",
        ),
        (
            {"hpaRef": {"name": "h"}, "prediction": {"seasons": ["hourly"]}},
            "spec.prediction.seasons[0]",
        ),
        ({"hpaRef": {"name": "h"}, "prediction": {"colour": 1}}, "spec.prediction.colour"),
    ],
)
def test_admission_names_the_field(spec: object, field: str) -> None:
    causes = admission.validate(_obj(spec))
    assert [c.field for c in causes] == [field]


def test_defaults_and_params() -> None:
    obj = admission.default(_obj({"hpaRef": {"name": "h"}, "prediction": {"quantile": 95}}))
    assert admission.validate(obj) == []
    assert obj["spec"]["scaleStrategy"] == "auto"
    p = params_of(obj["spec"])
    assert (p.hpa, p.quantile, p.scale_up_forward_s, p.trend_window_s) == ("h", 95.0, 30.0, 300.0)
    assert p.min_replicas is None and p.seasons == ("daily", "weekly")
    assert not math.isnan(p.periods[0][1])
