"""`tidal simulate` with CronHPAs: schedules fire on virtual time (wall-clock `start`, time
zones, excludeDates) next to the real HPA, the HPA-aware target rules act on the simulated HPA,
and a target that cannot be scaled ends in `Failed` without hanging the simulation."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tidal.sim.plugin import Record
from tidal.sim.run import simulate
from tidal.sim.scenario import ScenarioError, parse_scenario
from tidal.sim.summary import Summary

START = "2026-01-05T10:29:00Z"  # a Monday


def _deployment(replicas: int = 2, cpu: str = "0.3") -> dict[str, Any]:
    return {"name": "web", "replicas": replicas, "cpuRequest": 1, "load": {"cpu": cpu}}


def _hpa(lo: int = 1, hi: int = 10) -> dict[str, Any]:
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "web-hpa"},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
            "minReplicas": lo,
            "maxReplicas": hi,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": 50},
                    },
                }
            ],
            "behavior": {"scaleDown": {"stabilizationWindowSeconds": 60}},
        },
    }


def _cron(jobs: list[dict[str, Any]], target: str = "hpa", **spec: Any) -> dict[str, Any]:
    ref = (
        {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "name": "web-hpa"}
        if target == "hpa"
        else {"apiVersion": "apps/v1", "kind": "Deployment", "name": target}
    )
    return {
        "apiVersion": "autoscaling.alibabacloud.com/v1beta1",
        "kind": "CronHorizontalPodAutoscaler",
        "metadata": {"name": "web-cron"},
        "spec": {"scaleTargetRef": ref, "jobs": jobs, **spec},
    }


def _run(objects: list[dict[str, Any]], **over: Any) -> tuple[list[Record], Summary]:
    data: dict[str, Any] = {
        "start": START,
        "duration": 900,
        "profile": "fast",
        "deployments": [_deployment()],
        "objects": objects,
    }
    data.update(over)
    return asyncio.run(simulate(parse_scenario(data)))


def _cron_records(records: list[Record]) -> list[tuple[float, int, int]]:
    return [(r.t, r.current, r.desired) for r in records if r.controller == "cron"]


def test_schedule_and_hpa_cooperate() -> None:
    """Scale-up job at 10:30 raises the HPA's floor to 6 and scales at once; the scale-down job at
    10:40 only lowers the floor; then the HPA (30 % of 6 pods against 50 %) takes it to 4."""
    records, summary = _run(
        [
            _hpa(),
            _cron(
                [
                    {"name": "up", "schedule": "0 30 10 * * *", "targetSize": 6},
                    {"name": "down", "schedule": "0 40 10 * * *", "targetSize": 1},
                ]
            ),
        ]
    )
    assert _cron_records(records) == [(60, 2, 6), (660, 6, 6)]
    up, down = [r for r in records if r.controller == "cron"]
    assert up.metrics == "up: size 6, hpa 6/10"
    assert up.reason.startswith("Succeed: cron hpa job up executed successfully.")
    assert down.metrics == "down: size 1, hpa 1/10"
    assert "Skip scale replicas because HPA web-hpa" in down.reason
    # while the floor is 6 the HPA does not scale down; after 10:40 it does, by its own rule
    hpa_downs = [(r.t, r.current, r.desired) for r in records if r.controller == "hpa"]
    hpa_downs = [x for x in hpa_downs if x[2] < x[1]]
    assert hpa_downs[0] == (660, 6, 4)
    assert summary.max_replicas["web"] == 6
    assert summary.first_scale_up_s == 60


@pytest.mark.parametrize(
    ("schedule", "zone", "fired_at"),
    [
        ("0 30 10 * * *", None, [60]),  # 10:30 UTC, once in 15 min
        ("0 30 18 * * *", "Asia/Shanghai", [60]),  # 18:30 in Shanghai is 10:30 UTC
        ("0 30 10 * * *", "Europe/Berlin", []),  # 10:30 in Berlin was 09:30 UTC: before start
        ("0 */5 * * * *", None, [60, 360, 660]),  # 10:30, 10:35, 10:40
        ("30 * * * * *", None, [30 + 60 * i for i in range(15)]),  # second 30 of each minute
        ("@every 4m", None, [240, 480, 720]),  # from submission
    ],
)
def test_schedules_fire_on_virtual_time(
    schedule: str, zone: str | None, fired_at: list[int]
) -> None:
    spec = {"timeZone": zone} if zone else {}
    records, _ = _run(
        [_cron([{"name": "j", "schedule": schedule, "targetSize": 3}], target="web", **spec)]
    )
    assert [t for t, _, _ in _cron_records(records)] == fired_at
    if fired_at:  # a Deployment target: set to the size on the first firing
        assert _cron_records(records)[0][1:] == (2, 3)


def test_exclude_dates_skip_the_whole_day() -> None:
    records, _ = _run(
        [
            _cron(
                [{"name": "j", "schedule": "0 30 10 * * *", "targetSize": 5}],
                target="web",
                excludeDates=["* * * 5 1 *"],  # January 5
            )
        ]
    )
    [rec] = [r for r in records if r.controller == "cron"]
    assert (rec.current, rec.desired) == (2, 2)
    assert "because of excludeDate (* * * 5 1 *)" in rec.reason


def test_a_missing_target_fails_after_the_retries_without_hanging() -> None:
    records, _ = _run(
        [_cron([{"name": "j", "schedule": "0 30 10 * * *", "targetSize": 5}], target="gone")]
    )
    [rec] = [r for r in records if r.controller == "cron"]
    assert rec.t == 60
    assert rec.reason.startswith("Failed: cron hpa failed to execute")
    assert "after retrying 4 times" in rec.reason


@pytest.mark.parametrize(
    ("job", "field"),
    [
        ({"name": "j", "schedule": "0 61 * * * *", "targetSize": 1}, "spec.jobs[0].schedule"),
        ({"name": "j", "schedule": "0 0 * * * *", "targetSize": -1}, "spec.jobs[0].targetSize"),
    ],
)
def test_invalid_cronhpas_name_the_field(job: dict[str, Any], field: str) -> None:
    with pytest.raises(ScenarioError) as err:
        _run([_cron([job], target="web")])
    assert str(err.value).startswith(f'CronHorizontalPodAutoscaler "web-cron" is invalid: {field}')


def test_bad_start_names_the_field() -> None:
    with pytest.raises(ScenarioError, match="start:"):
        parse_scenario({"start": "monday", "deployments": [_deployment()]})
