"""`keep_transition_times`: a condition's lastTransitionTime moves only when its status does."""

from __future__ import annotations

from typing import Any

import pytest

from tidal.api.conditions import keep_transition_times

T0, T1 = "2026-01-01T00:00:00Z", "2026-01-01T00:05:00Z"


def cond(type_: str, status: str, reason: str = "", **times: str) -> dict[str, Any]:
    c: dict[str, Any] = {"type": type_, "status": status}
    if reason:
        c["reason"] = reason
    return {**c, **times}


CASES = {
    "new condition: now": ([], [cond("Ready", "True")], T1, {"Ready": T1}),
    "no old list at all": (None, [cond("Ready", "True")], T1, {"Ready": T1}),
    "same status: kept": (
        [cond("Ready", "True", lastTransitionTime=T0)],
        [cond("Ready", "True")],
        T1,
        {"Ready": T0},
    ),
    "status flipped: now": (
        [cond("Ready", "True", lastTransitionTime=T0)],
        [cond("Ready", "False")],
        T1,
        {"Ready": T1},
    ),
    "same status, old had no time: now": (
        [cond("Ready", "True")],
        [cond("Ready", "True")],
        T1,
        {"Ready": T1},
    ),
    "new carries its own time: kept when nothing to keep": (
        [],
        [cond("Active", "True", lastTransitionTime=T0)],
        T1,
        {"Active": T0},
    ),
    "old time wins over the new one's when status is unchanged": (
        [cond("Active", "True", lastTransitionTime=T0)],
        [cond("Active", "True", lastTransitionTime=T1)],
        "",
        {"Active": T0},
    ),
    "per type, order of new kept": (
        [cond("B", "True", lastTransitionTime=T0), cond("A", "True", lastTransitionTime=T0)],
        [cond("A", "False"), cond("B", "True"), cond("C", "Unknown")],
        T1,
        {"A": T1, "B": T0, "C": T1},
    ),
}


@pytest.mark.parametrize(("old", "new", "now", "want"), list(CASES.values()), ids=list(CASES))
def test_keep_transition_times(
    old: list[dict[str, Any]] | None, new: list[dict[str, Any]], now: str, want: dict[str, str]
) -> None:
    before = [dict(c) for c in new]
    out = keep_transition_times(old, new, now)
    assert {c["type"]: c["lastTransitionTime"] for c in out} == want
    assert [c["type"] for c in out] == [c["type"] for c in new]
    assert new == before  # the input is not changed
    assert all("lastUpdateTime" not in c for c in out)


UPDATE_CASES = {
    "same status and reason: update time kept": (
        cond("Available", "True", "MinimumReplicasAvailable", lastUpdateTime=T0),
        cond("Available", "True", "MinimumReplicasAvailable"),
        T0,
    ),
    "same status, new reason: update time moves": (
        cond("Progressing", "True", "ReplicaSetUpdated", lastUpdateTime=T0),
        cond("Progressing", "True", "NewReplicaSetAvailable"),
        T1,
    ),
    "status flipped: update time moves": (
        cond("Available", "True", "MinimumReplicasAvailable", lastUpdateTime=T0),
        cond("Available", "False", "MinimumReplicasAvailable"),
        T1,
    ),
    "no old update time: now": (
        cond("Available", "True", "MinimumReplicasAvailable"),
        cond("Available", "True", "MinimumReplicasAvailable"),
        T1,
    ),
}


@pytest.mark.parametrize(
    ("old", "new", "want"), list(UPDATE_CASES.values()), ids=list(UPDATE_CASES)
)
def test_update_time(old: dict[str, Any], new: dict[str, Any], want: str) -> None:
    (out,) = keep_transition_times([old], [new], T1, update_time=True)
    assert out["lastUpdateTime"] == want
