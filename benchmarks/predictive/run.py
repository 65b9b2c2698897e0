"""Predictive scaling on the Azure LLM trace, simulated: the policies of the scenario
`examples/sim/azure-llm.yaml` (Kubernetes' HPA defaults, Knative's KPA defaults) against an HPA
beside a PredictiveHorizontalPodAutoscaler, each on its own copy of the scenario's Deployment, so
every row sees the same requests. Writes benchmarks/results/predictive.md.

    .venv/bin/python benchmarks/predictive/run.py
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import sys
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from provenance import ROOT, Provenance

from tidal.sim.run import simulate
from tidal.sim.scenario import parse_scenario

SCENARIO = ROOT / "examples" / "sim" / "azure-llm.yaml"
OTHER_SLO_S = (20.0, 60.0)  # a second objective: the one of these the scenario does not use


def hpa(name: str, target: str, window: int | None) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
        "minReplicas": 1,
        "maxReplicas": 40,
        "metrics": [
            {
                "type": "Pods",
                "pods": {
                    "metric": {"name": "router_concurrency"},
                    "target": {"type": "AverageValue", "averageValue": target},
                },
            }
        ],
    }
    if window is not None:
        spec["behavior"] = {"scaleDown": {"stabilizationWindowSeconds": window}}
    return {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": name}, "spec": spec}  # fmt: skip


def predictive(name: str, quantile: float, forward: int) -> dict[str, Any]:
    return {
        "apiVersion": "autoscaling.tidal.dev/v1alpha1",
        "kind": "PredictiveHorizontalPodAutoscaler",
        "metadata": {"name": name},
        "spec": {
            "hpaRef": {"name": name},
            "prediction": {"quantile": quantile, "scaleUpForward": forward},
        },
    }


def policies(base: dict[str, Any]) -> list[tuple[str, str, list[dict[str, Any]]]]:
    """(label, deployment, objects): the scenario's own two, then the predictive ones."""
    own = {o["metadata"]["name"]: o for o in base["objects"]}
    out = [
        ("Kubernetes HPA defaults (target 4)", "llm-hpa", [own["llm-hpa"]]),
        ("Knative KPA defaults (target 4)", "llm-kpa", [own["llm-kpa"]]),
        ("HPA defaults + predictive (q50, forward 10s)", "x",
         [hpa("x", "4", None), predictive("x", 50, 10)]),
        ("HPA target 5, scale-down window 60s", "x", [hpa("x", "5", 60)]),
        ("HPA target 5, window 60s + predictive (q50, forward 10s)", "x",
         [hpa("x", "5", 60), predictive("x", 50, 10)]),
    ]  # fmt: skip
    return out


def run_one(base: dict[str, Any], deployment: str, objects: list[dict[str, Any]]) -> Any:
    data = copy.deepcopy(base)
    template = copy.deepcopy(data["deployments"][0])
    template["name"] = deployment
    data["deployments"] = [template]
    data["objects"] = copy.deepcopy(objects)
    scenario = parse_scenario(data, base=SCENARIO.parent)
    _, summary = asyncio.run(simulate(scenario))
    row = summary.report[0]
    records = summary.request_records[deployment]
    other = (
        OTHER_SLO_S[1]
        if summary.slo and summary.slo.latency_s == OTHER_SLO_S[0]
        else OTHER_SLO_S[0]
    )
    tight = sum(1 for r in records if r.status >= 400 or r.latency_s > other)
    return row, tight, summary.slo, other


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "predictive.md"))
    args = ap.parse_args()
    prov = Provenance.start()
    base = yaml.safe_load(SCENARIO.read_text())
    rows = []
    for label, dep, objects in policies(base):
        row, tight, slo, other = run_one(base, dep, objects)
        rows.append((label, row, tight))
        print(f"{label}: ratio {row.ratio:.3f}, p99 {row.p99_s:.1f}s, over {row.over_slo}, "
              f"over {other:g}s {tight}", flush=True)  # fmt: skip
    slo_s = slo.latency_s if slo else float("nan")
    lines = [
        prov.header("Predictive scaling on the Azure LLM trace (simulated)").rstrip("\n"),
        "",
        f"Scenario `examples/sim/azure-llm.yaml` (one hour of the Azure LLM conversation trace, "
        f"{rows[0][1].requests} requests; its service model, cold start and capacity), each "
        "policy alone on a copy of its Deployment. Lower bound: every second exactly "
        "ceil(demand / 4) pods, instant. Over SLO: requests slower than the objective or not "
        "answered.",
        "",
        f"| policy | replica-s | ratio to bound | p99 | over {slo_s:g}s (scenario SLO) "
        f"| over {other:g}s |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for label, row, tight in rows:
        lines.append(
            f"| {label} | {row.replica_seconds:g} | {row.ratio:.3f}x | {row.p99_s:.1f}s "
            f"| {row.over_slo} | {tight} |"
        )
    lines.append("")
    lines.append(f"Lower bound: {rows[0][1].bound_replica_seconds:g} replica-seconds.")
    text = "\n".join(lines) + "\n"
    Path(args.out).write_text(text + NOTES)
    print(text)


NOTES = """
## Reading it

- The predictive autoscaler raises the HPA's `minReplicas` to the forecast of the HPA's own
  metric (in replicas) `scaleUpForward` + one sync period ahead; the HPA still decides
  (docs/PREDICTIVE.md). On one hour of history there is no daily or weekly period to learn, so
  the forecast here is the level and the recent trend; the seasonal terms need a day of history.
- The issue's goal (at most 1.10x the bound, fewer requests over the SLO than both defaults) is
  not reached here: see docs/PREDICTIVE.md, "Results", for why.
"""

if __name__ == "__main__":
    main()
