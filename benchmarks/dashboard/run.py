"""What the live dashboard costs the plane: CPU of the plane process with 10 services (Deployment
+ Service + HPA each) and 50 pods, without the dashboard, and with it serving a page open in
headless Chromium (the service view: five live charts, updated every second). Results in
benchmarks/results/dashboard.md, figure beside it (dashboard.png).

The two phases alternate on the same objects and pods: the plane is killed with -9 (its pods and
router keep running, as documented) and the next plane, with or without `--no-dashboard`, adopts
them; each phase settles, then the plane's CPU time is read over `--seconds`.

    .venv/bin/python benchmarks/dashboard/run.py [--rounds 2] [--seconds 60]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

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


def plane_pid(home: Path) -> int:
    return int(json.loads((home / "plane.ready").read_text())["pid"])


def up(home: Path, dashboard: bool) -> int:
    cli(home, "up", "--ingress-port", "0", *([] if dashboard else ["--no-dashboard"]))
    return plane_pid(home)


def kill9(home: Path) -> None:
    pid = plane_pid(home)
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while psutil.pid_exists(pid) and time.monotonic() < deadline:
        time.sleep(0.1)


def set_dashboard(home: Path, on: bool) -> None:
    import yaml

    cfg = yaml.safe_load((home / "config.yaml").read_text())
    cfg["dashboard"] = on
    (home / "config.yaml").write_text(yaml.safe_dump(cfg))


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


def cpu_share(pid: int, seconds: float, trace: list[tuple[float, float]]) -> float:
    """The plane's CPU over `seconds`, in % of one core; appends (t, %) per second to trace."""
    p = psutil.Process(pid)
    t0, c0 = time.monotonic(), sum(p.cpu_times()[:2])
    last_t, last_c = t0, c0
    while time.monotonic() - t0 < seconds:
        time.sleep(1.0)
        now, c = time.monotonic(), sum(p.cpu_times()[:2])
        trace.append((now, 100 * (c - last_c) / (now - last_t)))
        last_t, last_c = now, c
    return 100 * (last_c - c0) / (last_t - t0)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--settle", type=float, default=30.0)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "dashboard.md"))
    args = ap.parse_args()
    home = Path(tempfile.mkdtemp(prefix="tidal-bench-dash-"))
    results: dict[str, list[float]] = {"without dashboard": [], "dashboard open": []}
    traces: dict[str, list[tuple[float, float]]] = {k: [] for k in results}
    frames_seen: list[int] = []
    inside: list[float] = []  # the collector's own CPU, % of a core (its sync work)
    samples: list[int] = []
    try:
        up(home, dashboard=False)
        for i in range(SERVICES):  # one service at a time: pods start in small batches
            path = home / f"svc{i:02d}.yaml"
            path.write_text(manifests(i))
            cli(home, "apply", "-f", str(path))
            deadline = time.monotonic() + 120
            while ready_pods(home) < (i + 1) * PODS_EACH:
                if time.monotonic() > deadline:
                    raise SystemExit(f"svc{i:02d}'s pods did not become ready in 120 s")
                time.sleep(1)
        for r in range(args.rounds):
            for phase in results:
                on = phase == "dashboard open"
                kill9(home)
                set_dashboard(home, on)
                pid = up(home, dashboard=on)
                print(f"round {r + 1}: {phase} (plane pid {pid})", flush=True)
                if on:
                    url = json.loads((home / "plane.ready").read_text())["dashboard"]
                    with chromium(home / f"profile-{r}") as page:
                        page.call("Page.navigate", url=url)
                        time.sleep(2)
                        page.call("Page.navigate", url=url.split("?")[0] + "#/default/svc00")
                        time.sleep(args.settle)
                        c0 = collector_cpu(url)
                        share = cpu_share(pid, args.seconds, traces[phase])
                        c1 = collector_cpu(url)
                        inside.append(100 * (c1[0] - c0[0]) / args.seconds)
                        samples.append(c1[1] - c0[1])
                        frames_seen.append(int(page.evaluate("tidal.frames.length")))
                        assert page.evaluate("Object.keys(tidal.charts).length") >= 4
                        assert len(page.evaluate("tidal.pods['default/svc00']")) == PODS_EACH
                else:
                    time.sleep(args.settle)
                    share = cpu_share(pid, args.seconds, traces[phase])
                results[phase].append(share)
                print(f"  plane CPU {share:.2f}% of a core", flush=True)
    finally:
        subprocess.run(
            [sys.executable, "-m", "tidal.cli.main", "down"],
            env={**os.environ, "TIDAL_HOME": str(home)},
            capture_output=True,
        )
    off = statistics.median(results["without dashboard"])
    on = statistics.median(results["dashboard open"])
    write_report(Path(args.out), args, results, off, on, frames_seen, inside, samples)
    write_figure(Path(args.out).with_suffix(".png"), traces)
    print(f"dashboard cost: {on - off:.2f}% of a core (target < 2%); {args.out}")
    return 0


def write_report(out: Path, args, results, off: float, on: float, frames, inside, samples) -> None:  # type: ignore[no-untyped-def]
    rev = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    rows = "\n".join(
        f"| {r + 1} | {results['without dashboard'][r]:.2f} | {results['dashboard open'][r]:.2f} "
        f"| {inside[r]:.2f} ({samples[r]} samples) |"
        for r in range(args.rounds)
    )
    spread = max(results["without dashboard"]) - min(results["without dashboard"])
    out.write_text(
        f"""# The live dashboard's cost

- revision: {rev}; date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC
- machine: {platform.machine()}, {psutil.cpu_count()} cores, {platform.python_version()}; shared
  with other work (load average at the end: {os.getloadavg()[0]:.1f})
- command: `.venv/bin/python benchmarks/dashboard/run.py --rounds {args.rounds} --seconds {args.seconds:g}`
- load: {SERVICES} services (Deployment + Service + HPA each) and {SERVICES * PODS_EACH} pods on the
  local plane; "dashboard open": the plane serves the dashboard and a headless Chromium shows a
  service page (five live charts, the pods table, one frame a second:
  {", ".join(map(str, frames))} frames on the page at the end of each round).
- measure: CPU time (user + system) of the plane process over {args.seconds:g} s after
  {args.settle:g} s of settling, in % of one core; the phases alternate on the same objects and
  pods (the plane is killed with -9 and the next adopts its pods).

| round | plane without dashboard (% of a core) | plane with the dashboard open (% of a core) | the collector's own sampling (% of a core) |
|---|---|---|---|
{rows}

**Cost of the dashboard: {on - off:.2f} % of a core** (median {on:.2f} − median {off:.2f}; target
< 2 %). The plane's own CPU varies by {spread:.2f} points between rounds without the dashboard
(its controllers, samplers and 50 adopted pods), so this difference is only as good as that
spread; the inside view, the collector's own CPU time per sample (all but the two HTTP reads of
the router's admin port), is the steadier number: median {statistics.median(inside):.2f} % of a
core. Figure: `dashboard.png` (the plane's CPU each second in both phases).
"""
    )


def write_figure(path: Path, traces) -> None:  # type: ignore[no-untyped-def]
    from tidal.plots import Axis, Line, Panel, figure, save

    panels = []
    for phase, trace in traces.items():
        if trace:
            t0 = trace[0][0]
            panels.append(
                Panel(
                    phase,
                    [t - t0 for t, _ in trace],
                    [Axis("plane CPU (% of a core)", [Line("CPU", [v for _, v in trace])])],
                )
            )
    if panels:
        save(figure(panels, title="the plane's CPU, measured each second"), path)


if __name__ == "__main__":
    sys.exit(main())
