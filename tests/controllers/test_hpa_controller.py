"""The HPA controller against the real Registry in memory (`tests.fake_api`, with a
fake metrics API): what it reads, what it writes, and what survives a restart."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.fake_api import FakeApiClient
from tidal.api.errors import Invalid, NotFound, ServerError
from tidal.api.meta import rfc3339
from tidal.api.wellknown import PROFILE_ANNOTATION, SYNC_PERIOD_ANNOTATION
from tidal.autoscaling import profiles
from tidal.controllers.hpa import COMPONENT, KIND, HPAController, revision_name

HISTORY_ANNOTATION = "autoscaling.tidal.dev/history"  # history never goes on the HPA itself

T0 = 1_800_000_000.0


class FakeClock:
    def __init__(self) -> None:
        self.t = T0

    def __call__(self) -> float:
        return self.t


class FakePodMetrics:
    """Serves metrics.k8s.io PodMetrics: cpu milli per pod name; everything else is missing."""

    def __init__(self, clock: FakeClock) -> None:
        self.cpu_m: dict[str, int] = {}
        self.clock = clock
        self.paths: list[str] = []

    def __call__(self, path: str, params: dict[str, str] | None) -> Any:
        self.paths.append(path)
        if path != "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods":
            from tidal.api.errors import NotFound

            raise NotFound(f"the server could not find the requested resource ({path})")
        return {
            "items": [
                {
                    "metadata": {"name": name, "namespace": "default"},
                    "timestamp": rfc3339(self.clock()),
                    "window": "15s",
                    "containers": [{"name": "main", "usage": {"cpu": f"{m}m"}}],
                }
                for name, m in sorted(self.cpu_m.items())
            ]
        }


class Api(FakeApiClient):
    """The in-memory Registry's client, answering the metrics APIs from `metrics`."""

    def __init__(self, clock: FakeClock, metrics: FakePodMetrics) -> None:
        super().__init__(clock)
        self._raw = metrics

    async def create(self, obj: dict[str, Any], *, namespace: str | None = None) -> dict[str, Any]:
        """Create; a `status` given replaces the one the server defaults (a Pod's `Pending`), as
        the kubelet's status write would."""
        out = await super().create(obj, namespace=namespace)
        if obj.get("status") and out.get("status") != obj["status"]:
            out = await self.update({**out, "status": obj["status"]}, subresource="status")
        return out


def _pod(name: str, started: float) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "default", "labels": {"app": "web"}},
        "spec": {"containers": [{"name": "main", "resources": {"requests": {"cpu": "100m"}}}]},
        "status": {
            "phase": "Running",
            "startTime": rfc3339(started),
            "conditions": [
                {"type": "Ready", "status": "True", "lastTransitionTime": rfc3339(started)}
            ],
        },
    }


def _hpa(metrics: list[dict[str, Any]] | None = None, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {
            "name": "web",
            "namespace": "default",
            "annotations": spec.pop("annotations", {}),
        },
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
            "minReplicas": 1,
            "maxReplicas": 10,
            "metrics": metrics
            or [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": 50},
                    },
                }
            ],
            **spec,
        },
    }


async def _world(
    replicas: int, hpa: dict[str, Any], cpu_m: int
) -> tuple[Api, FakeClock, FakePodMetrics]:
    clock = FakeClock()
    metrics = FakePodMetrics(clock)
    api = Api(clock, metrics)
    await api.create(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "main", "image": "web"}]},
                },
            },
            "status": {"replicas": replicas},
        }
    )
    for n in range(replicas):
        await api.create(_pod(f"web-{n}", T0 - 3600))
        metrics.cpu_m[f"web-{n}"] = cpu_m
    await api.create(hpa)
    return api, clock, metrics


def _events(api: Api) -> list[tuple[str, str, str, int]]:
    return [
        (e["type"], e["reason"], e["message"], e["count"])
        for e in api.events()
        if e["source"]["component"] == COMPONENT
    ]


def test_scale_up_writes_scale_status_event_and_history() -> None:
    async def go() -> None:
        api, clock, metrics = await _world(2, _hpa(), cpu_m=150)  # 150 % of request vs 50 %
        ctl = HPAController(api, profile="kubernetes", clock=clock)
        d = await ctl.reconcile(("default", "web"))
        assert d == 15.0  # next sync after the kubernetes profile's period
        deploy = await api.get("Deployment", "web", "default")
        assert deploy["spec"]["replicas"] == 4  # ceil(2 * 150/50) = 6, legacy cap max(2*2, 4)
        hpa = await api.get("HorizontalPodAutoscaler", "web", "default")
        st = hpa["status"]
        assert (st["currentReplicas"], st["desiredReplicas"]) == (2, 4)
        assert st["lastScaleTime"] == rfc3339(T0)
        assert st["currentMetrics"] == [
            {
                "type": "Resource",
                "resource": {
                    "name": "cpu",
                    "current": {"averageUtilization": 150, "averageValue": "150m"},
                },
            }
        ]
        assert [(c["type"], c["status"], c["reason"]) for c in st["conditions"]] == [
            ("AbleToScale", "True", "SucceededRescale"),
            ("ScalingActive", "True", "ValidMetricFound"),
            ("ScalingLimited", "True", "ScaleUpLimit"),
            ("ScaledToZero", "False", "NotScaledToZero"),
        ]
        assert _events(api) == [
            (
                "Normal",
                "SuccessfulRescale",
                "New size: 4; reason: cpu resource utilization (percentage of request) above target",
                1,
            )
        ]
        assert HISTORY_ANNOTATION not in (hpa["metadata"].get("annotations") or {})
        rev = await api.get("ControllerRevision", revision_name("web"), "default")
        assert rev["apiVersion"] == "apps/v1"
        assert rev["revision"] == 1
        assert rev["metadata"]["ownerReferences"] == [
            {
                "apiVersion": "autoscaling/v2",
                "kind": "HorizontalPodAutoscaler",
                "name": "web",
                "uid": hpa["metadata"]["uid"],
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ]
        # first sight, then the proposal
        assert rev["data"]["recommendations"] == [[T0, 2], [T0, 6]]
        assert metrics.paths == ["/apis/metrics.k8s.io/v1beta1/namespaces/default/pods"]

    asyncio.run(go())


def test_unchanged_status_is_not_written_again_and_period_is_respected() -> None:
    async def go() -> None:
        api, clock, _ = await _world(2, _hpa(), cpu_m=50)  # exactly at target
        ctl = HPAController(api, profile="kubernetes", clock=clock)
        await ctl.reconcile(("default", "web"))
        status_writes = [w for w in api.calls if w[:2] == ("update/status", KIND)]
        assert len(status_writes) == 1
        clock.t += 5
        assert await ctl.reconcile(("default", "web")) == pytest.approx(10.0)  # not due: waits
        clock.t += 10
        await ctl.reconcile(("default", "web"))
        assert [
            w for w in api.calls if w[:2] == ("update/status", KIND)
        ] == status_writes  # equal status: no write
        assert (await api.get("Deployment", "web", "default"))["spec"]["replicas"] == 2

    asyncio.run(go())


def test_metric_no_source_provides_keeps_replicas_and_reports_scaling_active_false() -> None:
    async def go() -> None:
        metrics = [
            {
                "type": "Pods",
                "pods": {
                    "metric": {"name": "nope"},
                    "target": {"type": "AverageValue", "averageValue": "1"},
                },
            }
        ]
        api, clock, _ = await _world(3, _hpa(metrics), cpu_m=10)
        ctl = HPAController(api, clock=clock)
        await ctl.reconcile(("default", "web"))
        await ctl.sync(await api.get("HorizontalPodAutoscaler", "web", "default"))
        assert (await api.get("Deployment", "web", "default"))["spec"]["replicas"] == 3
        conds = {
            c["type"]: c
            for c in (await api.get("HorizontalPodAutoscaler", "web", "default"))["status"][
                "conditions"
            ]
        }
        assert conds["ScalingActive"]["status"] == "False"
        assert conds["ScalingActive"]["reason"] == "FailedGetPodsMetric"
        assert conds["ScalingActive"]["message"].startswith(
            "the HPA was unable to compute the replica count: unable to get metric nope: unable to fetch metrics from custom metrics API: "
        )
        reasons = {(e[1], e[3]) for e in _events(api)}
        assert reasons == {
            ("FailedGetPodsMetric", 2),
            ("FailedComputeMetricsReplicas", 2),
        }  # repeats aggregate

    asyncio.run(go())


def test_restart_keeps_the_stabilization_history() -> None:
    async def go() -> None:
        api, clock, metrics = await _world(4, _hpa(), cpu_m=100)
        first = HPAController(api, profile="kubernetes", clock=clock)
        await first.reconcile(("default", "web"))
        assert (await api.get("Deployment", "web", "default"))["spec"]["replicas"] == 8
        # load drops; a new controller (a restarted plane) must still hold the scale-down
        for name in metrics.cpu_m:
            metrics.cpu_m[name] = 5
        clock.t += 60
        second = HPAController(api, profile="kubernetes", clock=clock)
        await second.reconcile(("default", "web"))
        assert (await api.get("Deployment", "web", "default"))["spec"]["replicas"] == 8
        conds = {
            c["type"]: c
            for c in (await api.get("HorizontalPodAutoscaler", "web", "default"))["status"][
                "conditions"
            ]
        }
        assert conds["AbleToScale"]["reason"] == "ScaleDownStabilized"
        rev = await api.get("ControllerRevision", revision_name("web"), "default")
        assert rev["revision"] == 2  # written by the first controller, then by the second
        assert [n for _, n in rev["data"]["recommendations"]] == [4, 8, 1]
        hpa = await api.get("HorizontalPodAutoscaler", "web", "default")
        assert HISTORY_ANNOTATION not in (hpa["metadata"].get("annotations") or {})
        clock.t += 300  # past the 5-minute window
        await second.reconcile(("default", "web"))
        assert (await api.get("Deployment", "web", "default"))["spec"]["replicas"] == 1
        assert (await api.get("ControllerRevision", revision_name("web"), "default"))[
            "revision"
        ] == 3

    asyncio.run(go())


def test_sync_period_annotation_and_profile_annotation() -> None:
    hpa = _hpa(annotations={SYNC_PERIOD_ANNOTATION: "5s"})
    assert profiles.parse_duration("1m30s") == 90.0
    with pytest.raises(ValueError, match="invalid duration"):
        profiles.parse_duration("soon")

    async def go() -> None:
        api, clock, _ = await _world(1, hpa, cpu_m=50)
        ctl = HPAController(api, profile="kubernetes", clock=clock)
        assert await ctl.reconcile(("default", "web")) == 5.0
        obj = await api.get("HorizontalPodAutoscaler", "web", "default")
        obj["metadata"]["annotations"] = {PROFILE_ANNOTATION: "fast"}
        await api.update(obj)
        clock.t += 0.5
        # the spec did not change, so only the period matters: 1 s in the fast profile
        assert await ctl.reconcile(("default", "web")) == pytest.approx(0.5)

    asyncio.run(go())


def test_failed_scale_write_reports_failed_rescale() -> None:
    async def go() -> None:
        api, clock, _ = await _world(2, _hpa(), cpu_m=150)
        original = api.patch

        async def broken(
            kind: str, name: str, patch: Any, namespace: str | None = None, **kw: Any
        ) -> Any:
            if kw.get("subresource") == "scale":
                raise ServerError("etcd is on fire")
            return await original(kind, name, patch, namespace, **kw)

        api.patch = broken  # type: ignore[method-assign]
        d = await HPAController(api, clock=clock).sync(
            await api.get("HorizontalPodAutoscaler", "web", "default")
        )
        assert not d.rescale
        assert (await api.get("Deployment", "web", "default"))["spec"]["replicas"] == 2
        assert ("Warning", "FailedRescale") in {(e[0], e[1]) for e in _events(api)}
        msg = next(e[2] for e in _events(api) if e[1] == "FailedRescale")
        assert (
            msg
            == "New size: 4; reason: cpu resource utilization (percentage of request) above target; error: etcd is on fire"
        )
        conds = {
            c["type"]: c
            for c in (await api.get("HorizontalPodAutoscaler", "web", "default"))["status"][
                "conditions"
            ]
        }
        assert (conds["AbleToScale"]["status"], conds["AbleToScale"]["reason"]) == (
            "False",
            "FailedUpdateScale",
        )

    asyncio.run(go())


def test_missing_target_reports_failed_get_scale() -> None:
    async def go() -> None:
        api, clock, _ = await _world(1, _hpa(), cpu_m=50)
        await api.delete("Deployment", "web", "default")
        await HPAController(api, clock=clock).sync(
            await api.get("HorizontalPodAutoscaler", "web", "default")
        )
        conds = {
            c["type"]: c
            for c in (await api.get("HorizontalPodAutoscaler", "web", "default"))["status"][
                "conditions"
            ]
        }
        assert conds["AbleToScale"]["reason"] == "FailedGetScale"
        assert conds["AbleToScale"]["message"].startswith(
            "the HPA controller was unable to get the target's current scale: "
        )
        assert [e[1] for e in _events(api)] == ["FailedGetScale"]

    asyncio.run(go())


def test_global_sync_period_overrides_the_profile_and_the_annotation_wins() -> None:
    async def go() -> None:
        api, clock, _ = await _world(1, _hpa(), cpu_m=50)
        ctl = HPAController(api, profile="kubernetes", sync_period_s=3, clock=clock)
        assert await ctl.reconcile(("default", "web")) == 3.0
        other = _hpa(annotations={SYNC_PERIOD_ANNOTATION: "7"})
        other["metadata"]["name"] = "other"
        await api.create(other)
        assert await ctl.reconcile(("default", "other")) == 7.0

    asyncio.run(go())


def test_two_hpas_on_the_same_pods_are_ambiguous() -> None:
    async def go() -> None:
        api, clock, _ = await _world(2, _hpa(), cpu_m=150)
        twin = _hpa()
        twin["metadata"]["name"] = "twin"
        await api.create(twin)
        ctl = HPAController(api, clock=clock)
        await ctl.reconcile(("default", "web"))  # scales: it does not know the twin yet
        assert (await api.get("Deployment", "web", "default"))["spec"]["replicas"] == 4
        await ctl.reconcile(("default", "twin"))
        conds = {
            c["type"]: c
            for c in (await api.get("HorizontalPodAutoscaler", "twin", "default"))["status"][
                "conditions"
            ]
        }
        assert conds["ScalingActive"]["reason"] == "AmbiguousSelector"
        assert conds["ScalingActive"]["message"] == (
            "pods by selector app=web are controlled by multiple HPAs: [default/twin default/web]"
        )
        assert (await api.get("Deployment", "web", "default"))["spec"]["replicas"] == 4

    asyncio.run(go())


def test_a_new_hpa_holds_a_scale_down_for_a_whole_window() -> None:
    """Replicas of a 4-pod target whose load dropped, at T0 and at T0 + 250 s: the HPA is new at
    T0, so its own recommendation of 4 holds the scale-down for the 300 s window."""

    async def go() -> list[int]:
        api, clock, _ = await _world(4, _hpa(), cpu_m=5)
        ctl = HPAController(api, profile="kubernetes", clock=clock)
        await ctl.reconcile(("default", "web"))
        seen = [(await api.get("Deployment", "web", "default"))["spec"]["replicas"]]
        hpa = await api.get("HorizontalPodAutoscaler", "web", "default")
        assert HISTORY_ANNOTATION not in (hpa["metadata"].get("annotations") or {})
        rev = await api.get("ControllerRevision", revision_name("web"), "default")
        assert rev["revision"] == 1
        clock.t += 250
        await HPAController(api, profile="kubernetes", clock=clock).reconcile(("default", "web"))
        seen.append((await api.get("Deployment", "web", "default"))["spec"]["replicas"])
        return seen

    assert asyncio.run(go()) == [4, 4]


def test_history_revision_changed_or_deleted_underneath_is_reread() -> None:
    async def go() -> None:
        api, clock, _ = await _world(2, _hpa(), cpu_m=50)
        ctl = HPAController(api, profile="kubernetes", clock=clock)
        await ctl.reconcile(("default", "web"))
        name = revision_name("web")
        rev = await api.get("ControllerRevision", name, "default")
        rev["revision"] = 7  # someone else wrote it: the controller's copy is stale
        await api.update(rev)
        clock.t += 15
        await ctl.reconcile(("default", "web"))
        rev = await api.get("ControllerRevision", name, "default")
        assert rev["revision"] == 8
        assert len(rev["data"]["recommendations"]) == 3
        await api.delete("ControllerRevision", name, "default")
        clock.t += 15
        await ctl.reconcile(("default", "web"))
        rev = await api.get("ControllerRevision", name, "default")
        assert rev["revision"] == 1
        assert len(rev["data"]["recommendations"]) == 4  # the controller's own copy survives

    asyncio.run(go())


def test_immutable_revision_data_is_replaced_instead() -> None:
    """Kubernetes itself rejects a change of a ControllerRevision's `data`."""

    async def go() -> None:
        api, clock, _ = await _world(2, _hpa(), cpu_m=50)
        original = api.update

        async def strict(obj: dict[str, Any], **kw: Any) -> Any:
            if obj.get("kind") == "ControllerRevision":
                raise Invalid('ControllerRevision "web-hpa-history" is invalid: data')
            return await original(obj, **kw)

        api.update = strict  # type: ignore[method-assign]
        ctl = HPAController(api, profile="kubernetes", clock=clock)
        await ctl.reconcile(("default", "web"))
        clock.t += 15
        await ctl.reconcile(("default", "web"))
        rev = await api.get("ControllerRevision", revision_name("web"), "default")
        assert rev["revision"] == 2
        assert len(rev["data"]["recommendations"]) == 3

    asyncio.run(go())


def test_history_goes_with_its_hpa_and_a_new_hpa_starts_fresh() -> None:
    async def go() -> None:
        api, clock, _ = await _world(4, _hpa(), cpu_m=100)
        await HPAController(api, profile="kubernetes", clock=clock).reconcile(("default", "web"))
        name = revision_name("web")
        old = await api.get("ControllerRevision", name, "default")
        await api.delete("HorizontalPodAutoscaler", "web", "default")
        with pytest.raises(NotFound):
            await api.get("ControllerRevision", name, "default")
        # a revision left by a deleted HPA of the same name (where no garbage collector ran) is
        # not read; here the Registry collects it at once, and the new HPA starts fresh either way
        await api.create(old)
        await api.create(_hpa())
        clock.t += 1
        await HPAController(api, profile="kubernetes", clock=clock).reconcile(("default", "web"))
        hpa = await api.get("HorizontalPodAutoscaler", "web", "default")
        rev = await api.get("ControllerRevision", name, "default")
        assert rev["metadata"]["ownerReferences"][0]["uid"] == hpa["metadata"]["uid"]
        assert rev["data"]["recommendations"] == [[T0 + 1, 8], [T0 + 1, 8]]  # nothing of T0

    asyncio.run(go())
