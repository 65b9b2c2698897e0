"""`tidal tune`: search a policy's parameters on the simulator (the decisions are
`tidal.sim.search`; this module builds each candidate's scenario, runs it and writes manifests).

Each candidate runs the scenario's traffic against one Deployment (the one tuned, alone) with the
candidate's autoscaler: an HPA built on the scenario's HPA for that Deployment (its metric, the
target replaced; `behavior.scaleDown` from the candidate; the scale-up behaviour Kubernetes'
default) or a PodAutoscaler with the candidate's `autoscaling.knative.dev/*` annotations. Runs
go to `jobs` worker processes (fork); results do not depend on their order."""

from __future__ import annotations

import asyncio
import copy
import multiprocessing
from collections.abc import Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

from tidal.sim import search
from tidal.sim.report import ReportRow
from tidal.sim.scenario import DeploymentSpec, Scenario, ScenarioError
from tidal.sim.search import Candidate, Outcome

KNATIVE = "autoscaling.knative.dev/"


@dataclass(frozen=True, slots=True)
class Target:
    """What is tuned: the Deployment, its max replicas, and the HPA the scenario gives for it."""

    deployment: DeploymentSpec
    max_replicas: int
    hpa: dict[str, Any] | None  # the scenario's HPA for the Deployment (its metric is kept)


def find_target(scenario: Scenario, name: str | None) -> Target:
    deps = [d for d in scenario.deployments if d.max_concurrency is not None]
    if not deps:
        raise ScenarioError(
            "deployments: tune needs a Deployment with maxConcurrency (a pod's capacity)"
        )
    if scenario.slo is None:
        raise ScenarioError(
            "slo: tune needs the scenario's SLO (slo: {latency: 2s, percentile: 99})"
        )
    if name is not None:
        deps = [d for d in deps if d.name == name]
        if not deps:
            raise ScenarioError(
                f"--deployment {name}: no Deployment of that name with maxConcurrency"
            )
    d = deps[0]
    hpa = None
    max_replicas = 0
    for o in scenario.objects:
        ref = (o.get("spec") or {}).get("scaleTargetRef") or {}
        if ref.get("name") != d.name:
            continue
        if o.get("kind") == "HorizontalPodAutoscaler":
            hpa = o
            max_replicas = max(max_replicas, int((o.get("spec") or {}).get("maxReplicas") or 0))
        anns = (o.get("metadata") or {}).get("annotations") or {}
        if anns.get(KNATIVE + "max-scale"):
            max_replicas = max(max_replicas, int(anns[KNATIVE + "max-scale"]))
    return Target(d, max_replicas or 100, hpa)


def default_target(target: Target) -> float:
    """The per-pod target the scenario gives (its HPA's), else the pod's capacity."""
    for m in ((target.hpa or {}).get("spec") or {}).get("metrics") or ():
        t = ((m.get("pods") or m.get("object") or m.get("resource") or {}).get("target")) or {}
        for key in ("averageValue", "value", "averageUtilization"):
            if t.get(key) is not None:
                from tidal.api.quantity import parse

                return float(parse(str(t[key])))
    return float(target.deployment.max_concurrency or 1)


def manifest(target: Target, c: Candidate) -> dict[str, Any]:
    """The candidate as a ready-to-apply object for the tuned Deployment."""
    d = target.deployment
    p = dict(c.params)
    if c.kind == search.HPA:
        base = copy.deepcopy(target.hpa) if target.hpa else None
        metrics = ((base or {}).get("spec") or {}).get("metrics") or [
            {
                "type": "Pods",
                "pods": {
                    "metric": {"name": "router_concurrency"},
                    "target": {"type": "AverageValue", "averageValue": "1"},
                },
            }
        ]
        metrics = copy.deepcopy(metrics)
        for m in metrics:
            src = m.get("pods") or m.get("object") or m.get("resource") or {}
            t = src.get("target") or {}
            if t.get("averageUtilization") is not None:
                t["averageUtilization"] = int(round(p["target"]))
            elif t.get("value") is not None:
                t["value"] = f"{p['target']:g}"
            else:
                t["averageValue"] = f"{p['target']:g}"
        return {
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": d.name, "namespace": d.namespace},
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": d.name},
                "minReplicas": int(p["minReplicas"]),
                "maxReplicas": max(target.max_replicas, int(p["minReplicas"])),
                "metrics": metrics,
                "behavior": {
                    "scaleUp": {"tolerance": f"{p['scaleUpTolerance']:g}"},
                    "scaleDown": {
                        "stabilizationWindowSeconds": int(p["scaleDownWindow"]),
                        "policies": [
                            {
                                "type": "Percent",
                                "value": int(p["scaleDownPercent"]),
                                "periodSeconds": 15,
                            }
                        ],
                    },
                },
            },
        }
    anns = {
        KNATIVE + "class": "kpa.autoscaling.knative.dev",
        KNATIVE + "metric": "concurrency",
        KNATIVE + "target": f"{p['target']:g}",
        KNATIVE + "window": f"{int(p['window'])}s",
        KNATIVE + "scale-down-delay": f"{int(p['scaleDownDelay'])}s",
        KNATIVE + "panic-threshold-percentage": f"{p['panicThreshold']:g}",
        KNATIVE + "min-scale": str(int(p["minScale"])),
        KNATIVE + "max-scale": str(max(target.max_replicas, int(p["minScale"]))),
    }
    return {
        "apiVersion": "autoscaling.internal.knative.dev/v1alpha1",
        "kind": "PodAutoscaler",
        "metadata": {"name": d.name, "namespace": d.namespace, "annotations": anns},
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": d.name}},
    }


def scenario_for(scenario: Scenario, target: Target, c: Candidate) -> Scenario:
    """The scenario with only the tuned Deployment and the candidate's autoscaler."""
    d = target.deployment
    start = max(1, int(c.get("minReplicas" if c.kind == search.HPA else "minScale")))
    return replace(
        scenario,
        deployments=[replace(d, replicas=max(d.replicas, start))],
        objects=[manifest(target, c)],
        object_metrics=[],
    )


def run_one(scenario: Scenario) -> ReportRow:
    """Simulate and return the tuned Deployment's report row."""
    from tidal.sim.run import simulate

    _, summary = asyncio.run(simulate(scenario))
    return summary.report[0]


def outcome(row: ReportRow) -> Outcome:
    return Outcome(
        replica_seconds=row.replica_seconds,
        bound=row.bound_replica_seconds,
        p99_s=row.p99_s,
        over=row.over_slo,
        over_share=row.over_slo_share,
        slo_met=bool(row.slo_met),
    )


_WORK: dict[str, Any] = {}  # the forked workers' scenario and target


def _evaluate(c: Candidate) -> tuple[Candidate, Outcome]:
    return c, outcome(run_one(scenario_for(_WORK["scenario"], _WORK["target"], c)))


def given(scenario: Scenario, target: Target) -> dict[str, Any] | None:
    """The scenario's own autoscaler for the tuned Deployment, as given (None without one)."""
    for o in scenario.objects:
        ref = (o.get("spec") or {}).get("scaleTargetRef") or {}
        if ref.get("name") == target.deployment.name and o.get("kind") in (
            "HorizontalPodAutoscaler",
            "PodAutoscaler",
        ):
            return o
    return None


def run_object(scenario: Scenario, target: Target, obj: dict[str, Any]) -> Outcome:
    """One run of the tuned Deployment alone with `obj` as its autoscaler."""
    d = target.deployment
    return outcome(run_one(replace(scenario, deployments=[d], objects=[obj], object_metrics=[])))


class Evaluator:
    """Runs batches of candidates, in `jobs` forked processes when jobs > 1."""

    def __init__(self, scenario: Scenario, target: Target, jobs: int = 1) -> None:
        self.scenario, self.target, self.jobs = scenario, target, jobs
        self.pool: ProcessPoolExecutor | None = None
        self.runs = 0

    def __enter__(self) -> Evaluator:
        _WORK.update(scenario=self.scenario, target=self.target)
        if self.jobs > 1:
            self.pool = ProcessPoolExecutor(
                self.jobs, mp_context=multiprocessing.get_context("fork")
            )
        return self

    def __exit__(self, *exc: object) -> None:
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=True)

    def __call__(self, batch: list[Candidate]) -> Mapping[Candidate, Outcome]:
        self.runs += len(batch)
        if self.pool is None or len(batch) == 1:
            return dict(_evaluate(c) for c in batch)
        return dict(self.pool.map(_evaluate, batch))
