"""An HPA applied from a Kubernetes manifest with `behavior` policies is honoured on real pods:
the in-process API, the deployment controller, the pod runner (pods are processes), the psutil
resource sampler and the HPA controller, with short periods (the `fast` profile)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tidal.api.errors import NotFound
from tidal.autoscaling import profiles

MANIFEST = """
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: burner
  namespace: default
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: burner}
  minReplicas: 1
  maxReplicas: 3
  metrics:
  - type: Resource
    resource: {name: cpu, target: {type: Utilization, averageUtilization: 50}}
  behavior:
    scaleUp:
      stabilizationWindowSeconds: 0
      policies: [{type: Pods, value: 1, periodSeconds: 4}]
    scaleDown:
      stabilizationWindowSeconds: 3
      policies: [{type: Percent, value: 100, periodSeconds: 1}]
"""

BURN = """
import os, time
flag = os.environ["BURN_FLAG"]
while True:
    if os.path.exists(flag):
        end = time.perf_counter() + 0.02
        while time.perf_counter() < end:
            pass
        time.sleep(0.08)
    else:
        time.sleep(0.1)
"""


async def until(pred: Callable[[], Awaitable[Any]], timeout_s: float, what: str) -> Any:
    """Poll an async condition (never a fixed sleep)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = await pred()
        if value:
            return value
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")


@pytest.mark.process
@pytest.mark.timeout(240)
def test_behavior_policies_are_honoured_on_real_pods(tmp_path: Path) -> None:
    from tidal.controllers.deployment import DeploymentController
    from tidal.controllers.hpa import HPAController
    from tidal.controllers.loop import Loop
    from tidal.metrics.resource import ResourceSampler
    from tidal.pods.runner import PodRunner, RunnerSettings
    from tidal.server.inprocess import InProcessClient
    from tidal.server.registry import Registry

    flag = tmp_path / "burn"
    prof = profiles.FAST

    async def go() -> None:
        registry = Registry.open(tmp_path)
        holder: dict[str, Any] = {}

        def raw(path: str, params: dict[str, str] | None) -> Any:
            parts = path.strip("/").split("/")
            if parts[:3] == ["apis", "metrics.k8s.io", "v1beta1"] and parts[-1] == "pods":
                return holder["sampler"].pod_metrics_list(
                    parts[4], (params or {}).get("labelSelector")
                )
            raise NotFound(path)

        client = InProcessClient(registry, raw=raw)
        runner = PodRunner(client, tmp_path, settings=RunnerSettings(endpoint_drain_s=0.0))
        sampler = ResourceSampler(
            runner.pod_targets, resolution_s=prof.metric_resolution_s, window_s=prof.metric_window_s
        )
        holder["sampler"] = sampler
        tasks = [asyncio.create_task(runner.run()), asyncio.create_task(sampler.run())]
        deploy_loop = Loop(client, DeploymentController(client), resync_s=5.0)
        hpa_loop = Loop(client, HPAController(client, profile=prof), resync_s=prof.sync_period_s)
        trail: list[tuple[float, int]] = []

        async def replicas() -> int:
            n = int((await client.get("Deployment", "burner", "default"))["spec"]["replicas"])
            if not trail or trail[-1][1] != n:
                trail.append((time.monotonic(), n))
            return n

        try:
            await deploy_loop.start()
            await hpa_loop.start()
            await client.create(
                {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "metadata": {"name": "burner", "namespace": "default"},
                    "spec": {
                        "replicas": 1,
                        "selector": {"matchLabels": {"app": "burner"}},
                        "template": {
                            "metadata": {"labels": {"app": "burner"}},
                            "spec": {
                                "containers": [
                                    {
                                        "name": "main",
                                        "image": "python",
                                        "command": [sys.executable, "-c", BURN],
                                        "env": [{"name": "BURN_FLAG", "value": str(flag)}],
                                        "resources": {"requests": {"cpu": "100m"}},
                                    }
                                ]
                            },
                        },
                    },
                }
            )
            created = await client.create(yaml.safe_load(MANIFEST))
            assert created["spec"]["behavior"]["scaleUp"]["selectPolicy"] == "Max"  # API defaults

            async def saw_metrics() -> bool:
                hpa = await client.get("HorizontalPodAutoscaler", "burner", "default")
                return bool((hpa.get("status") or {}).get("currentMetrics"))

            await until(saw_metrics, 60, "the HPA to read the pod's CPU")
            flag.write_text("on")
            await until(lambda: _eq(replicas(), 3), 90, "3 replicas under load")
            ups = [t for t, n in trail if n > 1]
            # Pods policy: at most one more pod per 4 s (1 -> 2 -> 3), though 3 are wanted at once
            assert [n for _, n in trail] == [1, 2, 3]
            assert ups[1] - ups[0] >= 4 - 0.5
            flag.unlink()
            await until(lambda: _eq(replicas(), 1), 90, "back to 1 replica after the load")
            events = sorted(
                (await client.list("Event", "default"))["items"], key=lambda e: e["firstTimestamp"]
            )
            messages = [e["message"] for e in events if e["reason"] == "SuccessfulRescale"]
            assert messages[:2] == [
                "New size: 2; reason: cpu resource utilization (percentage of request) above target",
                "New size: 3; reason: cpu resource utilization (percentage of request) above target",
            ]
            assert messages[-1] == "New size: 1; reason: All metrics below target"
        finally:
            flag.unlink(missing_ok=True)
            await hpa_loop.stop()
            try:
                await client.delete("Deployment", "burner", "default")
            except NotFound:
                pass
            try:
                await until(lambda: _no_pods(client), 30, "the pods to go")
            finally:
                for target in runner.pod_targets():  # pods outlive their runner by design
                    for _, pid in target.containers:
                        try:
                            os.kill(pid, signal.SIGKILL)
                        except OSError:
                            pass
                await deploy_loop.stop()
                for t in tasks:
                    t.cancel()
                await runner.stop()
                await client.close()
                registry.close()

    asyncio.run(go())


async def _eq(value: Awaitable[int], want: int) -> bool:
    return await value == want


async def _no_pods(client: Any) -> bool:
    return not (await client.list("Pod", "default"))["items"]
