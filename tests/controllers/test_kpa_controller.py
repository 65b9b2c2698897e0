"""The KPA controller over the real in-process API server, on virtual time: busy → scale up, idle
→ inactive (NoTraffic) → zero after the grace period, a held request → `poke` → one pod at once.
Request load comes from a static RequestStats, as the router would report it."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from tidal.api import gotime
from tidal.autoscaling.kpa.columns import kpa_columns
from tidal.autoscaling.kpa.config import Config
from tidal.controllers.kpa import KpaController, render_podautoscaler
from tidal.controllers.loop import Loop
from tidal.metrics.requests import Bucket, Load, Snapshot, StaticRequestStats
from tidal.server.inprocess import open_inprocess

NS = "default"
NAME = "iris0-predictor"
K = "autoscaling.knative.dev/"


class Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def deployment(replicas: int) -> dict[str, Any]:
    labels = {"app": NAME}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": NAME, "namespace": NS},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "kserve-container", "image": "x"}]},
            },
        },
    }


def podautoscaler() -> dict[str, Any]:
    return {
        "apiVersion": "autoscaling.internal.knative.dev/v1alpha1",
        "kind": "PodAutoscaler",
        "metadata": {
            "name": NAME,
            "namespace": NS,
            "annotations": {
                K + "class": "kpa.autoscaling.knative.dev",
                K + "metric": "concurrency",
                K + "target": "2",
                K + "window": "6s",
            },
        },
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": NAME},
            "containerConcurrency": 0,
            "protocolType": "http1",
        },
    }


def load(now: float, per_second: dict[int, float], in_flight: int = 0, held: int = 0) -> Snapshot:
    buckets = tuple(
        Bucket(t, int(c * 2), c, int(c)) for t, c in sorted(per_second.items()) if c and t < now
    )
    return Snapshot(now, {f"{NS}/{NAME}": Load(in_flight, 0, held, 0, buckets)})


def test_busy_idle_zero_and_poke(tmp_path: Path) -> None:
    async def go() -> None:
        clock = Clock(1_800_000_000.0)
        client = await open_inprocess(tmp_path, clock=clock)
        stats = StaticRequestStats()
        cfg = Config(scale_to_zero_grace_period=6 * gotime.SECOND)
        ctl = KpaController(client, stats, config=cfg, clock=clock)
        loop = Loop(client, ctl)
        key = (NS, NAME)
        try:
            await client.create(deployment(1))
            await client.create(podautoscaler())

            async def set_ready(n: int) -> None:
                dep = await client.get("Deployment", NAME, NS)
                dep["status"] = {"replicas": n, "readyReplicas": n, "availableReplicas": n}
                await client.update(dep, subresource="status")

            async def tick(dt: float) -> dict[str, Any]:
                clock.t += dt
                await ctl.reconcile(key, loop)
                return await client.get("PodAutoscaler", NAME, NS)

            async def replicas() -> int:
                return (await client.get("Deployment", NAME, NS))["spec"]["replicas"]

            await set_ready(1)
            pa = await tick(0)
            assert pa["status"]["actualScale"] == 1

            # 7 requests in flight for several seconds: target 2 × 0.7 = 1.4 → ceil(7/1.4) = 5.
            start = int(clock.t)
            busy = {start + i: 7.0 for i in range(10)}
            for _ in range(3):
                stats.current = load(clock.t + 2, busy)
                pa = await tick(2)
            assert await replicas() == 5
            assert pa["status"]["desiredScale"] == 5
            await set_ready(5)

            # Idle: the stable window (6 s) drains and panic ends; then pods go down by at most
            # half per tick (max-scale-down-rate 2); the last pod goes only once the PA is
            # inactive and the router has held the service for the grace period (6 s).
            seen = []
            for _ in range(15):
                stats.current = load(clock.t + 2, busy)
                pa = await tick(2)
                seen.append(await replicas())
                await set_ready(seen[-1])
            assert seen[0] == 5 and seen[-1] == 0
            assert all(b >= a // 2 and b <= a for a, b in zip(seen, seen[1:], strict=False))
            assert 1 in seen and 2 in seen
            active = {c["type"]: c for c in pa["status"]["conditions"]}["Active"]
            assert (active["status"], active["reason"]) == ("False", "NoTraffic")
            pa = await tick(2)
            assert kpa_columns(pa) == [NAME, 0, 0, "False", "NoTraffic"]

            # A request arrives and is held: poke scales from zero without waiting for a tick.
            stats.current = load(clock.t, {}, in_flight=1, held=1)
            assert ctl.poke(NS, NAME)
            clock.t += 0.1
            await ctl.reconcile(key, loop)
            assert await replicas() == 1
            pa = await client.get("PodAutoscaler", NAME, NS)
            active = {c["type"]: c for c in pa["status"]["conditions"]}["Active"]
            assert (active["status"], active["reason"]) == ("Unknown", "Queued")
            assert not ctl.poke(NS, "some-other-service")
        finally:
            await client.close()

    asyncio.run(go())


def test_render_podautoscaler_from_inferenceservice() -> None:
    isvc = {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {
            "name": "iris0",
            "namespace": "ml",
            "annotations": {K + "window": "10s", "other/x": "y"},
        },
        "spec": {
            "predictor": {
                "minReplicas": 0,
                "maxReplicas": 5,
                "scaleMetric": "concurrency",
                "scaleTarget": 2,
                "containerConcurrency": 4,
            }
        },
    }
    pa = render_podautoscaler(isvc, "iris0-predictor", uid="u1")
    assert pa["metadata"]["annotations"] == {
        K + "window": "10s",
        K + "min-scale": "0",
        K + "max-scale": "5",
        K + "class": "kpa.autoscaling.knative.dev",
        K + "target": "2",
        K + "metric": "concurrency",
    }
    assert pa["spec"]["containerConcurrency"] == 4
    assert pa["spec"]["scaleTargetRef"]["name"] == "iris0-predictor"
    assert pa["metadata"]["ownerReferences"][0]["uid"] == "u1"
    # Without minReplicas KServe keeps one pod.
    del isvc["spec"]["predictor"]["minReplicas"]
    assert render_podautoscaler(isvc, "p")["metadata"]["annotations"][K + "min-scale"] == "1"


def test_runs_on_the_reconcile_loop(tmp_path: Path) -> None:
    """Started as the plane starts it: the PodAutoscaler's watch drives the first decision."""

    async def go() -> None:
        client = await open_inprocess(tmp_path)
        now = time.time()
        busy = {int(now) - 3 + i: 7.0 for i in range(3)}
        stats = StaticRequestStats(load(now, busy))
        ctl = KpaController(client, stats)
        loop = Loop(client, ctl)
        try:
            await client.create(deployment(1))
            await loop.start()
            await client.create(podautoscaler())

            async def scaled() -> bool:
                dep = await client.get("Deployment", NAME, NS)
                return dep["spec"]["replicas"] == 5

            deadline = time.monotonic() + 20
            while not await scaled():
                assert time.monotonic() < deadline, "the loop never scaled the Deployment"
                await asyncio.sleep(0.02)
            assert ctl.poke(NS, NAME) and not ctl.poke("other", NAME)
        finally:
            await loop.stop()
            await client.close()

    asyncio.run(go())
