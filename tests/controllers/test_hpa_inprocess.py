"""The HPA controller on the real API server code (InProcessClient over a Registry): admission
(defaults + validation of the HPA), /scale of a Deployment, status and events."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from tidal.api.errors import Invalid, NotFound
from tidal.api.meta import rfc3339
from tidal.controllers.hpa import HPAController, revision_name
from tidal.server.inprocess import InProcessClient
from tidal.server.registry import Registry

T0 = 1_800_000_000.0


def _metrics(cpu_m: dict[str, int]) -> Any:
    def raw(path: str, params: dict[str, str] | None) -> Any:
        assert path == "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods"
        assert params == {"labelSelector": "app=web"}
        return {
            "items": [
                {
                    "metadata": {"name": n, "namespace": "default"},
                    "timestamp": rfc3339(T0),
                    "window": "15s",
                    "containers": [{"name": "main", "usage": {"cpu": f"{m}m"}}],
                }
                for n, m in cpu_m.items()
            ]
        }

    return raw


def test_controller_scales_a_deployment_through_the_real_registry(tmp_path: Path) -> None:
    async def go() -> None:
        registry = Registry.open(tmp_path, clock=lambda: T0)
        client = InProcessClient(registry, raw=_metrics({"web-0": 90, "web-1": 90}))
        try:
            await client.create(
                {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "metadata": {"name": "web", "namespace": "default"},
                    "spec": {
                        "replicas": 2,
                        "selector": {"matchLabels": {"app": "web"}},
                        "template": {
                            "metadata": {"labels": {"app": "web"}},
                            "spec": {"containers": [{"name": "main", "image": "x"}]},
                        },
                    },
                }
            )
            for n in range(2):
                pod = await client.create(
                    {
                        "apiVersion": "v1",
                        "kind": "Pod",
                        "metadata": {
                            "name": f"web-{n}",
                            "namespace": "default",
                            "labels": {"app": "web"},
                        },
                        "spec": {
                            "containers": [
                                {
                                    "name": "main",
                                    "image": "x",
                                    "resources": {"requests": {"cpu": "100m"}},
                                }
                            ]
                        },
                    }
                )
                pod["status"] = {
                    "phase": "Running",
                    "startTime": rfc3339(T0 - 3600),
                    "conditions": [
                        {
                            "type": "Ready",
                            "status": "True",
                            "lastTransitionTime": rfc3339(T0 - 3600),
                        }
                    ],
                }
                await client.update(pod, subresource="status")
            hpa = {
                "apiVersion": "autoscaling/v2",
                "kind": "HorizontalPodAutoscaler",
                "metadata": {"name": "web", "namespace": "default"},
                "spec": {
                    "scaleTargetRef": {
                        "apiVersion": "apps/v1",
                        "kind": "Deployment",
                        "name": "web",
                    },
                    "maxReplicas": 5,
                    "metrics": [
                        {
                            "type": "Resource",
                            "resource": {
                                "name": "cpu",
                                "target": {"type": "Utilization", "averageUtilization": 30},
                            },
                        }
                    ],
                    "behavior": {
                        "scaleUp": {"policies": [{"type": "Pods", "value": 1, "periodSeconds": 60}]}
                    },
                },
            }
            created = await client.create(hpa)
            assert created["spec"]["minReplicas"] == 1  # API defaults applied on create
            assert created["spec"]["behavior"]["scaleDown"]["policies"] == [
                {"type": "Percent", "value": 100, "periodSeconds": 15}
            ]
            await HPAController(client, clock=lambda: T0).sync(created)
            deploy = await client.get("Deployment", "web", "default")
            assert (
                deploy["spec"]["replicas"] == 3
            )  # wants ceil(2*90/30)=6; Pods policy: +1 per 60 s
            got = await client.get("HorizontalPodAutoscaler", "web", "default")
            conds = {c["type"]: c["reason"] for c in got["status"]["conditions"]}
            assert conds["ScalingLimited"] == "ScaleUpLimit"
            events = (await client.list("Event", "default"))["items"]
            assert [e["message"] for e in events if e["reason"] == "SuccessfulRescale"] == [
                "New size: 3; reason: cpu resource utilization (percentage of request) above target"
            ]
            rev = await client.get("ControllerRevision", revision_name("web"), "default")
            assert (rev["apiVersion"], rev["revision"]) == ("apps/v1", 1)
            assert rev["metadata"]["ownerReferences"][0]["uid"] == created["metadata"]["uid"]
            assert "autoscaling.tidal.dev/history" not in (got["metadata"].get("annotations") or {})
            ctl = HPAController(client, clock=lambda: T0 + 60)  # a restarted controller
            await ctl.sync(await client.get("HorizontalPodAutoscaler", "web", "default"))
            rev = await client.get("ControllerRevision", revision_name("web"), "default")
            assert rev["revision"] == 2
            assert [n for _, n in rev["data"]["scaleUpEvents"]] == [1, 1]  # 2 -> 3 -> 4
            await client.delete("HorizontalPodAutoscaler", "web", "default")
            with pytest.raises(NotFound):  # garbage-collected with its HPA
                await client.get("ControllerRevision", revision_name("web"), "default")
            bad = dict(hpa, metadata={"name": "bad", "namespace": "default"})
            bad["spec"] = dict(hpa["spec"], minReplicas=0)
            with pytest.raises(Invalid) as err:
                await client.create(bad)
            assert any(c.field == "spec.metrics" for c in err.value.causes)
        finally:
            registry.close()

    asyncio.run(go())
