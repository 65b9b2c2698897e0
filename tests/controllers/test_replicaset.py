"""Tables for the replicaset controller's pure decisions: victims, the diff, pods and status."""

from __future__ import annotations

import asyncio
import copy
import random

import pytest

from tests.fake_api import FakeApiClient
from tidal.api.errors import Invalid
from tidal.controllers.replicaset import (
    ALPHANUMS,
    PodView,
    ReplicaSetController,
    choose_victims,
    diff,
    pod_suffix,
    pod_view,
    render_pod,
    render_status,
)

T = 1_000_000.0


def pv(name: str, **kw: object) -> PodView:
    return PodView(name=name, **kw)  # type: ignore[arg-type]


def test_pod_suffix_alphabet() -> None:
    s = pod_suffix(random.Random(1))
    assert len(s) == 5 and set(s) <= set(ALPHANUMS)


VICTIMS = {
    "not ready before ready": (
        [pv("ready", phase="Running", ready=True, ready_since=T), pv("unready", phase="Running")],
        1,
        ["unready"],
    ),
    "pending before running": ([pv("run", phase="Running"), pv("pend")], 1, ["pend"]),
    "unassigned first": ([pv("a"), pv("u", assigned=False)], 1, ["u"]),
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
DIFFS = {
    "create from nothing": (3, [], 3, []),
    "steady": (2, [pv("a", **R), pv("b", **R)], 0, []),
    "scale up": (3, [pv("a", **R)], 2, []),
    "scale down takes the unready": (1, [pv("a", **R), pv("b", phase="Running")], 0, ["b"]),
    "terminating pods do not count": (1, [pv("a", **R), pv("b", terminating=True)], 0, []),
    "failed pods are replaced": (1, [pv("a", phase="Failed")], 1, []),
    "to zero": (0, [pv("a", **R)], 0, ["a"]),
}


@pytest.mark.parametrize(("n", "pods", "create", "delete"), DIFFS.values(), ids=list(DIFFS))
def test_diff(n: int, pods: list[PodView], create: int, delete: list[str]) -> None:
    got = diff(n, pods)
    assert (got.create, list(got.delete)) == (create, delete)


RS = {
    "apiVersion": "apps/v1",
    "kind": "ReplicaSet",
    "metadata": {"name": "d-abc", "namespace": "ns", "uid": "u1", "generation": 3},
    "spec": {
        "replicas": 2,
        "minReadySeconds": 10,
        "selector": {"matchLabels": {"app": "x", "pod-template-hash": "abc"}},
        "template": {
            "metadata": {"labels": {"app": "x", "pod-template-hash": "abc"}},
            "spec": {"containers": [{"name": "c", "command": ["sh", "-c", "true"]}]},
        },
    },
}


def test_render_pod() -> None:
    pod = render_pod(RS, "xyz12")
    assert pod["metadata"]["name"] == "d-abc-xyz12"
    assert pod["metadata"]["labels"] == {"app": "x", "pod-template-hash": "abc"}
    ref = pod["metadata"]["ownerReferences"][0]
    assert (ref["kind"], ref["name"], ref["uid"], ref["controller"]) == (
        "ReplicaSet",
        "d-abc",
        "u1",
        True,
    )
    assert ref["blockOwnerDeletion"] is True
    assert pod["spec"]["restartPolicy"] == "Always"
    assert pod["spec"]["terminationGracePeriodSeconds"] == 30


def test_pod_view_reads_status() -> None:
    pod = {
        "metadata": {"name": "p"},
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
    assert (v.ready, v.restarts, v.assigned) == (True, 2, True)


def test_render_status_min_ready_seconds() -> None:
    pods = [
        pv("a", phase="Running", ready=True, ready_since=T - 60),
        pv("b", phase="Running", ready=True, ready_since=T - 5),  # ready, not yet available
        pv("c", phase="Running"),
        pv("d", terminating=True, ready=True, ready_since=T - 60),
    ]
    st = render_status(RS, pods, T)
    assert st == {
        "replicas": 3,
        "fullyLabeledReplicas": 3,
        "readyReplicas": 2,
        "availableReplicas": 1,
        "observedGeneration": 3,
    }


def test_controller_creates_and_deletes_pods_and_refuses_a_bad_replicaset() -> None:
    async def scenario() -> None:
        now = [T]
        client = FakeApiClient(clock=lambda: now[0])
        rsc = ReplicaSetController(client, clock=lambda: now[0], rng=random.Random(7))
        body = copy.deepcopy(RS)
        body["metadata"] = {"name": "d-abc", "namespace": "default"}
        with pytest.raises(Invalid, match="spec.selector"):
            await client.create({**body, "spec": {**body["spec"], "selector": {}}})
        await client.create(body)
        stray = render_pod(await client.get("ReplicaSet", "d-abc", "default"), "strya")
        del stray["metadata"]["ownerReferences"]  # an orphan the selector matches: adopted
        await client.create(stray)
        await rsc.reconcile(("default", "d-abc"), None)  # type: ignore[arg-type]
        pods = (await client.list("Pod", "default"))["items"]
        assert len(pods) == 2 and all(p["metadata"]["name"].startswith("d-abc-") for p in pods)
        assert all(p["metadata"]["ownerReferences"][0]["name"] == "d-abc" for p in pods)
        rs = await client.get("ReplicaSet", "d-abc", "default")
        assert rs["status"]["replicas"] == 2 and rs["status"]["availableReplicas"] == 0
        await client.patch("ReplicaSet", "d-abc", {"spec": {"replicas": 1}}, "default")
        await rsc.reconcile(("default", "d-abc"), None)  # type: ignore[arg-type]
        assert len((await client.list("Pod", "default"))["items"]) == 1
        reasons = [e["reason"] for e in client.events("ReplicaSet", "d-abc")]
        assert reasons == ["SuccessfulCreate", "SuccessfulDelete"]

    asyncio.run(scenario())
