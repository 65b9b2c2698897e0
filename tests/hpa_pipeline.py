"""The HPA path in one process on real pods: the in-process API over a Registry, the deployment
controller, the pod runner (pods are processes), the psutil resource sampler serving
metrics.k8s.io, and the HPA controller at a profile's periods. Shared by the behaviour test and
the reaction benchmark, with a Deployment whose pods burn CPU while a flag file exists."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from tidal.api.client import Obj
from tidal.api.errors import NotFound
from tidal.autoscaling.profiles import Profile


def burn_script(busy_s: float, period_s: float = 0.1) -> str:
    """A pod's program: while the flag file (env BURN_FLAG) exists, spin `busy_s` of every
    `period_s` (busy_s / period_s cores); otherwise idle."""
    return f"""
import os, time
flag = os.environ["BURN_FLAG"]
while True:
    if os.path.exists(flag):
        end = time.perf_counter() + {busy_s}
        while time.perf_counter() < end:
            pass
        time.sleep({round(period_s - busy_s, 6)})
    else:
        time.sleep({period_s})
"""


def burner(name: str, flag: Path, burn: str) -> Obj:
    """A one-replica Deployment running `burn` with a 100m CPU request."""
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "containers": [
                        {
                            "name": "main",
                            "image": "python",
                            "command": [sys.executable, "-c", burn],
                            "env": [{"name": "BURN_FLAG", "value": str(flag)}],
                            "resources": {"requests": {"cpu": "100m"}},
                        }
                    ]
                },
            },
        },
    }


@asynccontextmanager
async def hpa_pipeline(home: Path, prof: Profile, deployment: str) -> AsyncIterator[Any]:
    """The running pipeline's client; on exit `deployment` and its pods are removed (pods outlive
    their runner by design: what is left after 30 s is killed) and everything is stopped."""
    from tidal.controllers.deployment import DeploymentController
    from tidal.controllers.hpa import HPAController
    from tidal.controllers.loop import Loop
    from tidal.controllers.replicaset import ReplicaSetController
    from tidal.metrics.resource import ResourceSampler
    from tidal.pods.runner import PodRunner, RunnerSettings
    from tidal.server.inprocess import InProcessClient
    from tidal.server.registry import Registry

    registry = Registry.open(home)
    holder: dict[str, Any] = {}

    def raw(path: str, params: dict[str, str] | None) -> Any:
        parts = path.strip("/").split("/")
        if parts[:3] == ["apis", "metrics.k8s.io", "v1beta1"] and parts[-1] == "pods":
            return holder["sampler"].pod_metrics_list(parts[4], (params or {}).get("labelSelector"))
        raise NotFound(path)

    client = InProcessClient(registry, raw=raw)
    runner = PodRunner(client, home, settings=RunnerSettings(endpoint_drain_s=0.0))
    sampler = ResourceSampler(
        runner.pod_targets, resolution_s=prof.metric_resolution_s, window_s=prof.metric_window_s
    )
    holder["sampler"] = sampler
    tasks = [asyncio.create_task(runner.run()), asyncio.create_task(sampler.run())]
    deploy_loop = Loop(client, DeploymentController(client), resync_s=5.0)
    rs_loop = Loop(client, ReplicaSetController(client), resync_s=5.0)
    hpa_loop = Loop(client, HPAController(client, profile=prof), resync_s=prof.sync_period_s)
    try:
        await deploy_loop.start()
        await rs_loop.start()
        await hpa_loop.start()
        yield client
    finally:
        await hpa_loop.stop()
        await _remove_pods(client, runner, deployment)
        await deploy_loop.stop()
        await rs_loop.stop()
        for t in tasks:
            t.cancel()
        await runner.stop()
        await client.close()
        registry.close()


async def _remove_pods(client: Any, runner: Any, name: str) -> None:
    """Delete the Deployment and its pods and wait; kill what is left."""
    try:
        await client.delete("Deployment", name, "default")
    except NotFound:
        pass
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        pods = (await client.list("Pod", "default"))["items"]
        if not pods:
            return
        for pod in pods:
            if not pod["metadata"].get("deletionTimestamp"):
                try:
                    await client.delete("Pod", pod["metadata"]["name"], "default")
                except NotFound:
                    pass
        await asyncio.sleep(0.2)
    for target in runner.pod_targets():
        for _, pid in target.containers:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
