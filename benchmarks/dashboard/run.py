"""What the live dashboard costs the plane: the CPU of two planes measured over the same
windows, side by side on this machine, each with 10 services (Deployment + Service + HPA each)
and 50 pods: one started with `--no-dashboard`, the other serving its dashboard to a page open
in headless Chromium (a service view: five live charts and the pods table, updated every
second). Measured together, both planes see the same machine (other work, load): the
difference is the dashboard's. Beside it, the inside view: the collector's own CPU time per
sample (`/history`'s `cpu_s`). Results in benchmarks/results/dashboard.md, figure beside it.

    .venv/bin/python benchmarks/dashboard/run.py [--rounds 3] [--seconds 60]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

sys.path.insert(0, str(ROOT / "benchmarks"))
from provenance import Provenance  # noqa: E402
from tests.dashboard.browser import chromium  # noqa: E402

from tidal.cli.env import Env  # noqa: E402
from tidal.cli.main import main as tidal  # noqa: E402

SERVICES, PODS_EACH = 10, 5


def cli(home: Path, *argv: str) -> str:
    os.environ["TIDAL_HOME"] = str(home)
    out, err = io.StringIO(), io.StringIO()
    code = tidal(list(argv), Env(out, err, io.StringIO()))
    if code != 0:
        raise SystemExit(f"tidal {' '.join(argv)}: {err.getvalue()}")
    return out.getvalue()


def manifests(i: int) -> str:
    """Service `svc{i}`: its Deployment, Service and HPA (min = max = PODS_EACH)."""
    docs: list[dict] = []
    for name in (f"svc{i:02d}",):
        labels = {"app": name}
        docs += [
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": name, "namespace": "default"},
                "spec": {
                    "replicas": PODS_EACH,
                    "selector": {"matchLabels": labels},
                    "template": {
                        "metadata": {"labels": labels},
                        "spec": {
                            "containers": [
                                {
                                    "name": "main",
                                    "image": "busybox",
                                    "command": ["sleep", "100000"],
                                    "resources": {"requests": {"cpu": "10m"}},
                                }
                            ]
                        },
                    },
                },
            },
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": name, "namespace": "default"},
                "spec": {"selector": labels, "ports": [{"port": 80, "targetPort": 8080}]},
            },
            {
                "apiVersion": "autoscaling/v2",
                "kind": "HorizontalPodAutoscaler",
                "metadata": {"name": name, "namespace": "default"},
                "spec": {
                    "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
                    "minReplicas": PODS_EACH,
                    "maxReplicas": PODS_EACH,
                    "metrics": [
                        {
                            "type": "Resource",
                            "resource": {
                                "name": "cpu",
                                "target": {"type": "Utilization", "averageUtilization": 50},
                            },
                        }
                    ],
                },
            },
        ]
    return "\n---\n".join(json.dumps(d) for d in docs)


def stop_leftovers(home: Path) -> None:
    """Whatever this run started that `tidal down` missed (pods of a plane killed mid-phase):
    the processes whose command line names this run's own home, each by its pid."""
    for p in psutil.process_iter(["pid", "cmdline"]):
        try:
            if str(home) in " ".join(p.info["cmdline"] or []) and p.pid != os.getpid():
                p.terminate()
        except psutil.Error:
            continue


def plane_pid(home: Path) -> int:
    return int(json.loads((home / "plane.ready").read_text())["pid"])


def up(home: Path, dashboard: bool) -> int:
    cli(home, "up", "--ingress-port", "0", *([] if dashboard else ["--no-dashboard"]))
    return plane_pid(home)


def ready_pods(home: Path) -> int:
    out = cli(home, "get", "pods", "-o", "json")
    return sum(
        1
        for p in json.loads(out)["items"]
        if any(
            c["type"] == "Ready" and c["status"] == "True"
            for c in (p.get("status") or {}).get("conditions") or []
        )
    )


def collector_cpu(url: str) -> tuple[float, int]:
    """(CPU seconds, samples) the dashboard's collector counted so far (`/history`)."""
    import httpx

    base, _, token = url.partition("?token=")
    doc = httpx.get(
        base + "history", headers={"Authorization": f"Bearer {token}"}, timeout=30
    ).json()
    return float(doc["cpu_s"]), int(doc["samples"])


def plane_cpu(pid: int) -> float:
    return sum(psutil.Process(pid).cpu_times()[:2])


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--settle", type=float, default=30.0)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "dashboard.md"))
    args = ap.parse_args()
    prov = Provenance.start()
    off_home = Path(tempfile.mkdtemp(prefix="tidal-bench-dash-off-"))
    on_home = Path(tempfile.mkdtemp(prefix="tidal-bench-dash-on-"))
    rows: list[dict[str, float]] = []
    trace: list[tuple[float, float, float]] = []  # (t, off %, on %) each second
    try:
        off_pid = up(off_home, dashboard=False)
        on_pid = up(on_home, dashboard=True)
        url = json.loads((on_home / "plane.ready").read_text())["dashboard"]
        for i in range(SERVICES):  # one service at a time, on both: pods start in small batches
            for home in (off_home, on_home):
                path = home / f"svc{i:02d}.yaml"
                path.write_text(manifests(i))
                cli(home, "apply", "-f", str(path))
            deadline = time.monotonic() + 180
            while min(ready_pods(off_home), ready_pods(on_home)) < (i + 1) * PODS_EACH:
                if time.monotonic() > deadline:
                    raise SystemExit(f"svc{i:02d}'s pods did not become ready in 180 s")
                time.sleep(1)
        print(f"{SERVICES} services and {SERVICES * PODS_EACH} pods on each plane", flush=True)
        with chromium(on_home / "profile") as page:
            page.call("Page.navigate", url=url)
            time.sleep(2)
            page.call("Page.navigate", url=url.split("?")[0] + "#/default/svc00")
            time.sleep(args.settle)
            for r in range(args.rounds):
                t0 = time.monotonic()
                a0, b0, (c0, n0) = plane_cpu(off_pid), plane_cpu(on_pid), collector_cpu(url)
                last = (t0, a0, b0)
                while time.monotonic() - t0 < args.seconds:
                    time.sleep(1.0)
                    now, a, b = time.monotonic(), plane_cpu(off_pid), plane_cpu(on_pid)
                    dt = now - last[0]
                    trace.append((now, 100 * (a - last[1]) / dt, 100 * (b - last[2]) / dt))
                    last = (now, a, b)
                c1, n1 = collector_cpu(url)
                span = last[0] - t0
                row = {
                    "off": 100 * (last[1] - a0) / span,
                    "on": 100 * (last[2] - b0) / span,
                    "inside": 100 * (c1 - c0) / span,
                    "samples": n1 - n0,
                }
                row["diff"] = row["on"] - row["off"]
                rows.append(row)
                print(
                    f"window {r + 1}: without {row['off']:.2f}%, with the page open "
                    f"{row['on']:.2f}% (difference {row['diff']:+.2f}), collector "
                    f"{row['inside']:.2f}% over {row['samples']} samples",
                    flush=True,
                )
            charts = page.evaluate("Object.keys(tidal.charts).length")
            frames = page.evaluate("tidal.frames.length")
            pods = len(page.evaluate("tidal.pods['default/svc00'] || []"))
            errors = list(page.errors)
    finally:
        for home in (off_home, on_home):
            subprocess.run(
                [sys.executable, "-m", "tidal.cli.main", "down"],
                env={**os.environ, "TIDAL_HOME": str(home)},
                capture_output=True,
            )
            stop_leftovers(home)
    if charts < 5 or pods != PODS_EACH or errors:
        raise SystemExit(f"the page was not live: {charts} charts, {pods} pods, errors {errors}")
    write_report(Path(args.out), args, rows, frames, prov)
    write_figure(Path(args.out).with_suffix(".png"), trace)
    diff = statistics.median(r["diff"] for r in rows)
    inside = statistics.median(r["inside"] for r in rows)
    print(f"dashboard cost: {diff:+.2f}% (A/B), {inside:.2f}% (collector); {args.out}")
    return 0


def write_report(out: Path, args, rows, frames: int, prov: Provenance) -> None:  # type: ignore[no-untyped-def]
    table = "\n".join(
        f"| {i + 1} | {r['off']:.2f} | {r['on']:.2f} | {r['diff']:+.2f} | {r['inside']:.2f} "
        f"({r['samples']} samples) |"
        for i, r in enumerate(rows)
    )
    med = {k: statistics.median(r[k] for r in rows) for k in ("off", "on", "diff", "inside")}
    out.write_text(
        prov.header("The live dashboard's cost")
        + f"""- load: two local planes side by side, each with {SERVICES} services (Deployment + Service +
  HPA each) and {SERVICES * PODS_EACH} pods; one started with `--no-dashboard`, the other serving
  its dashboard to a headless Chromium showing a service page (five live charts, the pods table;
  {frames} frames on the page at the end).
- measure: CPU time (user + system) of each plane process over the same {args.seconds:g} s
  windows after {args.settle:g} s of settling, in % of one core; and the collector's own CPU time
  (its samples, all but the two HTTP reads of the router's admin port), from `/history`.

| window | plane without dashboard | plane with the page open | difference | the collector itself |
|---|---|---|---|---|
{table}

**Cost of the dashboard: {med["diff"]:+.2f} % of a core** (median of the differences; the
collector itself: {med["inside"]:.2f} %; target < 2 %). The two planes differ by more than the
dashboard in a single second (their controllers and samplers run at their own times), so the
medians over whole windows are the numbers to read. The collector aims at one sample a second;
fewer in a window means the machine kept its loop busy (other work shares it). Figure:
`dashboard.png`, both planes' CPU each second.
"""
        + prov.readme_row(
            55,
            f"live dashboard open, {SERVICES} services and {SERVICES * PODS_EACH} pods",
            f"{med['diff']:+.2f} % of a core (its collector {med['inside']:.2f} %)",
            "none run (Grafana boards, Ray's dashboard: separate processes)",
        )
    )


def write_figure(path: Path, trace) -> None:  # type: ignore[no-untyped-def]
    from tidal.plots import Axis, Line, Panel, figure, save

    if not trace:
        return
    t0 = trace[0][0]
    panel = Panel(
        "two planes, 10 services and 50 pods each",
        [t - t0 for t, _, _ in trace],
        [
            Axis(
                "plane CPU (% of a core)",
                [
                    Line("without dashboard", [a for _, a, _ in trace]),
                    Line("dashboard open in Chromium", [b for _, _, b in trace]),
                ],
            )
        ],
    )
    save(figure([panel], title="the dashboard's cost", xlabel="time (s)"), path)


if __name__ == "__main__":
    sys.exit(main())
