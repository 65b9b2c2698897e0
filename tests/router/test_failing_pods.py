"""Issue 13 (item 9): a held request fails fast, 503 naming the reason, when every pod of its
Service is crash-looping or cannot be scheduled. The decision is a pure table; the router's side
runs against a real (in-process) API holding the pods."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from tidal.router.activation import PodCheck, pod_failure, pods_verdict
from tidal.router.proxy import Router
from tidal.router.table import RoutingTable, service_selector
from tidal.server.inprocess import open_inprocess

pytestmark = pytest.mark.process
HOST = "crashy-default.example.com"
SVC = "default/crashy"


def pod(name: str, status: dict[str, Any], deleting: bool = False) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": "default", "labels": {"app": "crashy"}}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "status": status}


def waiting(reason: str, message: str = "") -> dict[str, Any]:
    return {
        "phase": "Running",
        "conditions": [{"type": "PodScheduled", "status": "True"}],
        "containerStatuses": [
            {
                "name": "kserve-container",
                "state": {"waiting": {"reason": reason, "message": message}},
            }
        ],
    }


CRASH = waiting("CrashLoopBackOff", "back-off 10s restarting failed container=kserve-container")
UNSCHEDULABLE = {
    "phase": "Pending",
    "conditions": [
        {
            "type": "PodScheduled",
            "status": "False",
            "reason": "Unschedulable",
            "message": "0/1 nodes are available: 1 Insufficient cpu.",
        }
    ],
}
STARTING = waiting("ContainerCreating")
RUNNING_NOT_READY = {
    "phase": "Running",
    "conditions": [{"type": "PodScheduled", "status": "True"}],
    "containerStatuses": [{"name": "kserve-container", "state": {"running": {}}}],
}
PENDING_NEW: dict[str, Any] = {"phase": "Pending"}


@pytest.mark.parametrize(
    ("pods", "reason", "in_message"),
    [
        ([], None, None),  # no pod yet: a scale-up from zero is on its way, keep holding
        ([pod("a", CRASH)], "CrashLoopBackOff", "back-off 10s"),
        ([pod("a", CRASH), pod("b", CRASH)], "CrashLoopBackOff", "2 CrashLoopBackOff"),
        ([pod("a", UNSCHEDULABLE)], "Unschedulable", "Insufficient cpu"),
        ([pod("a", CRASH), pod("b", UNSCHEDULABLE)], "PodsFailing", "1 Unschedulable"),
        ([pod("a", waiting("ImagePullBackOff"))], "ImagePullBackOff", "pod a"),
        ([pod("a", CRASH), pod("b", STARTING)], None, None),  # b may still come up
        ([pod("a", CRASH), pod("b", RUNNING_NOT_READY)], None, None),
        ([pod("a", CRASH), pod("b", PENDING_NEW)], None, None),  # not scheduled yet, no verdict
        ([pod("a", CRASH), pod("b", STARTING, deleting=True)], "CrashLoopBackOff", "pod a"),
        ([pod("a", {"phase": "Failed"}), pod("b", CRASH)], "CrashLoopBackOff", "pod b"),
        ([pod("a", {"phase": "Succeeded"})], None, None),  # nothing live: keep holding
    ],
)
def test_pods_verdict(
    pods: list[dict[str, Any]], reason: str | None, in_message: str | None
) -> None:
    verdict = pods_verdict(SVC, pods)
    if reason is None:
        assert verdict is None
    else:
        assert verdict is not None and verdict[0] == reason
        assert SVC in verdict[1] and in_message in verdict[1], verdict


@pytest.mark.parametrize(
    ("status", "want"),
    [
        (CRASH, "CrashLoopBackOff"),
        (UNSCHEDULABLE, "Unschedulable"),
        (STARTING, None),
        (RUNNING_NOT_READY, None),
        (
            {
                "initContainerStatuses": [
                    {"name": "i", "state": {"waiting": {"reason": "ErrImagePull"}}}
                ]
            },
            "ErrImagePull",
        ),
        ({}, None),
    ],
)
def test_pod_failure(status: dict[str, Any], want: str | None) -> None:
    got = pod_failure({"status": status})
    assert (got[0] if got else None) == want


def test_service_selector() -> None:
    assert service_selector({"spec": {"selector": {"b": "2", "a": "1"}}}) == "a=1,b=2"
    assert service_selector({"spec": {}}) == ""


def test_held_requests_fail_fast_when_every_pod_is_failing(tmp_path: Path) -> None:
    async def main() -> None:
        api = await open_inprocess(tmp_path)
        table = RoutingTable()
        table.apply(
            {
                "kind": "Service",
                "metadata": {
                    "name": "crashy",
                    "namespace": "default",
                    "annotations": {"serving.tidal.dev/hosts": HOST},
                },
                "spec": {"selector": {"app": "crashy"}},
            }
        )
        router = Router(table, asyncio.get_running_loop(), pods=PodCheck(api, every_s=0.05))
        port = await router.listen("127.0.0.1", 0)
        url = f"http://127.0.0.1:{port}/v1/models/crashy:predict"
        try:
            spec = {"containers": [{"name": "kserve-container", "image": "crashy"}]}
            created = await api.create({**pod("crashy-1", {}), "spec": spec})
            created["status"] = STARTING
            created = await api.update(created, subresource="status")
            async with httpx.AsyncClient(timeout=30) as c:
                held = asyncio.create_task(c.post(url, headers={"Host": HOST}, content=b"{}"))
                backend = table.backends[SVC]
                while not backend.held:  # held: the pod is still starting
                    await asyncio.sleep(0.01)
                created["status"] = CRASH
                await api.update(created, subresource="status")
                r = await held  # answered once the pods say it will not come up
                assert r.status_code == 503
                assert r.json()["reason"] == "CrashLoopBackOff"
                assert "crashy-1" in r.json()["error"] and "back-off 10s" in r.json()["error"]
                # while the verdict is fresh, a new request is answered at once
                r = await c.post(url, headers={"Host": HOST}, content=b"{}")
                assert r.status_code == 503 and r.json()["reason"] == "CrashLoopBackOff"
        finally:
            await router.close()
            await api.close()

    asyncio.run(main())
