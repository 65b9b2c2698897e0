"""Tables for CronHPA's pure decisions: firing plans (missed firings), job conditions, the NEXT
column, the HPA rules, and which HPA steers a predictor."""

from __future__ import annotations

import itertools
from datetime import datetime

import pytest

from tidal.autoscaling.cron import load_zone, parse_schedule
from tidal.autoscaling.cron.firing import Plan, late_note, plan, skip_message
from tidal.autoscaling.cron.jobs import next_firing, sync_status
from tidal.autoscaling.cron.target import HpaStep, hpa_step, predictor_hpa

UTC = load_zone("UTC")


def ts(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


# ---- firing plans --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "schedule", "base", "now", "want"),
    [
        (
            "before the time: wait for it",
            "0 0 12 * * *",
            "2024-05-12T10:00:00Z",
            "2024-05-12T11:59:59.9Z",
            Plan("wait", due=ts("2024-05-12T12:00:00Z")),
        ),
        (
            "at the time: run, on time",
            "0 0 12 * * *",
            "2024-05-12T10:00:00Z",
            "2024-05-12T12:00:00.3Z",
            Plan("run", at=ts("2024-05-12T12:00:00Z")),
        ),
        (
            "30s late (controller was down): run once, late",
            "0 0 12 * * *",
            "2024-05-12T10:00:00Z",
            "2024-05-12T12:00:30Z",
            Plan(
                "run",
                at=ts("2024-05-12T12:00:00Z"),
                late=True,
                first_missed=ts("2024-05-12T12:00:00Z"),
            ),
        ),
        (
            "an hour late: skip",
            "0 0 12 * * *",
            "2024-05-12T10:00:00Z",
            "2024-05-12T13:00:00Z",
            Plan(
                "skip",
                at=ts("2024-05-12T12:00:00Z"),
                late=True,
                first_missed=ts("2024-05-12T12:00:00Z"),
            ),
        ),
        (
            "days down, dense schedule: only the latest firing runs",
            "*/5 * * * * *",
            "2024-05-10T00:00:00Z",
            "2024-05-12T12:00:01Z",
            Plan(
                "run",
                at=ts("2024-05-12T12:00:00Z"),
                late=True,
                first_missed=ts("2024-05-10T00:00:05Z"),
            ),
        ),
        (
            "@every counts from the base",
            "@every 90s",
            "2024-05-12T12:00:00Z",
            "2024-05-12T12:01:29Z",
            Plan("wait", due=ts("2024-05-12T12:01:30Z")),
        ),
        (
            "unsatisfiable: wait forever",
            "0 0 0 30 2 *",
            "2024-05-12T12:00:00Z",
            "2024-05-12T12:00:00Z",
            Plan("wait", due=None),
        ),
    ],
)
def test_plan(name: str, schedule: str, base: str, now: str, want: Plan) -> None:
    assert plan(parse_schedule(schedule), UTC, ts(base), ts(now), grace_s=60) == want


def test_messages_about_missed_firings() -> None:
    p = Plan(
        "skip", at=ts("2024-05-12T12:00:00Z"), late=True, first_missed=ts("2024-05-11T12:00:00Z")
    )
    assert skip_message("up", p, 60) == (
        "skip out of date job up: the firing at 2024-05-12T12:00:00Z was missed and is older than"
        " the 60s grace window (missed firings since 2024-05-11T12:00:00Z)."
    )
    assert late_note(Plan("run", at=1.0)) == ""


# ---- conditions ----------------------------------------------------------------------------
SPEC = {
    "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
    "jobs": [
        {"name": "a", "schedule": "0 0 12 * * *", "targetSize": 1},
        {"name": "b", "schedule": "0 30 10 * * *", "targetSize": 2, "runOnce": True},
    ],
}


def ids() -> itertools.count:
    return itertools.count()


def test_new_jobs_are_submitted_in_spec_order() -> None:
    n = ids()
    st = sync_status(SPEC, {}, ts("2024-05-12T14:06:49Z"), lambda: f"id{next(n)}")
    assert st == {
        "conditions": [
            {
                "jobId": "id0",
                "lastProbeTime": "2024-05-12T14:06:49Z",
                "message": "",
                "name": "a",
                "runOnce": False,
                "schedule": "0 0 12 * * *",
                "state": "Submitted",
                "targetSize": 1,
            },
            {
                "jobId": "id1",
                "lastProbeTime": "2024-05-12T14:06:49Z",
                "message": "",
                "name": "b",
                "runOnce": True,
                "schedule": "0 30 10 * * *",
                "state": "Submitted",
                "targetSize": 2,
            },
        ],
        "scaleTargetRef": SPEC["scaleTargetRef"],
    }


@pytest.mark.parametrize(
    ("change", "new_ids"),
    [
        ({}, ["id0", "id1"]),
        ({"jobs": [{**SPEC["jobs"][0], "targetSize": 3}, SPEC["jobs"][1]]}, ["id2", "id1"]),
        ({"jobs": [{**SPEC["jobs"][0], "runOnce": True}, SPEC["jobs"][1]]}, ["id2", "id1"]),
        ({"jobs": [SPEC["jobs"][1]]}, ["id1"]),
        ({"excludeDates": ["* * * 1 1 *"]}, ["id2", "id3"]),
        ({"timeZone": "Asia/Shanghai"}, ["id2", "id3"]),
        (
            {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "x"}},
            ["id2", "id3"],
        ),
    ],
)
def test_what_resubmits(change: dict, new_ids: list[str]) -> None:
    n = ids()
    new_id = lambda: f"id{next(n)}"  # noqa: E731
    st = sync_status(SPEC, {}, 0.0, new_id)
    st["conditions"][1]["state"] = "Succeed"
    st2 = sync_status({**SPEC, **change}, st, 60.0, new_id)
    assert [c["jobId"] for c in st2["conditions"]] == new_ids


def test_a_schedule_the_engine_refuses_is_failed() -> None:
    spec = {**SPEC, "jobs": [{"name": "x", "schedule": "0 0 0 * * 7", "targetSize": 1}]}
    (c,) = sync_status(spec, {}, 0.0, lambda: "id")["conditions"]
    assert c["state"] == "Failed"
    assert c["message"] == (
        "Failed to update cron hpa job x,because of Failed to add job to cronExecutor,because of"
        " End of range (7) above maximum (6): 7"
    )


# ---- NEXT column ---------------------------------------------------------------------------
def cronhpa(jobs: list[dict], conditions: list[dict] | None = None, **spec: object) -> dict:
    return {
        "metadata": {"creationTimestamp": "2024-05-12T14:06:49Z"},
        "spec": {**SPEC, "jobs": jobs, **spec},
        "status": {"conditions": conditions or []},
    }


@pytest.mark.parametrize(
    ("obj", "now", "want"),
    [
        (cronhpa(SPEC["jobs"]), "2024-05-12T14:06:49Z", "2024-05-13T10:30:00Z"),
        (
            cronhpa(SPEC["jobs"], timeZone="Asia/Shanghai"),
            "2024-05-12T14:06:49Z",
            "2024-05-13T02:30:00Z",
        ),
        (
            cronhpa(SPEC["jobs"][1:], [{"name": "b", "state": "Succeed", "jobId": "x"}]),
            "2024-05-12T14:06:49Z",
            None,
        ),
        (
            cronhpa(SPEC["jobs"][:1], excludeDates=["* * * 13 5 *"]),
            "2024-05-12T14:06:49Z",
            "2024-05-14T12:00:00Z",
        ),
        (
            cronhpa(
                [{"name": "e", "schedule": "@every 1h", "targetSize": 1}],
                [{"name": "e", "state": "Submitted", "lastProbeTime": "2024-05-12T14:06:49Z"}],
            ),
            "2024-05-12T17:00:00Z",
            "2024-05-12T17:06:49Z",
        ),
    ],
)
def test_next_firing(obj: dict, now: str, want: str | None) -> None:
    got = next_firing(obj, ts(now))
    assert got == (ts(want) if want else None)


# ---- HPA rules beyond the acceptance cases ---------------------------------------------------
@pytest.mark.parametrize(
    ("lo", "hi", "cur", "size", "want"),
    [
        (2, 4, 3, 0, HpaStep(0, 4, None)),  # targetSize 0 lowers min to 0, no scaling
        (1, 10, 10, 12, HpaStep(12, 12, 12)),
    ],
)
def test_hpa_step(lo: int, hi: int, cur: int, size: int, want: HpaStep) -> None:
    assert hpa_step(lo, hi, cur, size) == want


def _dep(**meta: object) -> dict:
    return {"metadata": {"name": "p", **meta}}


def _hpa(name: str, target: str, kind: str = "Deployment") -> dict:
    return {"metadata": {"name": name}, "spec": {"scaleTargetRef": {"kind": kind, "name": target}}}


@pytest.mark.parametrize(
    ("dep", "hpas", "want"),
    [
        (_dep(ownerReferences=[{"kind": "InferenceService", "name": "i"}]), [_hpa("p", "p")], "p"),
        (
            _dep(labels={"serving.kserve.io/inferenceservice": "i"}),
            [_hpa("z", "p"), _hpa("p", "p")],
            "p",
        ),
        (_dep(labels={"serving.kserve.io/inferenceservice": "i"}), [_hpa("z", "p")], "z"),
        (_dep(), [_hpa("p", "p")], None),  # not a predictor: the original writes the Deployment
        (_dep(ownerReferences=[{"kind": "InferenceService"}]), [_hpa("p", "q")], None),
        (
            _dep(ownerReferences=[{"kind": "InferenceService"}]),
            [_hpa("p", "p", "StatefulSet")],
            None,
        ),
    ],
)
def test_predictor_hpa(dep: dict, hpas: list[dict], want: str | None) -> None:
    got = predictor_hpa(dep, hpas)
    assert (got["metadata"]["name"] if got else None) == want
