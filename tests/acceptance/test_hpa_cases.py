"""Every HPA decision case (../shared/acceptance/hpa/FORMAT.md) through the real decision code.

The cases live in tests/acceptance/hpa_cases/; set HPA_CASES_DIR to run another folder of cases
in the same format. Every key present in a case's `expect` is checked."""

from __future__ import annotations

import json
import os
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from tidal.api.quantity import milli, parse
from tidal.autoscaling.hpa import (
    Decision,
    History,
    Inputs,
    MetricData,
    Pod,
    Sample,
    Scale,
    ScaleEvent,
    Settings,
    decide,
    default_spec,
)

CASES_DIR = Path(os.environ.get("HPA_CASES_DIR") or Path(__file__).parent / "hpa_cases")
NOW = 2_000_000_000.0  # any instant; cases give times relative to it


def _load() -> list[tuple[str, dict[str, Any]]]:
    out = []
    for path in sorted(CASES_DIR.glob("*.json")):
        for n, case in enumerate(json.loads(path.read_text())):
            out.append((f"{path.stem}[{n}] {case.get('name', '')}", case))
    return out


CASES = _load()


def _settings(c: dict[str, Any]) -> Settings:
    d = Settings()
    return Settings(
        tolerance=c.get("tolerance", d.tolerance),
        cpu_initialization_period_s=c.get(
            "cpuInitializationPeriodSeconds", d.cpu_initialization_period_s
        ),
        initial_readiness_delay_s=c.get(
            "initialReadinessDelaySeconds", d.initial_readiness_delay_s
        ),
        downscale_stabilization_s=c.get(
            "downscaleStabilizationSeconds", d.downscale_stabilization_s
        ),
        scale_up_limit_factor=c.get("scaleUpLimitFactor", d.scale_up_limit_factor),
        scale_up_limit_minimum=c.get("scaleUpLimitMinimum", d.scale_up_limit_minimum),
        scale_to_zero=c.get("scaleToZero", d.scale_to_zero),
    )


def _pods(case: dict[str, Any], container: str) -> tuple[Pod, ...]:
    pods = []
    for p in case.get("pods") or ():
        started = p.get("startedSecondsAgo", 1e9)
        transition = p.get("readyTransitionSecondsAgo", started)
        requests = {k: milli(v) for k, v in (p.get("requests") or {}).items()}
        pods.append(
            Pod(
                name=p["name"],
                phase=p.get("phase", "Running"),
                ready=p.get("ready", True),
                start_time=NOW - started,
                ready_transition_time=NOW - transition,
                deleting=bool(p.get("deleting", False)),
                requests={container: requests},
            )
        )
    return tuple(pods)


def _sample(p: dict[str, Any], value: str) -> Sample:
    return Sample(milli(value), NOW - p.get("usageAgeSeconds", 0), p.get("usageWindowSeconds", 60))


def _metric_data(case: dict[str, Any], spec: dict[str, Any]) -> MetricData:
    kind = spec.get("type")
    if kind in ("Resource", "ContainerResource"):
        res = spec["resource" if kind == "Resource" else "containerResource"]["name"]
        samples = {
            p["name"]: _sample(p, p["usage"][res])
            for p in case.get("pods") or ()
            if res in (p.get("usage") or {})
        }
        for n, u in enumerate(case.get("unknownPodUsage") or ()):
            if res in u:
                samples[f"unknown-pod-{n}"] = Sample(milli(u[res]), NOW, 60)
        if not samples:
            return MetricData(error="no metrics returned from resource metrics API")
        return MetricData(pods=samples, timestamp=NOW)
    if kind == "Pods":
        name = spec["pods"]["metric"]["name"]
        samples = {
            p["name"]: _sample(p, p["metrics"][name])
            for p in case.get("pods") or ()
            if name in (p.get("metrics") or {})
        }
        if not samples:
            return MetricData(error="no metrics returned from custom metrics API")
        return MetricData(pods=samples, timestamp=NOW)
    if kind == "Object":
        src = spec["object"]
        obj = src["describedObject"]
        for m in case.get("objectMetrics") or ():
            d = m.get("describedObject") or {}
            if (
                m["metric"] == src["metric"]["name"]
                and d.get("kind") == obj.get("kind")
                and d.get("name") == obj.get("name")
            ):
                return MetricData(value=milli(m["value"]), timestamp=NOW)
        return MetricData(error="no metrics returned from custom metrics API")
    if kind == "External":
        name = spec["external"]["metric"]["name"]
        values = [
            milli(v)
            for m in case.get("externalMetrics") or ()
            if m["metric"] == name
            for v in m["values"]
        ]
        if not values:
            return MetricData(error="no metrics returned from external metrics API")
        return MetricData(values=tuple(values), timestamp=NOW)
    return MetricData(error="unknown metric source type")


def _history(h: dict[str, Any] | None) -> History:
    if not h or not h.get("seen"):
        return History()
    return History(
        seen=True,
        recommendations=tuple(
            (NOW - r["secondsAgo"], r["replicas"]) for r in h.get("recommendations") or ()
        ),
        scale_up_events=tuple(
            ScaleEvent(e["replicaChange"], NOW - e["secondsAgo"])
            for e in h.get("scaleUpEvents") or ()
        ),
        scale_down_events=tuple(
            ScaleEvent(e["replicaChange"], NOW - e["secondsAgo"])
            for e in h.get("scaleDownEvents") or ()
        ),
    )


def run_case(case: dict[str, Any]) -> Decision:
    spec = default_spec(case["hpa"])
    container = next(
        (
            m["containerResource"]["container"]
            for m in spec["metrics"]
            if m.get("type") == "ContainerResource"
        ),
        "main",
    )
    scale = case["scale"]
    return decide(
        Inputs(
            now=NOW,
            spec=spec,
            scale=Scale(
                scale["specReplicas"],
                scale.get("statusReplicas", scale["specReplicas"]),
                "app=test",
            ),
            pods=_pods(case, container),
            metrics=tuple(_metric_data(case, m) for m in spec["metrics"]),
            history=_history(case.get("history")),
            status=case.get("hpaStatus") or {},
            settings=_settings(case.get("controller") or {}),
            recommendation=case.get("recommendation"),
        )
    )


def _same_quantity(got: Any, want: Any) -> bool:
    if want is None or got is None:
        return got is None and want is None
    return (
        parse(str(got)) == parse(str(want))
        if not isinstance(want, int | float)
        else Fraction(parse(str(got))) == Fraction(want)
    )


def _current(status: dict[str, Any]) -> dict[str, Any]:
    for key in ("resource", "containerResource", "pods", "object", "external"):
        if key in status:
            return status[key].get("current") or {}
    return {}


@pytest.mark.parametrize("case", [c for _, c in CASES], ids=[n for n, _ in CASES])
def test_case(case: dict[str, Any]) -> None:
    expect = case["expect"]
    d = run_case(case)
    if "desiredReplicas" in expect:
        assert d.replicas == expect["desiredReplicas"], d
    if "metrics" in expect:
        for n, want in enumerate(expect["metrics"]):
            got = d.metrics[n]
            cur = _current(got.status)
            if "replicas" in want:
                assert got.replicas == want["replicas"], (n, got)
            if "averageUtilization" in want:
                assert cur.get("averageUtilization") == want["averageUtilization"], (n, got)
            for key in ("averageValue", "value"):
                if key in want:
                    assert _same_quantity(cur.get(key), want[key]), (n, key, got)
    if "conditions" in expect:
        conds = d.status.get("conditions") or []
        positions = []
        for want in expect["conditions"]:
            found = [k for k, c in enumerate(conds) if c["type"] == want["type"]]
            assert found, (want, conds)
            c = conds[found[0]]
            for key in ("status", "reason", "message"):
                if key in want:
                    assert c.get(key) == want[key], (want, c)
            positions.append(found[0])
        assert positions == sorted(positions), conds
    if "event" in expect:
        rescales = [e.message for e in d.events if e.reason == "SuccessfulRescale"]
        assert rescales == ([] if expect["event"] is None else [expect["event"]]), d.events
    if "error" in expect:
        assert d.error is not None and expect["error"] in d.error, d.error
