"""`tidal tune` on the one-hour Azure LLM trace: the tuned HPA and KPA policies against
Kubernetes' and Knative's defaults on the same scenario (examples/sim/azure-llm.yaml).

Runs `tidal tune` for each kind as a user would (a subprocess, its wall and CPU time measured),
then simulates the defaults and the tuned policies once more and writes the table (replica-
seconds, ratio to the lower bound, p99 latency, p99 TTFT, share over the SLO) with the
provenance header (benchmarks/provenance.py) and the exact commands to benchmarks/results/tune.md.
The defaults are the scenario's own HPA and KPA objects (Kubernetes' and Knative's default
settings) run in tidal's simulator: neither Kubernetes nor Knative runs here.

    .venv/bin/python benchmarks/tune/run.py [--budget 40] [--jobs 2] [--out FILE]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))
from provenance import Provenance  # noqa: E402

SCENARIO = ROOT / "examples" / "sim" / "azure-llm.yaml"
PY = sys.executable


def _tune(deployment: str, kind: str, budget: int, jobs: int, outdir: Path) -> dict:
    cmd = [
        PY, "-m", "tidal.cli.commands.tune", str(SCENARIO.relative_to(ROOT)),
        "--deployment", deployment, "--policy", kind, "--budget", str(budget),
        "--jobs", str(jobs), "--output-dir", str(outdir),
    ]  # fmt: skip
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    load0 = os.getloadavg()[0]
    t0 = time.monotonic()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    wall = time.monotonic() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode not in (0, 2):
        sys.exit(f"tune failed ({proc.returncode}): {proc.stderr}")
    shown = " ".join(cmd[2:]).replace(str(outdir), "OUT")
    return {
        "command": f"tidal {shown.removeprefix('tidal.cli.commands.')}",
        "rc": proc.returncode,
        "wall": wall,
        "cpu": cpu,
        "load": (load0, os.getloadavg()[0]),
        "stdout": proc.stdout,
        "manifest": yaml.safe_load((outdir / f"{deployment}-{kind}.yaml").read_text()),
    }


def _row(scenario, deployment: str, obj: dict) -> object:
    from tidal.sim.tune import find_target, run_one

    target = find_target(scenario, deployment)
    d = target.deployment
    sc = replace(scenario, deployments=[d], objects=[obj], object_metrics=[])
    return run_one(sc)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--budget", type=int, default=40)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "tune.md"))
    args = ap.parse_args()
    prov = Provenance.start()
    sys.path.insert(0, str(ROOT / "src"))
    from tidal.sim.scenario import load_scenario

    scenario = load_scenario(SCENARIO)
    slo = scenario.slo
    runs = {}
    with tempfile.TemporaryDirectory() as tmp:
        for dep, kind in (("llm-hpa", "hpa"), ("llm-kpa", "kpa")):
            runs[kind] = _tune(dep, kind, args.budget, args.jobs, Path(tmp))
    defaults = {o["metadata"]["name"]: o for o in scenario.objects}
    policies = [
        ("Kubernetes' HPA defaults, simulated", "llm-hpa", defaults["llm-hpa"]),
        ("Knative's KPA defaults, simulated", "llm-kpa", defaults["llm-kpa"]),
        ("tidal tune: HPA", "llm-hpa", runs["hpa"]["manifest"]),
        ("tidal tune: KPA", "llm-kpa", runs["kpa"]["manifest"]),
    ]
    rows = [(label, _row(scenario, dep, obj)) for label, dep, obj in policies]
    worst_default_over = min(r.over_slo for label, r in rows if "defaults" in label)
    out = [
        prov.header("tidal tune: the one-hour Azure LLM trace").rstrip("\n"),
        "",
        "Every row is tidal's simulator; the defaults rows are the scenario's own HPA and KPA"
        " objects with Kubernetes' and Knative's default settings (neither system runs here).",
        "",
        f"Scenario: `examples/sim/azure-llm.yaml` (the trace at scale 1: {rows[0][1].requests}"
        f" requests in {scenario.duration_s / 60:g} minutes; the LLM service model, cold start"
        f" and SLO are stated in the file). SLO: {slo.metric} p{slo.percentile:g} <="
        f" {slo.latency_s:g}s (at most {100 * slo.allowed_share:g}% of requests over). The"
        " lower bound is every second exactly ceil(demand / 4) pods, ready at once, where"
        " demand is the requests in service if each started on arrival and took its service"
        " time on a full pod.",
        "",
        "| policy | replica-seconds | ratio to bound | p99 latency | p99 TTFT | over SLO |"
        " cold-start waits | 503s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for label, r in rows:
        out.append(
            f"| {label} | {r.replica_seconds:g} | {r.ratio:.3f}x | {r.p99_s:.2f} s |"
            f" {r.ttft_p99_s or 0:.2f} s | {r.over_slo} ({100 * r.over_slo_share:.2f}%) |"
            f" {r.cold_start_waits} | {r.errors_503} |"
        )
    out += ["", f"Lower bound: {rows[0][1].bound_replica_seconds:g} replica-seconds.", ""]
    for kind in ("hpa", "kpa"):
        r = dict(rows)[f"tidal tune: {kind.upper()}"]
        ok_cost = r.ratio <= 1.10
        ok_slo = r.over_slo < worst_default_over
        out.append(
            f"- tuned {kind.upper()}: {r.ratio:.3f}x the bound ({'<=' if ok_cost else '>'} 1.10x),"
            f" {r.over_slo} requests over the SLO ({'fewer' if ok_slo else 'not fewer'} than both"
            f" defaults' {worst_default_over} or more)."
        )
    tuned = [r for label, r in rows if label.startswith("tidal tune")]
    if not any(r.ratio <= 1.10 and r.over_slo < worst_default_over for r in tuned):
        out += [
            "",
            "Neither tuned reactive policy reaches 1.10x the bound while missing the SLO less"
            " than the defaults: every policy tried that is cheaper than the rows above misses"
            " the SLO (the table of each tune below lists the best it found). The bound has"
            " pods ready the instant demand needs them and packed full; an HPA or a KPA sees"
            " load only after it has arrived (metric windows, a 15 s or 2 s tick) and its pods"
            " are ready 11 s later, so it must keep spare pods to absorb the minute-scale swings"
            " of this trace, or requests queue and their first token is late. Scaling ahead of"
            " the load (predictive scaling, benchmarks/results/predictive.md) is the way"
            " towards the bound.",
        ]
    out.append("")
    out.append("## The tune runs")
    for run in runs.values():
        out += [
            "",
            f"`{run['command']}`: {run['wall']:.1f} s wall, {run['cpu']:.1f} s CPU (all"
            f" processes), load average {run['load'][0]:.2f} at the start, {run['load'][1]:.2f}"
            f" at the end; exit {run['rc']}.",
            "",
            "```",
            run["stdout"].rstrip(),
            "```",
        ]
    by = dict(rows)
    tuned_hpa, default_hpa = by["tidal tune: HPA"], by["Kubernetes' HPA defaults, simulated"]
    row = prov.readme_row(
        70,
        "`tidal tune` HPA, 1 h Azure LLM trace (simulated)",
        f"{tuned_hpa.ratio:.2f}x the replica-s bound, {100 * tuned_hpa.over_slo_share:.2f} % over"
        " the SLO",
        f"Kubernetes' HPA defaults in the same simulator: {default_hpa.ratio:.2f}x, "
        f"{100 * default_hpa.over_slo_share:.2f} % over",
    )
    Path(args.out).write_text("\n".join(out) + "\n" + row)
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
