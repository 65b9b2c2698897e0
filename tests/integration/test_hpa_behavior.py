"""An HPA applied from a Kubernetes manifest with `behavior` policies is honoured on real pods:
the in-process API, the deployment controller, the pod runner (pods are processes), the psutil
resource sampler and the HPA controller, with short periods (the `fast` profile)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.hpa_pipeline import burn_script, burner, hpa_pipeline
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

BURN = burn_script(0.02)


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
    flag = tmp_path / "burn"  # outside the home (tmp_path / "home"): pods cannot see the home
    prof = profiles.FAST

    async def go() -> None:
        trail: list[tuple[float, int]] = []

        async def replicas() -> int:
            n = int((await client.get("Deployment", "burner", "default"))["spec"]["replicas"])
            if not trail or trail[-1][1] != n:
                trail.append((time.monotonic(), n))
            return n

        async with hpa_pipeline(tmp_path / "home", prof, "burner") as client:
            try:
                await client.create(burner("burner", flag, BURN))
                created = await client.create(yaml.safe_load(MANIFEST))
                # the API server's defaults
                assert created["spec"]["behavior"]["scaleUp"]["selectPolicy"] == "Max"

                async def saw_metrics() -> bool:
                    hpa = await client.get("HorizontalPodAutoscaler", "burner", "default")
                    return bool((hpa.get("status") or {}).get("currentMetrics"))

                await until(saw_metrics, 60, "the HPA to read the pod's CPU")
                flag.write_text("on")
                await until(lambda: _eq(replicas(), 3), 90, "3 replicas under load")
                ups = [t for t, n in trail if n > 1]
                # Pods policy: at most one more pod per 4 s (1 -> 2 -> 3), though 3 are wanted
                assert [n for _, n in trail] == [1, 2, 3]
                assert ups[1] - ups[0] >= 4 - 0.5
                flag.unlink()
                await until(lambda: _eq(replicas(), 1), 90, "back to 1 replica after the load")
                events = sorted(
                    (await client.list("Event", "default"))["items"],
                    key=lambda e: e["firstTimestamp"],
                )
                messages = [e["message"] for e in events if e["reason"] == "SuccessfulRescale"]
                assert messages[:2] == [
                    "New size: 2; reason: cpu resource utilization (percentage of request) above target",
                    "New size: 3; reason: cpu resource utilization (percentage of request) above target",
                ]
                assert messages[-1] == "New size: 1; reason: All metrics below target"
            finally:
                flag.unlink(missing_ok=True)

    asyncio.run(go())


async def _eq(value: Awaitable[int], want: int) -> bool:
    return await value == want
