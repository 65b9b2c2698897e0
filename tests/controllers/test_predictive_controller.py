"""The predictive controller on the real API server code (InProcessClient over a Registry):
admission of the kind, the HPA's floor set and given back, status, events, the history revision;
and in `tidal simulate`, beside the real HPA controller."""

from __future__ import annotations

import asyncio
import copy
from pathlib import Path
from typing import Any

import pytest

from tidal.api.errors import Invalid
from tidal.controllers.predictive import BASE_ANNOTATION, REVISION_SUFFIX, PredictiveController
from tidal.server.inprocess import InProcessClient
from tidal.server.registry import Registry
from tidal.server.tables import PRINTERS
from tidal.sim.run import simulate
from tidal.sim.scenario import parse_scenario

T0 = 1_800_000_000.0
KIND = "PredictiveHorizontalPodAutoscaler"

HPA: dict[str, Any] = {
    "apiVersion": "autoscaling/v2",
    "kind": "HorizontalPodAutoscaler",
    "metadata": {"name": "web", "namespace": "default"},
    "spec": {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
        "minReplicas": 2,
        "maxReplicas": 8,
        "metrics": [
            {
                "type": "Pods",
                "pods": {
                    "metric": {"name": "router_concurrency"},
                    "target": {"type": "AverageValue", "averageValue": "4"},
                },
            }
        ],
    },
}


def _phpa(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "autoscaling.tidal.dev/v1alpha1",
        "kind": KIND,
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"hpaRef": {"name": "web"}, "prediction": {"scaleUpForward": 10}} | spec,
    }


async def _measured(client: InProcessClient, replicas: int, per_pod: str) -> None:
    """What the HPA controller writes after a sync: the replicas and the metric it saw."""
    hpa = await client.get("HorizontalPodAutoscaler", "web", "default")
    hpa["status"] = {
        "currentReplicas": replicas,
        "desiredReplicas": replicas,
        "currentMetrics": [
            {
                "type": "Pods",
                "pods": {
                    "metric": {"name": "router_concurrency"},
                    "current": {"averageValue": per_pod},
                },
            }
        ],
    }
    await client.update(hpa, subresource="status")


def test_floor_set_reported_and_given_back(tmp_path: Path) -> None:
    async def go() -> None:
        now = [T0]
        registry = Registry.open(tmp_path, clock=lambda: now[0])
        client = InProcessClient(registry)
        try:
            with pytest.raises(Invalid) as bad:
                await client.create(_phpa(prediction={"quantile": 120}))
            assert "spec.prediction.quantile" in str(bad.value)
            await client.create(copy.deepcopy(HPA))
            await client.create(_phpa())
            ctl = PredictiveController(client, profile="kubernetes", clock=lambda: now[0])
            # nothing measured yet: the floor is the HPA's own
            await ctl.reconcile(("default", "web"))
            hpa = await client.get("HorizontalPodAutoscaler", "web", "default")
            assert hpa["spec"]["minReplicas"] == 2
            assert hpa["metadata"]["annotations"][BASE_ANNOTATION] == "2"
            # demand rises 2 -> 8 replicas over three minutes: the floor leads it
            for i in range(13):
                now[0] = T0 + 15 * (i + 1)
                await _measured(client, 2, f"{4 + i:g}")  # 4 .. 16 per pod on 2 pods
                await ctl.reconcile(("default", "web"))
            hpa = await client.get("HorizontalPodAutoscaler", "web", "default")
            obj = await client.get(KIND, "web", "default")
            st = obj["status"]
            assert st["demand"] == 8.0  # 16 per pod on 2 pods, target 4
            assert st["forecast"]["value"] > 8.0  # the trend carries it on
            assert st["floor"] == hpa["spec"]["minReplicas"] == 8  # capped at maxReplicas
            assert "capped at the HPA's maxReplicas 8" in st["reason"]
            assert st["baseMinReplicas"] == 2
            row = PRINTERS[KIND][1](obj, now[0])
            assert row[:5] == ["web", "web", "auto", 2, 8]
            events = (await client.list("Event", "default"))["items"]
            assert any(e["reason"] == "FloorRaised" for e in events)
            rev = await client.get("ControllerRevision", "web" + REVISION_SUFFIX, "default")
            assert rev["data"]["samples"]
            assert rev["metadata"]["ownerReferences"][0]["uid"] == obj["metadata"]["uid"]
            # a restarted controller continues with the stored history
            ctl2 = PredictiveController(client, profile="kubernetes", clock=lambda: now[0])
            now[0] += 15
            await _measured(client, 8, "1")
            out = await ctl2.sync(await client.get(KIND, "web", "default"))
            assert out.forecast is not None and out.forecast.samples >= 2
            # observer: reports only, and the HPA gets its own minimum back
            obj = await client.get(KIND, "web", "default")
            obj["spec"]["scaleStrategy"] = "observer"
            await client.update(obj)
            now[0] += 15
            await ctl2.reconcile(("default", "web"))
            hpa = await client.get("HorizontalPodAutoscaler", "web", "default")
            assert hpa["spec"]["minReplicas"] == 2
            assert BASE_ANNOTATION not in (hpa["metadata"].get("annotations") or {})
            st = (await client.get(KIND, "web", "default"))["status"]
            assert st["reason"].startswith("observer: would set floor")
            # back to auto, then deleted: the floor goes back to 2
            obj = await client.get(KIND, "web", "default")
            obj["spec"]["scaleStrategy"] = "auto"
            await client.update(obj)
            now[0] += 15
            await _measured(client, 2, "12")
            await ctl2.reconcile(("default", "web"))
            assert (await client.get("HorizontalPodAutoscaler", "web", "default"))["spec"][
                "minReplicas"
            ] > 2
            await client.delete(KIND, "web", "default")
            await ctl2.reconcile(("default", "web"))
            hpa = await client.get("HorizontalPodAutoscaler", "web", "default")
            assert hpa["spec"]["minReplicas"] == 2
            assert BASE_ANNOTATION not in (hpa["metadata"].get("annotations") or {})
        finally:
            await client.close()
            registry.close()

    asyncio.run(go())


def test_missing_hpa_is_reported(tmp_path: Path) -> None:
    async def go() -> None:
        registry = Registry.open(tmp_path, clock=lambda: T0)
        client = InProcessClient(registry)
        try:
            await client.create(_phpa())
            ctl = PredictiveController(client, clock=lambda: T0)
            await ctl.reconcile(("default", "web"))
            st = (await client.get(KIND, "web", "default"))["status"]
            assert st["reason"] == 'HorizontalPodAutoscaler "web" not found'
        finally:
            await client.close()
            registry.close()

    asyncio.run(go())


def _ramp(predictive: bool) -> dict[str, Any]:
    hpa = copy.deepcopy(HPA)
    hpa["metadata"] = {"name": "web"}
    hpa["spec"]["minReplicas"] = 1
    hpa["spec"]["maxReplicas"] = 20
    hpa["spec"]["metrics"][0]["pods"]["target"]["averageValue"] = "2"
    objects = [hpa]
    if predictive:
        objects.append(
            {k: v for k, v in _phpa().items() if k != "metadata"} | {"metadata": {"name": "web"}}
        )
    return {
        "name": "ramp",
        "duration": 600,
        "profile": "kubernetes",
        "deployments": [
            {
                "name": "web",
                "replicas": 1,
                "startupSeconds": 10,
                "requestSeconds": 1,
                "load": {"rps": "2 + 12 * t / 600"},
            }
        ],
        "objects": objects,
    }


def test_simulated_beside_the_hpa_less_time_above_target() -> None:
    """On a steady ramp the floor moves ahead of the HPA, so the service spends less time above
    its target; the same scenario prints the same records twice (deterministic)."""
    base = asyncio.run(simulate(parse_scenario(_ramp(False), base=Path("."))))
    runs = [asyncio.run(simulate(parse_scenario(_ramp(True), base=Path(".")))) for _ in range(2)]
    assert runs[0][0] == runs[1][0]
    records, summary = runs[0]
    preds = [r for r in records if r.controller == "pred"]
    assert any("floor 1 -> " in r.reason for r in preds)
    assert summary.above_target_s["web"] < base[1].above_target_s["web"]
