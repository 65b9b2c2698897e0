"""Tables for the deployment controller's pure decisions: names, victims, the rolling plan."""

from __future__ import annotations

import random

import pytest

from tidal.controllers.deployment import (
    ALPHANUMS,
    PodView,
    choose_victims,
    plan,
    pod_suffix,
    pod_view,
    render_pod,
    render_status,
    template_hash,
)

T = 1_000_000.0


def pv(name: str, hash_: str = "h1", **kw: object) -> PodView:
    return PodView(name=name, hash=hash_, **kw)  # type: ignore[arg-type]


def test_template_hash_is_stable_and_safe() -> None:
    a = template_hash({"spec": {"containers": [{"name": "c", "image": "x"}]}})
    b = template_hash({"spec": {"containers": [{"image": "x", "name": "c"}]}})
    c = template_hash({"spec": {"containers": [{"name": "c", "image": "y"}]}})
    assert a == b != c
    assert set(a) <= set(ALPHANUMS) and 1 <= len(a) <= 10


def test_pod_suffix_alphabet() -> None:
    s = pod_suffix(random.Random(1))
    assert len(s) == 5 and set(s) <= set(ALPHANUMS)


VICTIMS = {
    "not ready before ready": (
        [pv("ready", phase="Running", ready=True, ready_since=T), pv("unready", phase="Running")],
        1,
        ["unready"],
    ),
    "pending before running": (
        [pv("run", phase="Running"), pv("pend", phase="Pending")],
        1,
        ["pend"],
    ),
    "unassigned first": (
        [pv("a", phase="Pending"), pv("u", phase="Pending", assigned=False)],
        1,
        ["u"],
    ),
    "newest ready first": (
        [
            pv("old", phase="Running", ready=True, ready_since=T - 100, created=T - 200),
            pv("new", phase="Running", ready=True, ready_since=T - 10, created=T - 20),
        ],
        1,
        ["new"],
    ),
    "more restarts first": (
        [
            pv("calm", phase="Running", ready=True, ready_since=T, restarts=0),
            pv("flaky", phase="Running", ready=True, ready_since=T, restarts=3),
        ],
        1,
        ["flaky"],
    ),
    "newest created when otherwise equal": (
        [pv("a", phase="Running", created=T - 5), pv("b", phase="Running", created=T)],
        1,
        ["b"],
    ),
    "zero": ([pv("a")], 0, []),
}


@pytest.mark.parametrize(("pods", "n", "expected"), list(VICTIMS.values()), ids=list(VICTIMS))
def test_choose_victims(pods: list[PodView], n: int, expected: list[str]) -> None:
    assert [p.name for p in choose_victims(pods, n)] == expected


R = dict(phase="Running", ready=True, ready_since=T)
PLANS = {
    "create from nothing": (3, "h1", [], 3, [], ["Scaled up replica set d-h1 from 0 to 3"]),
    "steady": (2, "h1", [pv("a", **R), pv("b", **R)], 0, [], []),
    "scale up": (3, "h1", [pv("a", **R)], 2, [], ["Scaled up replica set d-h1 from 1 to 3"]),
    "scale down takes the unready": (
        1,
        "h1",
        [pv("a", **R), pv("b", phase="Running")],
        0,
        ["b"],
        ["Scaled down replica set d-h1 from 2 to 1"],
    ),
    "terminating pods do not count": (
        1,
        "h1",
        [pv("a", **R), pv("b", terminating=True)],
        0,
        [],
        [],
    ),
    # replicas 1: surge ceil(0.25)=1, unavailable floor(0.25)=0 -> new pod first, old stays
    "rolling: surge first": (
        1,
        "h2",
        [pv("old", "h1", **R)],
        1,
        [],
        ["Scaled up replica set d-h2 from 0 to 1"],
    ),
    "rolling: new not ready keeps old": (
        1,
        "h2",
        [pv("old", "h1", **R), pv("new", "h2", phase="Running")],
        0,
        [],
        [],
    ),
    "rolling: new ready removes old": (
        1,
        "h2",
        [pv("old", "h1", **R), pv("new", "h2", **R)],
        0,
        ["old"],
        ["Scaled down replica set d-h1 from 1 to 0"],
    ),
    # replicas 4: surge 1, unavailable 1 -> one new, one old may go
    "rolling: four replicas": (
        4,
        "h2",
        [pv(f"o{i}", "h1", **R) for i in range(4)],
        1,
        ["o0"],
        ["Scaled up replica set d-h2 from 0 to 1", "Scaled down replica set d-h1 from 4 to 3"],
    ),
}


@pytest.mark.parametrize(
    ("replicas", "new_hash", "pods", "create", "delete", "events"),
    list(PLANS.values()),
    ids=list(PLANS),
)
def test_plan(
    replicas: int,
    new_hash: str,
    pods: list[PodView],
    create: int,
    delete: list[str],
    events: list[str],
) -> None:
    got = plan("d", replicas, new_hash, pods)
    assert (got.create, list(got.delete), list(got.events)) == (create, delete, events)


DEP = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "d", "namespace": "ns", "uid": "u1", "generation": 2},
    "spec": {
        "replicas": 2,
        "selector": {"matchLabels": {"app": "x"}},
        "template": {
            "metadata": {"labels": {"app": "x"}},
            "spec": {"containers": [{"name": "c", "command": ["sh", "-c", "true"]}]},
        },
    },
}


def test_render_pod() -> None:
    pod = render_pod(DEP, "abc", "xyz12")
    assert pod["metadata"]["name"] == "d-abc-xyz12"
    assert pod["metadata"]["labels"] == {"app": "x", "pod-template-hash": "abc"}
    assert pod["metadata"]["ownerReferences"][0]["uid"] == "u1"
    assert pod["spec"]["restartPolicy"] == "Always"
    assert pod["spec"]["terminationGracePeriodSeconds"] == 30


def test_pod_view_reads_status() -> None:
    pod = {
        "metadata": {"name": "p", "labels": {"pod-template-hash": "h"}},
        "spec": {"nodeName": "local"},
        "status": {
            "phase": "Running",
            "conditions": [
                {"type": "Ready", "status": "True", "lastTransitionTime": "2024-05-12T14:06:49Z"}
            ],
            "containerStatuses": [{"restartCount": 2}],
        },
    }
    v = pod_view(pod)
    assert (v.hash, v.ready, v.restarts, v.assigned) == ("h", True, 2, True)


def test_render_status() -> None:
    st = render_status(DEP, "h", [pv("a", "h", **R), pv("b", "h", phase="Running")])
    assert (st["replicas"], st["readyReplicas"], st["availableReplicas"]) == (2, 1, 1)
    assert st["unavailableReplicas"] == 1
    assert st["observedGeneration"] == 2
    available = st["conditions"][0]
    # replicas 2: maxUnavailable floor(0.5)=0 -> 1 ready is not minimum availability
    assert (available["status"], available["reason"]) == ("False", "MinimumReplicasUnavailable")
