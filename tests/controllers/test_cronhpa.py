"""The CronHPA controller over a FakeApiClient and a fake clock: firing at the scheduled second
(never before), conditions and events with the original's messages, runOnce, resubmission,
restart safety (no double firing; missed firings run late within the grace window or are
skipped, and say so), excludeDates, HPA targets, a predictor steered through its HPA, retries,
and the seed's `describe` output."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable
from datetime import datetime
from typing import Any

from tests.fake_api import FakeApiClient
from tests.seed_outputs import SEED_CRONHPA
from tidal.api.errors import Conflict
from tidal.api.meta import rfc3339
from tidal.cli.describe.cronhpa import describe_cronhpa
from tidal.controllers.cronhpa import COMPONENT, CronHPAController

T0 = datetime.fromisoformat("2024-05-12T14:06:49+00:00").timestamp()
NS = "default"


class Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t

    async def sleep(self, s: float) -> None:
        self.t += s


def run(coro: Awaitable[Any]) -> Any:
    return asyncio.run(coro)  # type: ignore[arg-type]


def cronhpa(jobs: list[dict], ref: dict | None = None, **spec: Any) -> dict:
    return {
        "apiVersion": "autoscaling.alibabacloud.com/v1beta1",
        "kind": "CronHorizontalPodAutoscaler",
        "metadata": {"name": "c", "namespace": NS},
        "spec": {
            "scaleTargetRef": ref or {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
            "jobs": jobs,
            **spec,
        },
    }


def deployment(name: str = "web", replicas: int = 1, **meta: Any) -> dict:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": NS, **meta},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "main", "image": "python"}]},
            },
        },
    }


def hpa(name: str, target: str, lo: int, hi: int, current: int) -> dict:
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
            "minReplicas": lo,
            "maxReplicas": hi,
        },
        "status": {"currentReplicas": current, "desiredReplicas": current},
    }


class World:
    """A fake API, a clock and a controller; `restart()` gives a new controller (empty memory)."""

    def __init__(self, t: float = T0 + 0.2, **kw: Any) -> None:
        self.clock = Clock(t)
        self.api = FakeApiClient(self.clock)
        self.ids = (f"id-{n}" for n in itertools.count())
        self.kw = kw
        self.ctl = self._controller()

    def _controller(self) -> CronHPAController:
        return CronHPAController(
            self.api,
            clock=self.clock,
            sleep=self.clock.sleep,
            new_id=lambda: next(self.ids),
            **self.kw,
        )

    def restart(self) -> None:
        self.ctl = self._controller()

    async def step(self, at: float | None = None) -> float | None:
        if at is not None:
            self.clock.t = at
        wait = await self.ctl.reconcile((NS, "c"))
        await self.ctl.drain()
        return wait

    async def obj(self, kind: str = "CronHorizontalPodAutoscaler", name: str = "c") -> dict:
        return await self.api.get(kind, name, NS)

    async def cond(self, job: str) -> dict:
        conds = (await self.obj())["status"]["conditions"]
        return next(c for c in conds if c["name"] == job)

    async def replicas(self, name: str = "web") -> int:
        return (await self.obj("Deployment", name))["spec"]["replicas"]


def test_fires_at_its_second_not_before_and_records_it() -> None:
    async def go() -> None:
        w = World()
        await w.api.create(deployment())
        await w.api.create(cronhpa([{"name": "up", "schedule": "*/5 * * * * *", "targetSize": 3}]))
        wait = await w.step()
        due = T0 + 1  # 14:06:50
        assert wait is not None and abs(wait - (due - w.clock.t)) < 1e-6
        assert (await w.cond("up"))["state"] == "Submitted"
        await w.step(due - 0.01)
        assert await w.replicas() == 1  # not before
        await w.step(due + 0.05)
        assert await w.replicas() == 3
        cond = await w.cond("up")
        assert cond["state"] == "Succeed"
        assert cond["lastProbeTime"] == rfc3339(due)
        msg = "cron hpa job up executed successfully. current replicas:1, desired replicas:3."
        assert cond["message"] == msg
        for kind, name in (("CronHorizontalPodAutoscaler", "c"), ("Deployment", "web")):
            (ev,) = w.api.events(kind, name)
            assert (ev["type"], ev["reason"], ev["message"]) == ("Normal", "Succeed", msg)
            assert ev["source"]["component"] == COMPONENT
        # the next firing, five seconds on; the same event counts up
        await w.api.patch("Deployment", "web", {"spec": {"replicas": 1}}, NS)
        await w.step(due + 4.9)
        assert await w.replicas() == 1
        await w.step(due + 5.0)
        assert await w.replicas() == 3
        (ev,) = w.api.events("CronHorizontalPodAutoscaler", "c")
        assert ev["count"] == 2

    run(go())


def test_a_firing_runs_once_even_across_a_restart() -> None:
    async def go() -> None:
        w = World()
        await w.api.create(deployment())
        await w.api.create(cronhpa([{"name": "up", "schedule": "0 7 14 * * *", "targetSize": 4}]))
        await w.step()
        due = T0 + 11  # 14:07:00
        await w.step(due + 0.1)
        assert await w.replicas() == 4
        await w.api.patch("Deployment", "web", {"spec": {"replicas": 1}}, NS)
        await w.step(due + 0.5)
        w.restart()
        await w.step(due + 0.9)
        assert await w.replicas() == 1
        assert len(w.api.events("CronHorizontalPodAutoscaler", "c")) == 1

    run(go())


def test_missed_within_grace_runs_once_late_and_says_so() -> None:
    async def go() -> None:
        w = World(grace_s=60)
        await w.api.create(deployment())
        await w.api.create(cronhpa([{"name": "up", "schedule": "*/10 * * * * *", "targetSize": 2}]))
        await w.step()  # submitted at 14:06:49; the plane goes down
        w.restart()
        await w.step(T0 + 35.5)  # 14:07:24.5: 14:06:50, 07:00, 07:10 and 07:20 were missed
        assert await w.replicas() == 2
        cond = await w.cond("up")
        assert cond["lastProbeTime"] == "2024-05-12T14:07:20Z"
        assert cond["message"] == (
            "cron hpa job up executed successfully. current replicas:1, desired replicas:2."
            " Ran late: the firing at 2024-05-12T14:07:20Z was missed and is within the 60s"
            " grace window. Earlier missed firings since 2024-05-12T14:06:50Z were skipped."
        )
        reasons = sorted(e["reason"] for e in w.api.events("CronHorizontalPodAutoscaler"))
        assert reasons == ["OutOfDate", "Succeed"]
        out = next(e for e in w.api.events() if e["reason"] == "OutOfDate")
        assert out["message"] == "rerun out of date job: up" and out["type"] == "Warning"
        before = len(w.api.calls)
        await w.step(T0 + 40.9)  # nothing more until 14:07:30
        assert w.api.calls[before:] == []
        assert (await w.cond("up"))["lastProbeTime"] == "2024-05-12T14:07:20Z"

    run(go())


def test_missed_beyond_grace_is_skipped_and_says_so() -> None:
    async def go() -> None:
        w = World(grace_s=60)
        await w.api.create(deployment())
        await w.api.create(cronhpa([{"name": "up", "schedule": "0 7 14 * * *", "targetSize": 2}]))
        await w.step()
        w.restart()
        await w.step(T0 + 11 + 3600)  # an hour after 14:07:00
        assert await w.replicas() == 1
        cond = await w.cond("up")
        assert cond["state"] == "Submitted"
        assert cond["lastProbeTime"] == "2024-05-12T14:07:00Z"
        assert cond["message"] == (
            "skip out of date job up: the firing at 2024-05-12T14:07:00Z was missed and is older"
            " than the 60s grace window."
        )
        (ev,) = w.api.events("CronHorizontalPodAutoscaler")
        assert (ev["type"], ev["reason"]) == ("Warning", "OutOfDate")
        wait = await w.step()
        assert wait is not None and wait > 3600  # tomorrow's 14:07:00
        assert await w.replicas() == 1

    run(go())


def test_run_once_ends_in_succeed_and_is_not_resubmitted() -> None:
    async def go() -> None:
        w = World()
        await w.api.create(deployment())
        jobs = [{"name": "once", "schedule": "*/5 * * * * *", "targetSize": 2, "runOnce": True}]
        await w.api.create(cronhpa(jobs))
        await w.step()
        await w.step(T0 + 1)
        assert await w.replicas() == 2
        await w.api.patch("Deployment", "web", {"spec": {"replicas": 1}}, NS)
        assert await w.step(T0 + 6) is None
        assert await w.replicas() == 1
        cond = await w.cond("once")
        assert (cond["state"], cond["jobId"], cond["runOnce"]) == ("Succeed", "id-0", True)

    run(go())


def test_a_changed_job_is_resubmitted_with_a_new_job_id() -> None:
    async def go() -> None:
        w = World()
        await w.api.create(deployment())
        jobs = [
            {"name": "a", "schedule": "0 0 12 * * *", "targetSize": 1},
            {"name": "b", "schedule": "0 30 10 * * *", "targetSize": 2},
        ]
        await w.api.create(cronhpa(jobs))
        await w.step()
        assert [(await w.cond(n))["jobId"] for n in "ab"] == ["id-0", "id-1"]
        obj = await w.obj()
        obj["spec"]["jobs"][1]["targetSize"] = 3
        await w.api.update(obj)
        await w.step(T0 + 5)
        a, b = await w.cond("a"), await w.cond("b")
        assert (a["jobId"], b["jobId"], b["targetSize"], b["state"]) == (
            "id-0",
            "id-2",
            3,
            "Submitted",
        )
        assert b["lastProbeTime"] == rfc3339(T0 + 5)
        obj = await w.obj()
        obj["spec"]["scaleTargetRef"]["name"] = "other"
        await w.api.update(obj)
        await w.step()
        assert [(await w.cond(n))["jobId"] for n in "ab"] == ["id-3", "id-4"]

    run(go())


def test_exclude_dates_skip_the_whole_day() -> None:
    async def go() -> None:
        w = World()
        await w.api.create(deployment())
        jobs = [{"name": "up", "schedule": "0 7 14 * * *", "targetSize": 5}]
        await w.api.create(cronhpa(jobs, excludeDates=["* * * 12 5 *"]))
        await w.step()
        await w.step(T0 + 11)
        assert await w.replicas() == 1
        cond = await w.cond("up")
        assert cond["state"] == "Succeed"
        assert cond["message"] == (
            "cron hpa job up executed successfully. skip scaling activity,because of excludeDate"
            " (* * * 12 5 *)."
        )
        await w.step(T0 + 11 + 86400)  # May 13 is not excluded
        assert await w.replicas() == 5

    run(go())


def test_time_zone_decides_the_wall_clock() -> None:
    async def go() -> None:
        w = World()
        await w.api.create(deployment())
        jobs = [{"name": "up", "schedule": "0 30 22 * * *", "targetSize": 2}]
        await w.api.create(cronhpa(jobs, timeZone="Asia/Shanghai"))
        wait = await w.step()  # 22:30 Shanghai = 14:30 UTC
        assert wait is not None and abs(w.clock.t + wait - (T0 - 6 * 60 - 49 + 30 * 60)) < 1e-6
        assert (await w.obj())["status"]["timeZone"] == "Asia/Shanghai"

    run(go())


def test_hpa_target_follows_the_compatibility_rules() -> None:
    async def go() -> None:
        w = World()
        await w.api.create(deployment(replicas=2))
        await w.api.create(hpa("web", "web", 1, 10, 2))
        ref = {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "name": "web"}
        jobs = [
            {"name": "up", "schedule": "0 7 14 * * *", "targetSize": 6},
            {"name": "down", "schedule": "0 8 14 * * *", "targetSize": 1},
        ]
        await w.api.create(cronhpa(jobs, ref))
        await w.step()
        await w.step(T0 + 11)
        h = await w.obj("HorizontalPodAutoscaler", "web")
        assert (h["spec"]["minReplicas"], h["spec"]["maxReplicas"]) == (6, 10)
        assert await w.replicas() == 6
        await w.api.patch("HorizontalPodAutoscaler", "web", {"status": {"currentReplicas": 6}}, NS)
        await w.step(T0 + 71)
        h = await w.obj("HorizontalPodAutoscaler", "web")
        assert (h["spec"]["minReplicas"], h["spec"]["maxReplicas"]) == (1, 10)
        assert await w.replicas() == 6  # not below what the HPA wants
        assert (await w.cond("down"))["message"] == (
            "cron hpa job down executed successfully. Skip scale replicas because HPA web in"
            " namespace default current replicas:6 >= desired replicas:1."
        )
        assert [e["reason"] for e in w.api.events("HorizontalPodAutoscaler", "web")] == [
            "Succeed",
            "Succeed",
        ]

    run(go())


def test_predictor_with_an_hpa_is_steered_through_it() -> None:
    async def go() -> None:
        w = World()
        model = {"modelFormat": {"name": "sklearn"}, "storageUri": "file:///models/qwen"}
        isvc = await w.api.create(
            {
                "apiVersion": "serving.kserve.io/v1beta1",
                "kind": "InferenceService",
                "metadata": {"name": "qwen", "namespace": NS},
                "spec": {"predictor": {"minReplicas": 1, "maxReplicas": 10, "model": model}},
            }
        )
        owner = [
            {
                "apiVersion": "serving.kserve.io/v1beta1",
                "kind": "InferenceService",
                "name": "qwen",
                "uid": isvc["metadata"]["uid"],
                "controller": True,
            }
        ]
        await w.api.create(deployment("qwen-predictor", 2, ownerReferences=owner))
        await w.api.create(hpa("qwen-predictor", "qwen-predictor", 1, 10, 2))
        ref = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "qwen-predictor"}
        await w.api.create(
            cronhpa([{"name": "up", "schedule": "0 7 14 * * *", "targetSize": 6}], ref)
        )
        await w.step()
        await w.step(T0 + 11)
        h = await w.obj("HorizontalPodAutoscaler", "qwen-predictor")
        assert (h["spec"]["minReplicas"], h["spec"]["maxReplicas"]) == (6, 10)
        isvc = await w.obj("InferenceService", "qwen")
        assert isvc["spec"]["predictor"] == {"minReplicas": 6, "maxReplicas": 10, "model": model}
        assert await w.replicas("qwen-predictor") == 6
        assert (await w.cond("up"))["message"] == (
            "cron hpa job up executed successfully. current replicas:2, desired replicas:6."
            " Steered through HorizontalPodAutoscaler qwen-predictor of InferenceService qwen:"
            " minReplicas 1->6, maxReplicas 10->10."
        )

    run(go())


def test_plain_deployment_with_an_hpa_is_scaled_directly_as_the_original() -> None:
    async def go() -> None:
        w = World()
        await w.api.create(deployment(replicas=2))
        await w.api.create(hpa("web", "web", 1, 10, 2))
        await w.api.create(cronhpa([{"name": "up", "schedule": "0 7 14 * * *", "targetSize": 6}]))
        await w.step()
        await w.step(T0 + 11)
        assert await w.replicas() == 6
        h = await w.obj("HorizontalPodAutoscaler", "web")
        assert h["spec"]["minReplicas"] == 1

    run(go())


def test_a_missing_target_fails_after_the_original_retries() -> None:
    async def go() -> None:
        w = World()
        await w.api.create(cronhpa([{"name": "up", "schedule": "0 7 14 * * *", "targetSize": 2}]))
        await w.step()
        await w.step(T0 + 11)
        cond = await w.cond("up")
        assert cond["state"] == "Failed"
        assert cond["message"] == (
            "cron hpa failed to execute, because of failed to scale Deployment web in default"
            " namespace to 2 after retrying 4 times and exit,because of failed to find source"
            " target Deployment web in default namespace"
        )
        (ev,) = w.api.events("CronHorizontalPodAutoscaler")
        assert (ev["type"], ev["reason"], ev["message"]) == ("Warning", "Failed", cond["message"])

    run(go())


def test_a_conflicting_write_is_retried_and_nothing_fires_twice() -> None:
    async def go() -> None:
        w = World()
        await w.api.create(deployment())
        await w.api.create(cronhpa([{"name": "up", "schedule": "0 7 14 * * *", "targetSize": 4}]))
        await w.step()
        w.api.fail_once[("update", "CronHorizontalPodAutoscaler")] = Conflict("modified")
        await w.step(T0 + 11)
        assert (await w.cond("up"))["state"] == "Succeed"
        scale_writes = [c for c in w.api.calls if c[0] == "patch/scale"]
        await w.step(T0 + 11.5)
        assert (
            [c for c in w.api.calls if c[0] == "patch/scale"]
            == scale_writes
            == [("patch/scale", "Deployment", "web")]
        )

    run(go())


def test_a_deleted_cronhpa_stops_firing() -> None:
    async def go() -> None:
        w = World()
        await w.api.create(deployment())
        await w.api.create(cronhpa([{"name": "up", "schedule": "*/5 * * * * *", "targetSize": 3}]))
        await w.step()
        await w.step(T0 + 1)
        assert w.ctl._fired
        await w.api.delete("CronHorizontalPodAutoscaler", "c", NS)
        await w.api.patch("Deployment", "web", {"spec": {"replicas": 1}}, NS)
        assert await w.step(T0 + 6) is None
        assert await w.replicas() == 1
        assert not w.ctl._fired

    run(go())


def test_the_seed_yaml_gives_the_seed_describe() -> None:
    async def go() -> None:
        w = World(t=T0)
        ids = iter(["3972f7cc-bab0-482e-8cbe-7c41661b07f5", "36a04605-0233-4420-967c-ac2615f43de6"])
        w.ctl.new_id = lambda: next(ids)
        seed = cronhpa(
            [
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
            {"apiVersion": "apps/v1", "kind": "Deployment", "name": "qwen-cronhpa-predictor"},
        )
        await w.api.create(seed)
        await w.step()
        obj = await w.obj()
        obj["metadata"]["name"] = "qwen-cronhpa"
        obj["metadata"]["resourceVersion"] = "9205625"  # the cluster's counter, not ours
        obj["metadata"]["uid"] = "b9e72da7-262e-4042-b7f8-26586b75ecac"  # the API server's
        assert describe_cronhpa(obj, [], T0) == SEED_CRONHPA

    run(go())
