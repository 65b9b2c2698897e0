"""The InferenceService, Deployment and Endpoints controllers on their real loops, against the
real API verb layer (InProcessClient over a Registry in a temp home). No processes: pods stay
as the controllers make them, and the test plays the kubelet by writing pod status."""

from __future__ import annotations

import asyncio
import copy
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from tidal.api.meta import rfc3339
from tidal.controllers.deployment import DeploymentController
from tidal.controllers.endpoints import EndpointsController
from tidal.controllers.inferenceservice import InferenceServiceController
from tidal.controllers.loop import Loop
from tidal.controllers.replicaset import ReplicaSetController
from tidal.server.inprocess import InProcessClient
from tidal.server.registry import Registry

ISVC = {
    "apiVersion": "serving.kserve.io/v1beta1",
    "kind": "InferenceService",
    "metadata": {"name": "iris", "namespace": "default"},
    "spec": {
        "predictor": {
            "minReplicas": 1,
            "maxReplicas": 3,
            "scaleMetric": "cpu",
            "scaleTarget": 50,
            "containers": [
                {
                    "name": "kserve-container",
                    "image": "img",
                    "command": ["sh", "-c", "sleep 100"],
                    "ports": [{"containerPort": 8080, "protocol": "TCP"}],
                }
            ],
        }
    },
}


async def until(pred: Callable[[], Awaitable[Any]], timeout_s: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        got = await pred()
        if got:
            return got
        await asyncio.sleep(0.02)
    raise AssertionError("condition not reached")


async def pods(client: InProcessClient) -> list[dict]:
    items = (await client.list("Pod", "default")).get("items", [])
    return [p for p in items if not p["metadata"].get("deletionTimestamp")]


async def make_ready(client: InProcessClient, pod: dict, ip: str) -> None:
    """What the kubelet would write once the container answers its probe."""
    p = copy.deepcopy(pod)
    p["spec"]["nodeName"] = "tidal-node"
    p = await client.update(p)
    p["status"] = {
        "phase": "Running",
        "podIP": ip,
        "conditions": [
            {"type": "Ready", "status": "True", "lastTransitionTime": rfc3339(time.time())}
        ],
        "containerStatuses": [{"name": "kserve-container", "ready": True, "restartCount": 0}],
    }
    await client.update(p, subresource="status")


def test_isvc_to_ready_and_scaled(tmp_path: Path) -> None:
    async def scenario() -> None:
        registry = Registry.open(tmp_path)
        client = InProcessClient(registry)
        loops = [
            Loop(client, InferenceServiceController(client, python="python"), resync_s=1),
            Loop(client, DeploymentController(client), resync_s=1),
            Loop(client, ReplicaSetController(client), resync_s=1),
            Loop(client, EndpointsController(client), resync_s=1),
        ]
        for lp in loops:
            await lp.start()
        try:
            await client.create(copy.deepcopy(ISVC))
            dep = await until(lambda: _get(client, "Deployment", "iris-predictor"))
            assert dep["spec"]["replicas"] == 1
            hpa = await until(lambda: _get(client, "HorizontalPodAutoscaler", "iris-predictor"))
            assert hpa["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"] == 50
            svc = await until(lambda: _get(client, "Service", "iris-predictor"))
            assert svc["metadata"]["annotations"]["serving.tidal.dev/hosts"].startswith(
                "iris-default.example.com"
            )

            [pod] = await until(lambda: pods(client))
            assert pod["metadata"]["name"].startswith("iris-predictor-")
            await make_ready(client, pod, "127.1.0.9")

            async def ready() -> bool:
                isvc = await client.get("InferenceService", "iris", "default")
                conds = {
                    c["type"]: c["status"] for c in isvc.get("status", {}).get("conditions", [])
                }
                return conds.get("Ready") == "True"

            await until(ready)
            isvc = await client.get("InferenceService", "iris", "default")
            assert isvc["status"]["url"] == "http://iris-default.example.com"
            ep = await until(lambda: _get(client, "Endpoints", "iris-predictor"))
            await until(lambda: _has_address(client, "127.1.0.9"))
            [es] = (
                await client.list(
                    "EndpointSlice",
                    "default",
                    label_selector="kubernetes.io/service-name=iris-predictor",
                )
            )["items"]
            assert es["endpoints"][0]["addresses"] == ["127.1.0.9"]

            # the autoscaler scales the Deployment; the isvc controller leaves replicas alone
            await client.patch("Deployment", "iris-predictor", {"spec": {"replicas": 3}}, "default")
            await until(lambda: _count(client, 3))
            await asyncio.sleep(0.3)
            dep = await client.get("Deployment", "iris-predictor", "default")
            assert dep["spec"]["replicas"] == 3

            # scale down: the two unready pods go first, the ready one stays
            await client.patch("Deployment", "iris-predictor", {"spec": {"replicas": 1}}, "default")
            [left] = await until(lambda: _count(client, 1))
            assert left["metadata"]["name"] == pod["metadata"]["name"]
            events = (await client.list("Event", "default")).get("items", [])
            msgs = [e["message"] for e in events if e["reason"] == "ScalingReplicaSet"]
            rs = pod["metadata"]["name"].rsplit("-", 1)[0]
            assert f"Scaled up replica set {rs} from 0 to 1" in msgs
            assert f"Scaled up replica set {rs} from 1 to 3" in msgs
            assert f"Scaled down replica set {rs} from 3 to 1" in msgs
            assert ep["metadata"]["name"] == "iris-predictor"
        finally:
            for lp in loops:
                await lp.stop()
            await client.close()
            registry.close()

    asyncio.run(scenario())


def test_user_hpa_is_left_alone(tmp_path: Path) -> None:
    async def scenario() -> None:
        registry = Registry.open(tmp_path)
        client = InProcessClient(registry)
        user_hpa = {
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "iris-predictor", "namespace": "default"},
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "x"},
                "minReplicas": 2,
                "maxReplicas": 7,
                "metrics": [
                    {
                        "type": "Resource",
                        "resource": {
                            "name": "memory",
                            "target": {"type": "Utilization", "averageUtilization": 70},
                        },
                    }
                ],
            },
        }
        await client.create(user_hpa)
        loop = Loop(client, InferenceServiceController(client, python="python"), resync_s=1)
        await loop.start()
        try:
            await client.create(copy.deepcopy(ISVC))
            await until(lambda: _get(client, "Deployment", "iris-predictor"))
            await asyncio.sleep(0.3)
            hpa = await client.get("HorizontalPodAutoscaler", "iris-predictor", "default")
            assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 7)
            assert not hpa["metadata"].get("ownerReferences")
        finally:
            await loop.stop()
            await client.close()
            registry.close()

    asyncio.run(scenario())


async def _get(client: InProcessClient, kind: str, name: str) -> dict | None:
    from tidal.api.errors import NotFound

    try:
        return await client.get(kind, name, "default")
    except NotFound:
        return None


async def _has_address(client: InProcessClient, ip: str) -> bool:
    ep = await _get(client, "Endpoints", "iris-predictor")
    return any(a["ip"] == ip for s in (ep or {}).get("subsets", []) for a in s.get("addresses", []))


async def _count(client: InProcessClient, n: int) -> list[dict] | None:
    got = await pods(client)
    return got if len(got) == n else None
