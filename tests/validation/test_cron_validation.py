"""Admission of CronHPAs: the seed's YAML passes; bad schedules, zones, sizes, duplicates and
missing fields are 422 causes naming the field and the reason."""

from __future__ import annotations

import copy

import pytest

from tidal.validation.cronhpa import default, validate

SEED = {
    "apiVersion": "autoscaling.alibabacloud.com/v1beta1",
    "kind": "CronHorizontalPodAutoscaler",
    "metadata": {"name": "qwen-cronhpa", "namespace": "default"},
    "spec": {
        "scaleTargetRef": {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": "qwen-cronhpa-predictor",
        },
        "jobs": [
            {"name": "scale-down", "schedule": "0 0 12 * * *", "targetSize": 1, "runOnce": False},
            {"name": "scale-up", "schedule": "0 30 10 * * *", "targetSize": 2, "runOnce": False},
        ],
    },
}


def test_the_seed_is_valid_and_left_as_is() -> None:
    obj = copy.deepcopy(SEED)
    assert validate(obj) == []
    assert default(obj) == SEED


def _with(path: list, value: object) -> dict:
    obj = copy.deepcopy(SEED)
    node = obj
    for k in path[:-1]:
        node = node[k]
    if value is KeyError:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return obj


@pytest.mark.parametrize(
    ("obj", "causes"),
    [
        (
            _with(["spec", "jobs", 0, "schedule"], "0 0 0 * * 7"),
            [
                (
                    "spec.jobs[0].schedule",
                    'Invalid value: "0 0 0 * * 7": End of range (7) above maximum (6): 7',
                )
            ],
        ),
        (
            _with(["spec", "jobs", 1, "schedule"], "30 10 * *"),
            [
                (
                    "spec.jobs[1].schedule",
                    'Invalid value: "30 10 * *": Expected 5 to 6 fields, found 4: 30 10 * *',
                )
            ],
        ),
        (
            _with(["spec", "jobs", 1, "name"], "scale-down"),
            [("spec.jobs[1].name", 'Duplicate value: "scale-down"')],
        ),
        (
            _with(["spec", "jobs", 0, "targetSize"], -1),
            [("spec.jobs[0].targetSize", "Invalid value: -1: must be greater than or equal to 0")],
        ),
        (
            _with(["spec", "jobs", 0, "targetSize"], "2"),
            [("spec.jobs[0].targetSize", 'Invalid value: "2": must be an integer')],
        ),
        (
            _with(["spec", "jobs", 0, "targetSize"], KeyError),
            [("spec.jobs[0].targetSize", "Required value")],
        ),
        (
            _with(["spec", "jobs", 0, "schedule"], KeyError),
            [("spec.jobs[0].schedule", "Required value")],
        ),
        (_with(["spec", "jobs", 0, "name"], ""), [("spec.jobs[0].name", "Required value")]),
        (
            _with(["spec", "jobs", 0, "runOnce"], "yes"),
            [("spec.jobs[0].runOnce", 'Invalid value: "yes": must be a boolean')],
        ),
        (
            _with(["spec", "timeZone"], "Mars/Olympus_Mons"),
            [("spec.timeZone", 'Invalid value: "Mars/Olympus_Mons": unknown time zone')],
        ),
        (
            _with(["spec", "excludeDates"], ["* * * 15 11 *", "* * * 32 * *", "@every 1h"]),
            [
                (
                    "spec.excludeDates[1]",
                    'Invalid value: "* * * 32 * *": End of range (32) above maximum (31): 32',
                ),
                (
                    "spec.excludeDates[2]",
                    'Invalid value: "@every 1h": @every names no calendar day',
                ),
            ],
        ),
        (_with(["spec", "jobs"], KeyError), [("spec.jobs", "Required value")]),
        (_with(["spec", "scaleTargetRef"], KeyError), [("spec.scaleTargetRef", "Required value")]),
        (
            _with(["spec", "scaleTargetRef", "kind"], KeyError),
            [("spec.scaleTargetRef.kind", "Required value")],
        ),
        (_with(["spec"], KeyError), [("spec", "Required value")]),
    ],
)
def test_invalid(obj: dict, causes: list[tuple[str, str]]) -> None:
    assert [(c.field, c.message) for c in validate(obj)] == causes
