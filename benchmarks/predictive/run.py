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
        ("Kubernetes' HPA defaults (target 4), simulated", "llm-hpa", [own["llm-hpa"]]),
        ("Knative's KPA defaults (target 4), simulated", "llm-kpa", [own["llm-kpa"]]),
        ("HPA defaults + predictive (q50, forward 10s)", "x",
         [hpa("x", "4", None), predictive("x", 50, 10)]),
        ("HPA target 4, scale-down window 60s", "x", [hpa("x", "4", 60)]),
        ("HPA target 4, window 60s + predictive (q50, forward 10s)", "x",
         [hpa("x", "4", 60), predictive("x", 50, 10)]),
        ("HPA target 4, window 60s + predictive (q99, forward 10s)", "x",
         [hpa("x", "4", 60), predictive("x", 99, 10)]),
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
    return summary.report[0], summary.slo


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "predictive.md"))
    args = ap.parse_args()
    prov = Provenance.start()
    base = yaml.safe_load(SCENARIO.read_text())
    rows = []
    slo = None
    for label, dep, objects in policies(base):
        row, slo = run_one(base, dep, objects)
        rows.append((label, row))
        print(f"{label}: ratio {row.ratio:.3f}, p99 {row.p99_s:.1f}s, over SLO {row.over_slo}",
              flush=True)  # fmt: skip
    objective = (
        f"p{slo.percentile:g} {getattr(slo, 'metric', 'latency')} <= {slo.latency_s:g}s"
        if slo
        else "none"
    )
    lines = [
        prov.header("Predictive scaling on the Azure LLM trace (simulated)").rstrip("\n"),
        "",
        f"Scenario `examples/sim/azure-llm.yaml` (one hour of the Azure LLM conversation trace, "
        f"{rows[0][1].requests} requests; its service model, cold start and capacity; SLO "
        f"{objective}), each policy alone on a copy of its Deployment. Lower bound: every second "
        "exactly ceil(demand / 4) pods, instant.",
        "",
        "| policy | replica-s | ratio to bound | p99 latency | p99 TTFT | over SLO |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for label, row in rows:
        ttft = "-" if row.ttft_p99_s is None else f"{row.ttft_p99_s:.2f}s"
        lines.append(
            f"| {label} | {row.replica_seconds:g} | {row.ratio:.3f}x | {row.p99_s:.1f}s "
            f"| {ttft} | {row.over_slo} ({100 * row.over_slo_share:.2f}%) |"
        )
    lines.append("")
    lines.append(f"Lower bound: {rows[0][1].bound_replica_seconds:g} replica-seconds.")
    text = "\n".join(lines) + "\n"
    # the same HPA with and without the predictive autoscaler beside it
    (k8s, base_row) = rows[0]
    best, pred = next((label, r) for label, r in rows if "predictive" in label)
    row = prov.readme_row(
        71,
        "predictive scaling, 1 h Azure LLM trace (simulated)",
        f"{best}: {pred.ratio:.2f}x the replica-s bound, {pred.over_slo} over the SLO",
        f"{k8s}, same simulator: {base_row.ratio:.2f}x, {base_row.over_slo} over",
    )
    Path(args.out).write_text(text + NOTES + row)
    print(text)


NOTES = """
## Reading it

- The predictive autoscaler raises the HPA's `minReplicas` to the forecast of the HPA's own
  metric (in replicas) `scaleUpForward` + one sync period ahead; the HPA still decides
  (docs/PREDICTIVE.md). On one hour of history there is no daily or weekly period to learn, so
  the forecast here is the level and the recent trend; the seasonal terms need a day of history.
- Beside the same HPA the floor lowers the requests over the SLO at about the same cost; the
  issue's goal (at most 1.10x the bound and fewer requests over the SLO than both defaults) is
  not reached: see docs/PREDICTIVE.md, "Results", for why.
"""

if __name__ == "__main__":
    main()
