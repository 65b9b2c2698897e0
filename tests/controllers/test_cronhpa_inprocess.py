"""The CronHPA controller on its reconcile loop over the real in-process API server (SQLite
registry, admission, subresources, watch), on the real clock: the seed's YAML gives the seed's
`describe` (state Submitted), a `*/5 * * * * *` job changes a Deployment's replicas within a
second of each firing, and a predictor with an HPA is steered through it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.seed_outputs import CRONHPA_LAYOUT
from tidal.api.errors import Invalid, NotFound
from tidal.api.meta import parse_time
from tidal.cli.describe.cronhpa import describe_cronhpa
from tidal.controllers.cronhpa import CronHPAController
from tidal.controllers.loop import Loop
from tidal.server.inprocess import InProcessClient, open_inprocess

NS = "default"


def run(coro: Any) -> Any:
    return asyncio.run(coro)


async def until(pred: Callable[[], Any], timeout_s: float = 15.0, what: str = "") -> Any:
    """Poll an async or sync condition (never a fixed sleep)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = pred()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


class Recording:
    """Delegates to the in-process client and notes when a Deployment's replicas are written."""

    def __init__(self, inner: InProcessClient) -> None:
        self.inner = inner
        self.scaled: list[tuple[float, int]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def patch(
        self, kind: str, name: str, patch: Any, namespace: str | None = None, **kw: Any
    ) -> Any:
        out = await self.inner.patch(kind, name, patch, namespace, **kw)
        if kind == "Deployment":
            self.scaled.append((time.time(), patch["spec"]["replicas"]))
        return out


def deployment(name: str, replicas: int, labels: dict[str, str] | None = None) -> dict:
    sel = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": NS, "labels": {**sel, **(labels or {})}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": sel},
            "template": {
                "metadata": {"labels": sel},
                "spec": {"containers": [{"name": "main", "image": "x"}]},
            },
        },
    }


def seed_cronhpa(target: str, jobs: list[dict] | None = None) -> dict:
    return {
        "apiVersion": "autoscaling.alibabacloud.com/v1beta1",
        "kind": "CronHorizontalPodAutoscaler",
        "metadata": {"name": "qwen-cronhpa", "namespace": NS},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
            "jobs": jobs
            or [
                {
                    "name": "scale-down",
                    "schedule": "0 0 12 * * *",
                    "targetSize": 1,
                    "runOnce": False,
                },
                {
                    "name": "scale-up",
                    "schedule": "0 30 10 * * *",
                    "targetSize": 2,
                    "runOnce": False,
                },
            ],
        },
    }


def test_seed_yaml_describe_and_five_second_job(tmp_path: Path) -> None:
    async def go() -> None:
        client = await open_inprocess(tmp_path)
        rec = Recording(client)
        loop = Loop(rec, CronHPAController(rec), resync_s=30)  # type: ignore[arg-type]
        try:
            await client.create(deployment("sklearn-iris-predictor", 1))
            await client.create(seed_cronhpa("sklearn-iris-predictor"))
            await loop.start()

            async def submitted() -> dict | None:
                o = await client.get("CronHorizontalPodAutoscaler", "qwen-cronhpa", NS)
                return o if len((o.get("status") or {}).get("conditions") or []) == 2 else None

            obj = await until(submitted, what="conditions")
            c0, c1 = obj["status"]["conditions"]
            m = obj["metadata"]
            want = CRONHPA_LAYOUT.format(
                target="sklearn-iris-predictor",
                created=m["creationTimestamp"],
                rv=m["resourceVersion"],
                uid=m["uid"],
                id0=c0["jobId"],
                t0=c0["lastProbeTime"],
                id1=c1["jobId"],
                t1=c1["lastProbeTime"],
            )
            events = (await client.list("Event", NS))["items"]
            assert describe_cronhpa(obj, events, time.time()) == want

            # a */5 job on the same target: each firing changes the replicas within a second
            obj["spec"]["jobs"].append(
                {"name": "every5", "schedule": "*/5 * * * * *", "targetSize": 3}
            )
            await client.update(obj)
            for n in range(2):
                await until(lambda n=n: len(rec.scaled) > n, what=f"firing {n + 1}")
                at, size = rec.scaled[n]
                assert size == 3
                fired = at - at % 5  # the firing this write belongs to
                assert fired <= at < fired + 1
                await client.patch(
                    "Deployment", "sklearn-iris-predictor", {"spec": {"replicas": 1}}, NS
                )

            async def recorded() -> dict | None:
                o = await client.get("CronHorizontalPodAutoscaler", "qwen-cronhpa", NS)
                c = next(c for c in o["status"]["conditions"] if c["name"] == "every5")
                return c if c["state"] == "Succeed" else None

            cond = await until(recorded, what="Succeed")
            assert cond["message"].startswith(
                "cron hpa job every5 executed successfully. current replicas:"
            )
            probe = parse_time(cond["lastProbeTime"])
            assert probe is not None and probe % 5 == 0
            reasons = {
                (e["involvedObject"]["kind"], e["reason"])
                for e in (await client.list("Event", NS))["items"]
            }
            assert reasons == {
                ("CronHorizontalPodAutoscaler", "Succeed"),
                ("Deployment", "Succeed"),
            }
        finally:
            await loop.stop()
            await client.close()

    run(go())


def test_predictor_with_hpa_cooperates(tmp_path: Path) -> None:
    async def go() -> None:
        client = await open_inprocess(tmp_path)
        ctl = CronHPAController(client)
        try:
            labels = {"serving.kserve.io/inferenceservice": "qwen"}
            await client.create(deployment("qwen-predictor", 2, labels))
            hpa = await client.create(
                {
                    "apiVersion": "autoscaling/v2",
                    "kind": "HorizontalPodAutoscaler",
                    "metadata": {"name": "qwen-predictor", "namespace": NS},
                    "spec": {
                        "scaleTargetRef": {
                            "apiVersion": "apps/v1",
                            "kind": "Deployment",
                            "name": "qwen-predictor",
                        },
                        "minReplicas": 1,
                        "maxReplicas": 10,
                        "metrics": [
                            {
                                "type": "Resource",
                                "resource": {
                                    "name": "cpu",
                                    "target": {"type": "Utilization", "averageUtilization": 80},
                                },
                            }
                        ],
                    },
                }
            )
            hpa["status"] = {"currentReplicas": 2, "desiredReplicas": 2}
            await client.update(hpa, subresource="status")
            now = time.time()
            jobs = [{"name": "up", "schedule": "@every 1s", "targetSize": 6}]
            await client.create(seed_cronhpa("qwen-predictor", jobs))
            key = (NS, "qwen-cronhpa")
            await ctl.reconcile(key)
            await until(lambda: time.time() >= now + 2, what="the first @every 1s firing")
            await ctl.reconcile(key)
            await ctl.drain()
            h = await client.get("HorizontalPodAutoscaler", "qwen-predictor", NS)
            assert (h["spec"]["minReplicas"], h["spec"]["maxReplicas"]) == (6, 10)
            d = await client.get("Deployment", "qwen-predictor", NS)
            assert d["spec"]["replicas"] == 6
            # a later targetSize 1 does not shrink below what the HPA wants (current 6)
            h["status"] = {"currentReplicas": 6, "desiredReplicas": 6}
            await client.update(h, subresource="status")
            obj = await client.get("CronHorizontalPodAutoscaler", "qwen-cronhpa", NS)
            obj["spec"]["jobs"] = [{"name": "down", "schedule": "@every 1s", "targetSize": 1}]
            await client.update(obj)
            now = time.time()
            await ctl.reconcile(key)
            await until(lambda: time.time() >= now + 2, what="the next @every 1s firing")
            await ctl.reconcile(key)
            await ctl.drain()
            h = await client.get("HorizontalPodAutoscaler", "qwen-predictor", NS)
            assert (h["spec"]["minReplicas"], h["spec"]["maxReplicas"]) == (1, 10)
            assert (await client.get("Deployment", "qwen-predictor", NS))["spec"]["replicas"] == 6
        finally:
            await client.close()

    run(go())


def test_invalid_schedules_and_zones_are_refused(tmp_path: Path) -> None:
    async def go() -> None:
        client = await open_inprocess(tmp_path)
        try:
            bad = seed_cronhpa("x", [{"name": "a", "schedule": "0 0 0 * * 7", "targetSize": 1}])
            bad["spec"]["timeZone"] = "Mars/Olympus_Mons"
            with pytest.raises(Invalid) as exc:
                await client.create(bad)
            assert {c.field: c.message for c in exc.value.causes} == {
                "spec.jobs[0].schedule": 'Invalid value: "0 0 0 * * 7": End of range (7) above maximum (6): 7',
                "spec.timeZone": 'Invalid value: "Mars/Olympus_Mons": unknown time zone',
            }
            assert exc.value.code == 422
            with pytest.raises(NotFound):  # nothing was stored
                await client.get("CronHorizontalPodAutoscaler", "qwen-cronhpa", NS)
        finally:
            await client.close()

    run(go())
