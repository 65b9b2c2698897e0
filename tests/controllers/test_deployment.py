"""The deployment controller: tables for its pure parts (hash, the ReplicaSet it renders, status
and conditions), then both controllers on the real registry (in memory), reconciled by hand, for
a rolling update, pause/resume, undo by template, history and foreground deletion."""

from __future__ import annotations

import asyncio
import copy
from typing import Any

import pytest

from tests.fake_api import FakeApiClient
from tidal.api.meta import rfc3339
from tidal.controllers.deployment import (
    DeploymentController,
    find_new,
    render_replicaset,
    template_hash,
)
from tidal.controllers.deployment_status import (
    available_condition,
    progressing_condition,
    render_status,
    requeue_after,
)
from tidal.controllers.replicaset import ALPHANUMS, ReplicaSetController

T = 1_000_000.0

DEP: dict[str, Any] = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {
        "name": "d",
        "namespace": "default",
        "uid": "u1",
        "generation": 2,
        "annotations": {
            "kubernetes.io/change-cause": "first",
            "kubectl.kubernetes.io/last-applied-configuration": "{}",
        },
    },
    "spec": {
        "replicas": 2,
        "selector": {"matchLabels": {"app": "x"}},
        "template": {
            "metadata": {"labels": {"app": "x"}},
            "spec": {"containers": [{"name": "c", "image": "img:1", "command": ["true"]}]},
        },
    },
}


def test_template_hash_is_stable_and_safe() -> None:
    a = template_hash({"spec": {"containers": [{"name": "c", "image": "x"}]}})
    b = template_hash({"spec": {"containers": [{"image": "x", "name": "c"}]}})
    c = template_hash({"spec": {"containers": [{"name": "c", "image": "y"}]}})
    assert a == b != c
    assert set(a) <= set(ALPHANUMS) and 1 <= len(a) <= 10


def test_render_replicaset() -> None:
    rs = render_replicaset(DEP, 1, 3, 1)
    h = template_hash(DEP["spec"]["template"])
    meta = rs["metadata"]
    assert meta["name"] == f"d-{h}"
    assert meta["labels"] == {"app": "x", "pod-template-hash": h}
    assert rs["spec"]["selector"]["matchLabels"] == {"app": "x", "pod-template-hash": h}
    assert rs["spec"]["template"]["metadata"]["labels"]["pod-template-hash"] == h
    assert meta["annotations"] == {
        "kubernetes.io/change-cause": "first",
        "deployment.kubernetes.io/revision": "3",
        "deployment.kubernetes.io/desired-replicas": "2",
        "deployment.kubernetes.io/max-replicas": "3",
    }
    ref = meta["ownerReferences"][0]
    assert (ref["kind"], ref["uid"], ref["controller"], ref["blockOwnerDeletion"]) == (
        "Deployment",
        "u1",
        True,
        True,
    )
    # the template the Deployment has again after `rollout undo` finds this ReplicaSet
    assert find_new(DEP, [rs]) is rs
    other = copy.deepcopy(DEP)
    other["spec"]["template"]["spec"]["containers"][0]["image"] = "img:2"
    assert find_new(other, [rs]) is None


AVAILABLE = {
    "2 of 2, 25% may be unavailable (0)": (2, 2, "True"),
    "1 of 2": (2, 1, "False"),
    "3 of 4 (1 may be unavailable)": (4, 3, "True"),
    "zero wanted": (0, 0, "True"),
}


@pytest.mark.parametrize(("want", "avail", "status"), AVAILABLE.values(), ids=list(AVAILABLE))
def test_available_condition(want: int, avail: int, status: str) -> None:
    dep = copy.deepcopy(DEP)
    dep["spec"]["replicas"] = want
    cond = available_condition(dep, avail)
    reason = "MinimumReplicasAvailable" if status == "True" else "MinimumReplicasUnavailable"
    assert (cond["status"], cond["reason"]) == (status, reason)


def st(replicas: int, updated: int, available: int, gen: int = 2) -> dict[str, int]:
    return {
        "replicas": replicas,
        "updatedReplicas": updated,
        "readyReplicas": available,
        "availableReplicas": available,
        "observedGeneration": gen,
    }


def cond(reason: str, status: str = "True", moved: float = T) -> dict[str, str]:
    return {"type": "Progressing", "status": status, "reason": reason, "message": "m",
            "lastUpdateTime": rfc3339(moved)}  # fmt: skip


# (paused, old condition, old status, new status, created) -> (status, reason)
PROGRESSING = {
    "created": (False, None, {}, st(0, 0, 0), True, ("True", "NewReplicaSetCreated")),
    "found": (False, None, st(2, 2, 2), st(2, 2, 1), False, ("True", "FoundNewReplicaSet")),
    "progressing": (
        False, cond("NewReplicaSetCreated"), st(1, 0, 1), st(2, 1, 1), False,
        ("True", "ReplicaSetUpdated"),
    ),
    "complete": (
        False, cond("ReplicaSetUpdated"), st(3, 2, 1), st(2, 2, 2), False,
        ("True", "NewReplicaSetAvailable"),
    ),
    "paused": (True, cond("NewReplicaSetAvailable"), st(2, 2, 2), st(2, 2, 2), False,
               ("Unknown", "DeploymentPaused")),
    "resumed": (False, cond("DeploymentPaused", "Unknown"), st(2, 1, 2), st(2, 1, 2), False,
                ("Unknown", "DeploymentResumed")),
    # progressDeadlineSeconds 600 (the default), counted from the condition's lastUpdateTime
    "stuck past the deadline": (
        False, cond("ReplicaSetUpdated", moved=T - 601), st(3, 1, 2), st(3, 1, 2), False,
        ("False", "ProgressDeadlineExceeded"),
    ),
    "stuck within the deadline": (
        False, cond("ReplicaSetUpdated", moved=T - 599), st(3, 1, 2), st(3, 1, 2), False,
        ("True", "ReplicaSetUpdated"),
    ),
    "stays timed out": (
        False, cond("ProgressDeadlineExceeded", "False", T - 900), st(3, 1, 2), st(3, 1, 2),
        False, ("False", "ProgressDeadlineExceeded"),
    ),
    "moves again after the deadline": (
        False, cond("ProgressDeadlineExceeded", "False", T - 900), st(3, 1, 2), st(3, 2, 2),
        False, ("True", "ReplicaSetUpdated"),
    ),
    "resumed then complete": (
        False, cond("DeploymentPaused", "Unknown"), st(2, 1, 2), st(2, 2, 2), False,
        ("True", "NewReplicaSetAvailable"),
    ),
}  # fmt: skip


@pytest.mark.parametrize(
    ("paused", "old", "old_st", "new_st", "created", "want"),
    PROGRESSING.values(),
    ids=list(PROGRESSING),
)
def test_progressing_condition(
    paused: bool, old: Any, old_st: dict, new_st: dict, created: bool, want: tuple
) -> None:
    dep = copy.deepcopy(DEP)
    dep["spec"]["paused"] = paused
    dep["status"] = {**old_st, "conditions": [old] if old else []}
    got = progressing_condition(dep, new_st, new_rs="d-h", created=created, rollout=True, now=T)
    assert got is not None and (got["status"], got["reason"]) == want


def test_requeue_before_the_deadline() -> None:
    status = {"conditions": [cond("ReplicaSetUpdated", moved=T - 100)]}
    assert requeue_after(DEP, status, T) == 501.0
    assert requeue_after(DEP, {"conditions": [cond("NewReplicaSetAvailable")]}, T) is None
    no_deadline = {**DEP, "spec": {**DEP["spec"], "progressDeadlineSeconds": 2**31 - 1}}
    assert requeue_after(no_deadline, status, T) is None


def test_render_status_counts() -> None:
    new = {
        "metadata": {"name": "d-new"},
        "status": {"replicas": 1, "availableReplicas": 1, "readyReplicas": 1},
    }
    old = {"metadata": {"name": "d-old"}, "status": {"replicas": 2, "availableReplicas": 1,
                                                        "readyReplicas": 2}}  # fmt: skip
    s = render_status(DEP, [old, new], new, created=False, rollout=True, now=T)
    assert (s["replicas"], s["updatedReplicas"], s["readyReplicas"]) == (3, 1, 3)
    assert (s["availableReplicas"], s.get("unavailableReplicas"), s["observedGeneration"]) == (
        2,
        None,
        2,
    )  # 0: omitted
    assert [c["type"] for c in s["conditions"]] == ["Available", "Progressing"]


# ---- both controllers on the registry -----------------------------------------------------------
class World:
    def __init__(self) -> None:
        self.now = T
        self.client = FakeApiClient(clock=lambda: self.now)
        self.dc = DeploymentController(self.client, clock=lambda: self.now)
        self.rsc = ReplicaSetController(self.client, clock=lambda: self.now)

    async def rs(self) -> dict[str, dict]:
        items = (await self.client.list("ReplicaSet", "default"))["items"]
        return {r["metadata"]["name"]: r for r in items}

    async def pods(self) -> list[dict]:
        return (await self.client.list("Pod", "default"))["items"]

    async def settle(self, ready: bool = True) -> None:
        """Reconcile until nothing changes; pods become ready and deleted pods go at once."""
        for _ in range(30):
            rv = self.client.registry.store.rv
            self.now += 1
            await self.dc.reconcile(("default", "d"), None)  # type: ignore[arg-type]
            for name in await self.rs():
                await self.rsc.reconcile(("default", name), None)  # type: ignore[arg-type]
            for p in await self.pods():
                if p["metadata"].get("deletionTimestamp"):
                    await self.client.delete("Pod", p["metadata"]["name"], grace_period_seconds=0)
                elif ready and not (p.get("status") or {}).get("phase") == "Running":
                    await make_ready(self.client, p, self.now)
            if self.client.registry.store.rv == rv:
                return
        raise AssertionError("did not settle")

    async def dep(self) -> dict:
        return await self.client.get("Deployment", "d", "default")

    async def patch(self, body: dict) -> None:
        await self.client.patch("Deployment", "d", body, "default")

    def events(self) -> list[str]:
        return [e["message"] for e in self.client.events("Deployment", "d")]


async def make_ready(client: FakeApiClient, pod: dict, now: float) -> None:
    p = copy.deepcopy(pod)
    p["spec"]["nodeName"] = "tidal-node"
    p = await client.update(p)
    p["status"] = {
        "phase": "Running",
        "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": rfc3339(now)}],
    }
    await client.update(p, subresource="status")


def image(pod: dict) -> str:
    return pod["spec"]["containers"][0]["image"]


def new_dep() -> dict:
    d = copy.deepcopy(DEP)
    d["metadata"] = {"name": "d", "annotations": {"kubernetes.io/change-cause": "first"}}
    return d


def test_rolling_update_pause_undo_and_history() -> None:
    async def scenario() -> None:
        w = World()
        await w.client.create(new_dep())
        await w.settle()
        [rs1] = (await w.rs()).values()
        h1 = rs1["metadata"]["labels"]["pod-template-hash"]
        assert rs1["metadata"]["name"] == f"d-{h1}"
        assert rs1["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "1"
        pods = await w.pods()
        assert len(pods) == 2
        for p in pods:
            assert p["metadata"]["name"].startswith(f"d-{h1}-")
            assert len(p["metadata"]["name"]) == len(f"d-{h1}-") + 5
            assert p["metadata"]["ownerReferences"][0]["kind"] == "ReplicaSet"
        dep = await w.dep()
        assert dep["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "1"
        s = dep["status"]
        assert (s["replicas"], s["updatedReplicas"], s["availableReplicas"]) == (2, 2, 2)
        conds = {c["type"]: c["reason"] for c in s["conditions"]}
        assert conds == {"Available": "MinimumReplicasAvailable",
                         "Progressing": "NewReplicaSetAvailable"}  # fmt: skip
        assert w.events() == [f"Scaled up replica set d-{h1} from 0 to 2"]

        # pause, then change the image: nothing rolls out
        await w.patch({"spec": {"paused": True}})
        await w.settle()
        await w.patch({"spec": {"template": {"spec": {"containers": [
            {"name": "c", "image": "img:2", "command": ["true"]}]}}}})  # fmt: skip
        await w.settle()
        assert list(await w.rs()) == [f"d-{h1}"]
        prog = next(
            c for c in (await w.dep())["status"]["conditions"] if c["type"] == "Progressing"
        )
        assert (prog["status"], prog["reason"]) == ("Unknown", "DeploymentPaused")

        # resume: a new ReplicaSet, revision 2, surged up while the old one shrinks
        await w.patch({"metadata": {"annotations": {"kubernetes.io/change-cause": "second"}},
                       "spec": {"paused": False}})  # fmt: skip
        await w.settle()
        sets = await w.rs()
        [h2] = [n for n in sets if n != f"d-{h1}"]
        assert sets[h2]["spec"]["replicas"] == 2 and sets[f"d-{h1}"]["spec"]["replicas"] == 0
        assert sets[h2]["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"
        assert sets[h2]["metadata"]["annotations"]["kubernetes.io/change-cause"] == "second"
        assert {image(p) for p in await w.pods()} == {"img:2"}
        # replicas 2, surge 1, unavailable 0: one new pod at a time
        assert w.events()[1:] == [
            f"Scaled up replica set {h2} from 0 to 1",
            f"Scaled down replica set d-{h1} from 2 to 1",
            f"Scaled up replica set {h2} from 1 to 2",
            f"Scaled down replica set d-{h1} from 1 to 0",
        ]
        dep = await w.dep()
        assert dep["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"
        prog = next(c for c in dep["status"]["conditions"] if c["type"] == "Progressing")
        assert prog["reason"] == "NewReplicaSetAvailable"

        # undo as kubectl does it: the old ReplicaSet's template back on the Deployment
        old_template = copy.deepcopy(sets[f"d-{h1}"]["spec"]["template"])
        del old_template["metadata"]["labels"]["pod-template-hash"]
        dep["spec"]["template"] = old_template
        await w.client.update(dep)
        await w.settle()
        sets = await w.rs()
        assert set(sets) == {f"d-{h1}", h2}  # the old ReplicaSet is reused
        assert (
            sets[f"d-{h1}"]["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"
        )
        assert sets[f"d-{h1}"]["spec"]["replicas"] == 2 and sets[h2]["spec"]["replicas"] == 0
        assert {image(p) for p in await w.pods()} == {"img:1"}

        # history limit 0: the old ReplicaSet goes once scaled to zero
        await w.patch({"spec": {"revisionHistoryLimit": 0}})
        await w.settle()
        assert set(await w.rs()) == {f"d-{h1}"}

        # scaling: the one active ReplicaSet takes it
        await w.patch({"spec": {"replicas": 3}})
        await w.settle()
        assert (await w.rs())[f"d-{h1}"]["spec"]["replicas"] == 3
        assert len(await w.pods()) == 3

    asyncio.run(scenario())


def test_foreground_deletion_waits_for_pods() -> None:
    async def scenario() -> None:
        w = World()
        await w.client.create(new_dep())
        await w.settle()
        await w.client.delete("Deployment", "d", "default", propagation_policy="Foreground")
        dep = await w.dep()  # kept while its dependents go
        assert dep["metadata"]["finalizers"] == ["foregroundDeletion"]
        assert dep["metadata"].get("deletionTimestamp")
        [rs] = (await w.rs()).values()
        assert rs["metadata"]["finalizers"] == ["foregroundDeletion"]
        pods = await w.pods()
        assert len(pods) == 2 and all(p["metadata"].get("deletionTimestamp") for p in pods)
        # the controllers make nothing new meanwhile
        await w.dc.reconcile(("default", "d"), None)  # type: ignore[arg-type]
        await w.rsc.reconcile(("default", rs["metadata"]["name"]), None)  # type: ignore[arg-type]
        assert len(await w.rs()) == 1 and len(await w.pods()) == 2
        # the runner confirms the first pod: the owners stay; the last one releases them
        await w.client.delete("Pod", pods[0]["metadata"]["name"], grace_period_seconds=0)
        assert await w.dep() and len(await w.rs()) == 1
        await w.client.delete("Pod", pods[1]["metadata"]["name"], grace_period_seconds=0)
        assert await w.rs() == {}
        assert (await w.client.list("Deployment", "default"))["items"] == []

    asyncio.run(scenario())


def test_orphaned_replicaset_is_adopted_by_a_new_deployment() -> None:
    async def scenario() -> None:
        w = World()
        await w.client.create(new_dep())
        await w.settle()
        pods = {p["metadata"]["name"] for p in await w.pods()}
        await w.client.delete("Deployment", "d", "default", propagation_policy="Orphan")
        [rs] = (await w.rs()).values()
        assert "ownerReferences" not in rs["metadata"]
        created = await w.client.create(new_dep())
        await w.settle()
        [rs] = (await w.rs()).values()  # the same ReplicaSet, now the new Deployment's
        assert rs["metadata"]["ownerReferences"][0]["uid"] == created["metadata"]["uid"]
        assert {p["metadata"]["name"] for p in await w.pods()} == pods

    asyncio.run(scenario())


def test_recreate_waits_for_old_pods() -> None:
    async def scenario() -> None:
        w = World()
        d = new_dep()
        d["spec"]["strategy"] = {"type": "Recreate"}
        await w.client.create(d)
        await w.settle()
        await w.patch({"spec": {"template": {"spec": {"containers": [
            {"name": "c", "image": "img:2", "command": ["true"]}]}}}})  # fmt: skip
        w.now += 1
        await w.dc.reconcile(("default", "d"), None)  # type: ignore[arg-type]
        assert len(await w.rs()) == 1  # old scaled to 0, its pods still there: no new one yet
        await w.settle()
        assert {image(p) for p in await w.pods()} == {"img:2"}
        assert len(await w.pods()) == 2

    asyncio.run(scenario())


def test_describe_prints_replicaset_lines_as_kubectl() -> None:
    from tidal.cli.describe.deployment import describe

    new = {"metadata": {"name": "d-b"}, "spec": {"replicas": 2}, "status": {"replicas": 1}}
    old = [{"metadata": {"name": "d-a"}, "spec": {"replicas": 0}, "status": {}}]
    text = " ".join(describe(DEP, [], T, replicasets=(old, new)).split())
    assert "OldReplicaSets: d-a (0/0 replicas created)" in text
    assert "NewReplicaSet: d-b (1/2 replicas created)" in text
    text = " ".join(describe(DEP, [], T, replicasets=([], None)).split())
    assert "OldReplicaSets: <none> NewReplicaSet: <none>" in text
    assert "ReplicaSet" not in describe(DEP, [], T)  # not listed: kubectl leaves them out
