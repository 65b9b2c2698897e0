"""How the control plane's cost grows with the number of objects (issue 20, item 3).

(a) One full HPA evaluation round: N HPAs on N Deployments (2 Running, Ready pods each, with CPU
    usage), every HPA reconciled once as the plane's loop does on a resync, on the plane's own
    pieces in process: the Registry over SQLite (a file, WAL, as `tidal up` keeps it), the
    InProcessClient, the HPA controller, and the metrics.k8s.io provider (`ResourceSampler` +
    `ResourceMetricsApi`, with the /proc reader replaced by fixed counters: no processes).
    Measured: CPU seconds (`time.process_time`) of the first round (creates each HPA's history
    revision and events) and of the next one (a steady round, one sync period later).
(b) `tidal simulate` (`tidal.sim.run.simulate`, in process) for N Deployments + N HPAs over 60 s
    of virtual time: CPU seconds.

    .venv/bin/python benchmarks/scale/run.py                 # 100, 300, 1000; writes scale.md
    .venv/bin/python benchmarks/scale/run.py --sizes 100 --no-write
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from provenance import ROOT, Provenance

T0 = 1_800_000_000.0
CPU_TARGET = 50  # percent of the request


@dataclass(slots=True)
class FakeTarget:
    """A running pod as the pod runner describes it to the sampler (`metrics.resource.Target`)."""

    namespace: str
    name: str
    labels: dict[str, str]
    creation_timestamp: str
    containers: list[tuple[str, int]] = field(default_factory=list)


def _deployment(name: str) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "default", "labels": labels},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "main", "image": "bench"}]},
            },
        },
    }


def _pod(name: str, app: str, started: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "default", "labels": {"app": app}},
        "spec": {
            "containers": [
                {"name": "main", "image": "bench", "resources": {"requests": {"cpu": "100m"}}}
            ]
        },
    }


def _hpa(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "minReplicas": 1,
            "maxReplicas": 10,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": CPU_TARGET},
                    },
                }
            ],
        },
    }


async def hpa_round(n: int) -> tuple[float, float]:
    """CPU seconds of the first and of a steady HPA round over `n` HPAs."""
    from tidal.api.meta import rfc3339
    from tidal.controllers.hpa import KIND, HPAController
    from tidal.metrics.resource import ResourceMetricsApi, ResourceSampler
    from tidal.server.inprocess import InProcessClient
    from tidal.server.registry import Registry

    now = [T0]
    home = Path(tempfile.mkdtemp(prefix="tidal-bench-scale-"))
    registry = Registry.open(home, clock=lambda: now[0])
    targets: list[FakeTarget] = []
    started = rfc3339(T0 - 3600)
    for i in range(n):
        name = f"d{i}"
        registry.create(_deployment(name))
        dep = registry.get("Deployment", name, "default")
        dep["status"] = {"replicas": 2, "readyReplicas": 2}
        registry.update(dep, subresource="status")
        for k in range(2):
            pod = registry.create(_pod(f"{name}-{k}", name, started))
            pod["status"] = {
                "phase": "Running",
                "startTime": started,
                "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": started}],
            }
            registry.update(pod, subresource="status")
            targets.append(FakeTarget("default", pod["metadata"]["name"], {"app": name}, started))
            targets[-1].containers.append(("main", len(targets)))
        registry.create(_hpa(name))
    # every pod uses 0.06 cores (60 % of its 100m request: above the 50 % target, so scale up)
    sampler = ResourceSampler(
        lambda: targets,
        clock=lambda: now[0],
        reader=lambda pid: (0.06 * (now[0] - T0 + 3600), 50_000_000),
    )
    for _ in range(2):
        sampler.sample()
        now[0] += sampler.resolution_s
    provider = ResourceMetricsApi(sampler)
    prefix = "/apis/metrics.k8s.io/v1beta1"

    async def raw(path: str, params: dict[str, str] | None) -> Any:
        return await provider.handle(path.removeprefix(prefix), dict(params or {}))

    client = InProcessClient(registry, raw=raw)
    controller = HPAController(client, profile="kubernetes", clock=lambda: now[0])
    keys = [("default", o["metadata"]["name"]) for o in registry.list(KIND)["items"]]
    rounds = []
    for _ in range(2):
        sampler.sample()
        began = time.process_time()
        for key in keys:
            await controller.reconcile(key)
        rounds.append(time.process_time() - began)
        now[0] += controller.profile.sync_period_s
    registry.close()
    return rounds[0], rounds[1]


def sim_scenario(n: int) -> dict[str, Any]:
    """N Deployments, each with its HPA on CPU; the load doubles at 20 s."""
    deployments = [
        {
            "name": f"d{i}",
            "replicas": 2,
            "cpuRequest": "100m",
            "startupSeconds": 5,
            "load": {"cpu": "min(0.12 / replicas * (1 + (t >= 20)), 1)"},
        }
        for i in range(n)
    ]
    return {
        "name": f"scale-{n}",
        "duration": "60s",
        "profile": "kubernetes",
        "deployments": deployments,
        "objects": [_hpa(f"d{i}") for i in range(n)],
    }


def sim_run(n: int) -> tuple[float, int]:
    """CPU seconds of one `simulate` of `sim_scenario(n)`, and how many decisions it printed."""
    from tidal.sim.run import simulate
    from tidal.sim.scenario import parse_scenario

    scenario = parse_scenario(sim_scenario(n))
    began = time.process_time()
    records, _ = asyncio.run(simulate(scenario))
    return time.process_time() - began, len(records)


def measure(what: str, n: int, src: Path | None = None) -> Any:
    """One measurement in a fresh process (no heap, caches or garbage left by another size);
    `src`: run another revision's `src` tree instead of the installed one."""
    env = dict(os.environ)
    if src is not None:
        env["PYTHONPATH"] = str(src)
    out = subprocess.run(
        [sys.executable, __file__, "--one", what, str(n)],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def export_src(rev: str) -> Path:
    """The `src` tree of git revision `rev`, in a temporary directory."""
    dest = Path(tempfile.mkdtemp(prefix="tidal-bench-scale-src-"))
    tar = subprocess.run(["git", "archive", rev, "src"], cwd=ROOT, capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(dest)], input=tar.stdout, check=True)
    return dest / "src"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--one", nargs=2, metavar=("WHAT", "N"), help=argparse.SUPPRESS)
    ap.add_argument("--sizes", default="100,300,1000", help="object counts (100,300,1000)")
    ap.add_argument("--no-sim", action="store_true", help="only the HPA round")
    ap.add_argument("--no-write", action="store_true", help="print, do not write scale.md")
    ap.add_argument("--before", metavar="REV", help="also measure this git revision (same run)")
    ap.add_argument("--before-sizes", default="100,300", help="its sizes (100,300: it is slow)")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "scale.md"))
    args = ap.parse_args()
    if args.one:
        what, n = args.one[0], int(args.one[1])
        got = asyncio.run(hpa_round(n)) if what == "round" else sim_run(n)
        print(json.dumps(got))
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    prov = Provenance.start()
    rows = []
    for n in sizes:
        first, steady = measure("round", n)
        sim_s, decisions = (None, 0) if args.no_sim else measure("sim", n)
        rows.append((n, first, steady, sim_s, decisions))
        sim_txt = "-" if sim_s is None else f"{sim_s:.2f} s, {decisions} decisions"
        print(f"n={n}: HPA round {first:.3f} s first, {steady:.3f} s steady; simulate {sim_txt}")
    lines = [
        "",  # the header, once every measurement is done (it records how long they took)
        "",
        "(a) One full HPA round: N HPAs on N Deployments (2 Running pods each, 60 % CPU of a 100m "
        "request against a 50 % target), each HPA reconciled once as the plane's loop does, on "
        "the plane's pieces in one process: the Registry on SQLite (a file, WAL), the "
        "InProcessClient, the HPA controller, and the metrics.k8s.io provider "
        "(`ResourceSampler` with its /proc reader replaced by fixed counters). CPU seconds "
        "(`time.process_time`) of the first round (which creates each HPA's history revision "
        "and its events) and of the next one, a sync period later. (b) `tidal simulate` "
        "(in process) of N Deployments + N HPAs over 60 s of virtual time (1 s ticks, the "
        "`kubernetes` profile; the load doubles at 20 s): CPU seconds. Each measurement runs "
        "in a fresh Python process.",
        "",
        "| N | HPA round, first (CPU s) | HPA round, steady (CPU s) | simulate 60 s (CPU s) "
        "| per object (ms) | decisions |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for n, first, steady, sim_s, decisions in rows:
        sim_cell = "-" if sim_s is None else f"{sim_s:.2f}"
        per = "-" if sim_s is None else f"{sim_s / n * 1000:.1f}"
        lines.append(f"| {n} | {first:.3f} | {steady:.3f} | {sim_cell} | {per} | {decisions} |")
    if args.before:
        src = export_src(args.before)
        lines += [
            "",
            f"The same measurements on revision `{args.before}` (`--before`: its `src` tree, "
            "in the same run):",
            "",
            "| N | HPA round, first (CPU s) | HPA round, steady (CPU s) | simulate 60 s (CPU s) "
            "| per object (ms) | decisions |",
            "|---:|---:|---:|---:|---:|---:|",
        ]
        for n in [int(x) for x in args.before_sizes.split(",")]:
            first, steady = measure("round", n, src)
            sim_s, decisions = measure("sim", n, src)
            print(f"before n={n}: HPA round {first:.3f}/{steady:.3f} s; simulate {sim_s:.2f} s")
            lines.append(
                f"| {n} | {first:.3f} | {steady:.3f} | {sim_s:.2f} | {sim_s / n * 1000:.1f} "
                f"| {decisions} |"
            )
    big = rows[-1]
    small = rows[0]
    lines += [
        "",
        "- targets: the round for 1,000 HPAs ≤ 1 s CPU; simulate linear from 100 to 1,000",
    ]
    lines.append(f"- the round for {big[0]} HPAs: {big[1]:.2f} s first, {big[2]:.2f} s steady")
    if big[3] is not None and small[3] is not None and big[0] != small[0]:
        lines.append(
            f"- simulate: {big[0] // small[0]}x the objects took {big[3] / small[3]:.1f}x the "
            f"CPU ({small[3] / small[0] * 1000:.1f} -> {big[3] / big[0] * 1000:.1f} ms per "
            "Deployment+HPA)"
        )
    lines.append("")
    lines.append(
        prov.readme_row(
            60,
            f"control plane: one HPA round, {big[0]} HPAs on {2 * big[0]} pods",
            f"{big[2]:.2f} s CPU (steady; first {big[1]:.2f} s)",
            "target ≤ 1 s (issue 20); no peer measured",
        )
    )
    lines[0] = prov.header("Control plane scale").rstrip("\n")
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
