"""The verb layer through the in-process client: the semantics controllers rely on."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import pytest

from tidal.api.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    Gone,
    Invalid,
    NotFound,
    UnsupportedMediaType,
)
from tidal.server.inprocess import InProcessClient, open_inprocess
from tidal.server.registry import Registry


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(coro)


def deployment(name: str = "web", replicas: int = 2) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "main", "image": "x"}]},
            },
        },
    }


def pod(name: str, owner: dict[str, Any] | None = None, node: str | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": {"app": "web"}}
    if owner:
        meta["ownerReferences"] = [
            {
                "apiVersion": owner["apiVersion"],
                "kind": owner["kind"],
                "name": owner["metadata"]["name"],
                "uid": owner["metadata"]["uid"],
                "controller": True,
            }
        ]
    spec: dict[str, Any] = {"containers": [{"name": "main", "image": "x"}]}
    if node:
        spec["nodeName"] = node
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec}


def test_create_get_update_conflict_and_generation(tmp_path: Path) -> None:
    async def go() -> None:
        c = await open_inprocess(tmp_path)
        try:
            d = await c.create(deployment())
            meta = d["metadata"]
            assert meta["uid"] and meta["creationTimestamp"] and meta["generation"] == 1
            with pytest.raises(Conflict) as exc:
                await c.create(deployment())
            assert exc.value.reason == "AlreadyExists"
            d["spec"]["replicas"] = 3
            d2 = await c.update(d)
            assert d2["metadata"]["generation"] == 2
            assert int(d2["metadata"]["resourceVersion"]) > int(meta["resourceVersion"])
            with pytest.raises(Conflict) as exc:
                await c.update(d)  # stale resourceVersion
            assert exc.value.reason == "Conflict"
            # status writes do not bump generation; main updates keep the status
            d2["status"] = {"replicas": 3, "readyReplicas": 1}
            d3 = await c.update(d2, subresource="status")
            assert d3["metadata"]["generation"] == 2 and d3["status"]["readyReplicas"] == 1
            d3["status"] = {}
            d3["metadata"]["labels"]["x"] = "y"
            d4 = await c.update(d3)
            assert d4["status"]["readyReplicas"] == 1 and d4["metadata"]["generation"] == 2
            # a no-op update keeps the version
            d5 = await c.update(d4)
            assert d5["metadata"]["resourceVersion"] == d4["metadata"]["resourceVersion"]
            with pytest.raises(NotFound, match='deployments.apps "nope" not found'):
                await c.get("Deployment", "nope")
        finally:
            await c.close()

    run(go())


def test_scale_subresource_and_patches(tmp_path: Path) -> None:
    async def go() -> None:
        c = await open_inprocess(tmp_path)
        try:
            await c.create(deployment())
            scale = await c.patch(
                "Deployment", "web", {"spec": {"replicas": 4}}, subresource="scale"
            )
            assert scale["kind"] == "Scale" and scale["apiVersion"] == "autoscaling/v1"
            assert scale["spec"]["replicas"] == 4 and scale["status"]["selector"] == "app=web"
            scale["spec"]["replicas"] = 1
            await c.update(scale, subresource="scale")
            assert (await c.get("Deployment", "web"))["spec"]["replicas"] == 1
            with pytest.raises(Invalid):
                await c.patch("Deployment", "web", {"spec": {"replicas": -1}}, subresource="scale")
            got = await c.patch(
                "Deployment",
                "web",
                [{"op": "replace", "path": "/spec/replicas", "value": 2}],
                patch_type="json",
            )
            assert got["spec"]["replicas"] == 2
            got = await c.patch(
                "Deployment",
                "web",
                {"spec": {"template": {"spec": {"containers": [{"name": "main", "image": "y"}]}}}},
                patch_type="strategic",
            )
            assert got["spec"]["template"]["spec"]["containers"][0]["image"] == "y"
            assert got["metadata"]["generation"] == 5  # 1 + scale, scale, json, smp
            isvc = {
                "apiVersion": "serving.kserve.io/v1beta1",
                "kind": "InferenceService",
                "metadata": {"name": "iris"},
                "spec": {"predictor": {}},
            }
            try:
                await c.create(isvc)
            except Invalid:
                return  # the isvc validator may demand more; the 415 rule is checked below anyway
            with pytest.raises(UnsupportedMediaType):
                await c.patch("InferenceService", "iris", {"spec": {}}, patch_type="strategic")
        finally:
            await c.close()

    run(go())


def test_validation_and_namespaces(tmp_path: Path) -> None:
    async def go() -> None:
        c = await open_inprocess(tmp_path)
        try:
            bad = deployment("Bad_Name")
            with pytest.raises(Invalid) as exc:
                await c.create(bad)
            assert exc.value.code == 422
            assert exc.value.causes[0].field == "metadata.name"
            assert exc.value.message.startswith('Deployment.apps "Bad_Name" is invalid: ')
            assert (await c.list("Deployment"))["items"] == []
            with pytest.raises(NotFound, match='namespaces "other" not found'):
                await c.create(deployment(), namespace="other")
            await c.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "other"}})
            await c.create(deployment(), namespace="other")
            assert len((await c.list("Deployment"))["items"]) == 1
            await c.delete("Namespace", "other")
            with pytest.raises(NotFound):
                await c.get("Namespace", "other")
            assert (await c.list("Deployment"))["items"] == []
            with pytest.raises(Forbidden):
                await c.delete("Namespace", "default")
            with pytest.raises(BadRequest):
                await c.list("Pod", label_selector="a b c")
        finally:
            await c.close()

    run(go())


def test_cascade_graceful_pods_and_finalizers(tmp_path: Path) -> None:
    async def go() -> None:
        c = await open_inprocess(tmp_path)
        try:
            d = await c.create(deployment())
            await c.create(pod("web-a", d))
            await c.create(pod("web-b", d, node="local-node"))
            await c.delete("Deployment", "web")
            assert [p["metadata"]["name"] for p in (await c.list("Pod"))["items"]] == ["web-b"]
            b = await c.get("Pod", "web-b")
            assert (
                b["metadata"]["deletionTimestamp"]
                and b["metadata"]["deletionGracePeriodSeconds"] == 30
            )
            await c.delete("Pod", "web-b", grace_period_seconds=0)
            assert (await c.list("Pod"))["items"] == []
            # an object whose owner no longer exists is collected on create
            await c.create(
                pod(
                    "stray",
                    {
                        "apiVersion": "apps/v1",
                        "kind": "Deployment",
                        "metadata": {"name": "gone", "uid": "nope"},
                    },
                )
            )
            assert (await c.list("Pod"))["items"] == []
            # finalizers hold an object until removed
            p = pod("held")
            p["metadata"]["finalizers"] = ["tidal.dev/test"]
            await c.create(p)
            await c.delete("Pod", "held")
            held = await c.get("Pod", "held")
            assert held["metadata"]["deletionTimestamp"]
            await c.patch("Pod", "held", {"metadata": {"finalizers": None}})
            with pytest.raises(NotFound):
                await c.get("Pod", "held")
            # orphan policy keeps dependents, without the owner reference
            d = await c.create(deployment())
            await c.create(pod("kept", d))
            await c.delete("Deployment", "web", propagation_policy="Orphan")
            kept = await c.get("Pod", "kept")
            assert "ownerReferences" not in kept["metadata"]
        finally:
            await c.close()

    run(go())


def test_list_selectors_and_pagination(tmp_path: Path) -> None:
    async def go() -> None:
        c = await open_inprocess(tmp_path)
        try:
            for i in range(5):
                p = pod(f"p{i}")
                p["metadata"]["labels"] = {"app": "web", "idx": str(i)}
                await c.create(p)
            got = await c.list("Pod", label_selector="idx in (1,3),app=web")
            assert [p["metadata"]["name"] for p in got["items"]] == ["p1", "p3"]
            got = await c.list("Pod", field_selector="metadata.name=p4")
            assert [p["metadata"]["name"] for p in got["items"]] == ["p4"]
            reg = c.registry
            page = reg.list("Pod", "default", limit=2)
            names = [p["metadata"]["name"] for p in page["items"]]
            while page["metadata"].get("continue"):
                page = reg.list("Pod", "default", limit=2, continue_=page["metadata"]["continue"])
                names += [p["metadata"]["name"] for p in page["items"]]
            assert names == ["p0", "p1", "p2", "p3", "p4"]
        finally:
            await c.close()

    run(go())


def test_watch_from_version_selectors_and_gone(tmp_path: Path) -> None:
    async def go() -> None:
        c = await open_inprocess(tmp_path)
        try:
            await c.create(pod("before"))
            listed = await c.list("Pod")
            rv = listed["metadata"]["resourceVersion"]
            await c.create(pod("after"))
            events = c.watch("Pod", "default", resource_version=rv)
            etype, obj = await asyncio.wait_for(events.__anext__(), 5)
            assert (etype, obj["metadata"]["name"]) == ("ADDED", "after")
            await events.aclose()  # type: ignore[attr-defined]
            # rv unset: synthetic ADDED for every current object first
            events = c.watch("Pod", "default", label_selector="tier=front")
            p = await c.get("Pod", "before")
            p["metadata"]["labels"]["tier"] = "front"
            await c.update(p)
            etype, obj = await asyncio.wait_for(events.__anext__(), 5)
            assert (etype, obj["metadata"]["name"]) == (
                "ADDED",
                "before",
            )  # moved into the selector
            await c.patch("Pod", "before", {"metadata": {"labels": {"tier": None}}})
            etype, obj = await asyncio.wait_for(events.__anext__(), 5)
            assert etype == "DELETED"  # moved out of it
            await events.aclose()  # type: ignore[attr-defined]
            assert c.registry.watcher_count == 0
            with pytest.raises(Gone):
                await c.watch("Pod", resource_version="5").__anext__()
        finally:
            await c.close()

    run(go())


@pytest.mark.process
def test_state_survives_kill_9(tmp_path: Path) -> None:
    script = (
        "import asyncio, os, sys\n"
        "from tidal.server.inprocess import open_inprocess\n"
        "async def main():\n"
        "    c = await open_inprocess(sys.argv[1])\n"
        "    for i in range(20):\n"
        "        await c.create({'apiVersion':'v1','kind':'Pod','metadata':{'name':f'p{i}'},"
        "'spec':{'containers':[{'name':'m'}]}})\n"
        "    print('done', flush=True)\n"
        "    await asyncio.sleep(3600)\n"
        "asyncio.run(main())\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script, str(tmp_path)],
        stdout=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == b"done"
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
    reg = Registry.open(tmp_path)
    try:
        items = reg.list("Pod", "default")["items"]
        assert len(items) == 20
        assert int(reg.resource_version) >= int(items[-1]["metadata"]["resourceVersion"])
    finally:
        reg.close()


def test_inprocess_shares_registry(tmp_path: Path) -> None:
    async def go() -> None:
        reg = Registry.open(tmp_path)
        a, b = InProcessClient(reg), InProcessClient(reg)
        await a.create(pod("shared"))
        assert (await b.get("Pod", "shared"))["metadata"]["name"] == "shared"
        await a.close()
        assert (await b.list("Pod"))["items"]
        reg.close()

    run(go())


def test_old_events_expire(tmp_path: Path) -> None:
    now = [1_000_000.0]
    reg = Registry.open(tmp_path, clock=lambda: now[0])
    try:
        from tidal.api.events import make_event

        target = reg.create(pod("p"))
        reg.create(make_event(target, "Started", "old", now=now[0], component="kubelet"))
        now[0] += 7200
        reg.create(make_event(target, "Started", "new", now=now[0], component="kubelet"))
        assert reg.expire_events() == 1
        assert [e["message"] for e in reg.list("Event", "default")["items"]] == ["new"]
    finally:
        reg.close()


def test_inprocess_table(tmp_path: Path) -> None:
    async def go() -> None:
        c = await open_inprocess(tmp_path)
        try:
            await c.create(deployment())
            t = await c.get_table("Deployment", "default")
            assert t["kind"] == "Table" and t["rows"][0]["cells"][:2] == ["web", "0/2"]
            t = await c.get_table("Deployment", name="web")
            assert len(t["rows"]) == 1
        finally:
            await c.close()

    run(go())


def test_terminating_pod_waits_for_the_runner(tmp_path: Path) -> None:
    reg = Registry.open(tmp_path)
    try:
        reg.create(pod("p", node="local-node"))
        obj, gone = reg.delete("Pod", "p", "default", grace_period_seconds=5)
        assert not gone and obj["metadata"]["deletionGracePeriodSeconds"] == 5
        # the runner reports the process stopped; the pod stays until its final delete
        reg.patch("Pod", "p", {"status": {"phase": "Failed"}}, "default", subresource="status")
        assert reg.get("Pod", "p", "default")["status"]["phase"] == "Failed"
        again, gone = reg.delete("Pod", "p", "default")
        assert (
            not gone
            and again["metadata"]["deletionTimestamp"] == obj["metadata"]["deletionTimestamp"]
        )
        _, gone = reg.delete("Pod", "p", "default", grace_period_seconds=0)
        assert gone
        with pytest.raises(NotFound):
            reg.get("Pod", "p", "default")
    finally:
        reg.close()
