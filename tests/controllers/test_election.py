"""client-go's leader election rules, case by case (`tidal.controllers.election`)."""

from __future__ import annotations

import pytest

from tidal.api.meta import rfc3339_micro
from tidal.controllers.election import (
    Observed,
    Timing,
    release,
    try_acquire_or_renew,
)

T0 = 1_700_000_000.0


def lease(holder: str, *, duration: int = 15, transitions: int = 0, renew: float = T0) -> dict:
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {
            "name": "tidal-controllers",
            "namespace": "kube-system",
            "resourceVersion": "7",
        },
        "spec": {
            "holderIdentity": holder,
            "leaseDurationSeconds": duration,
            "acquireTime": rfc3339_micro(T0 - 100),
            "renewTime": rfc3339_micro(renew),
            "leaseTransitions": transitions,
        },
    }


def step(current: dict | None, observed: Observed | None, *, me: str = "b", mono: float = 0.0):
    return try_acquire_or_renew(
        current,
        observed,
        identity=me,
        name="tidal-controllers",
        namespace="kube-system",
        wall=T0 + mono,
        mono=mono,
    )


def test_no_lease_creates_it_and_leads() -> None:
    s = step(None, None)
    assert s.write == "create" and s.leader
    assert s.lease["spec"]["holderIdentity"] == "b"
    assert s.lease["spec"]["leaseTransitions"] == 0
    assert s.lease["spec"]["acquireTime"] == s.lease["spec"]["renewTime"]


# (what this candidate saw before, mono now, expected write, leader)
CASES = [
    # first sight of another's lease: the expiry clock starts now, whatever renewTime says
    ("held by a, first seen now", None, 0.0, "none", False),
    ("held by a, seen unchanged 14.9 s", Observed(lease("a")["spec"], 0.0), 14.9, "none", False),
    (
        "held by a, unchanged for 15 s: expired",
        Observed(lease("a")["spec"], 0.0),
        15.0,
        "update",
        True,
    ),
]


@pytest.mark.parametrize(("what", "observed", "mono", "write", "leader"), CASES)
def test_expiry_is_judged_by_local_observation(what, observed, mono, write, leader) -> None:
    s = step(lease("a"), observed, mono=mono)
    assert (s.write, s.leader) == (write, leader), what


def test_a_renewed_lease_restarts_the_expiry_clock() -> None:
    seen = Observed(lease("a")["spec"], 0.0)
    s = step(lease("a", renew=T0 + 10), seen, mono=20.0)  # a renewed since: record changed
    assert s.write == "none" and s.observed.observed_at == 20.0


def test_takeover_counts_a_transition_and_sets_acquire_time() -> None:
    s = step(lease("a", transitions=3), Observed(lease("a", transitions=3)["spec"], 0.0), mono=16)
    spec = s.lease["spec"]
    assert spec["holderIdentity"] == "b" and spec["leaseTransitions"] == 4
    assert spec["acquireTime"] == rfc3339_micro(T0 + 16)
    assert s.lease["metadata"]["resourceVersion"] == "7"  # the update is optimistic


def test_renewal_keeps_acquire_time_and_transitions() -> None:
    mine = lease("b", transitions=2)
    s = step(mine, None, mono=5.0)
    assert s.write == "update" and s.leader
    assert s.lease["spec"]["acquireTime"] == mine["spec"]["acquireTime"]
    assert s.lease["spec"]["leaseTransitions"] == 2
    assert s.lease["spec"]["renewTime"] == rfc3339_micro(T0 + 5)


def test_a_released_lease_is_taken_at_once() -> None:
    released = lease("")
    s = step(released, Observed(released["spec"], 0.0), mono=0.1)
    assert s.write == "update" and s.lease["spec"]["leaseTransitions"] == 1


def test_the_lease_duration_written_by_the_holder_counts() -> None:
    short = lease("a", duration=1)
    s = step(short, Observed(short["spec"], 0.0), mono=1.0)
    assert s.write == "update"


def test_release_only_by_the_holder() -> None:
    assert release(lease("a"), identity="b", wall=T0) is None
    out = release(lease("b", transitions=5), identity="b", wall=T0)
    assert out["spec"]["leaseDurationSeconds"] == 1 and "holderIdentity" not in out["spec"]
    assert out["spec"]["leaseTransitions"] == 5


@pytest.mark.parametrize(
    ("timing", "problem"),
    [
        (Timing(10, 10, 2), "leaseDuration must be greater than renewDeadline"),
        (Timing(15, 2, 2), "renewDeadline must be greater than retryPeriod*JitterFactor"),
        (Timing(15, 10, 0), "retryPeriod must be greater than zero"),
    ],
)
def test_timing_checks(timing: Timing, problem: str) -> None:
    assert problem in timing.problems()
    assert Timing().problems() == []
