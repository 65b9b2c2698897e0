"""KPA vs HPA on the same request step, on the real plane: two iris InferenceServices, one on
Knative's KPA (concurrency target 2, from zero) and one on KServe's default HPA (CPU 50 %, from
one replica, the plane's default `fast` profile); each gets `hey -z 30s -c 10` in turn. Reports
the time to the first scale-up and to the highest count reached, the requests that waited for a
pod (held by the router), latency and errors. Writes the section "KPA vs HPA on a request step"
of benchmarks/results/reaction.md (the HPA rows are kept).

    .venv/bin/python benchmarks/reaction/kpa_vs_hpa.py [--seconds 30] [--concurrency 10]
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "coldstart"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from live_plane import ROOT, LivePlane, wait_for
from provenance import Provenance, write_section

sys.path.insert(0, str(ROOT / "benchmarks" / "router"))
from iris_pod import hey

SECTION = "KPA vs HPA on a request step"
SERVICES = {
    "kpa": (
        "iris-kpa",
        [
            "--min-replicas=0",
            "--max-replicas=5",
            "--scale-metric=concurrency",
            "--scale-target=2",
            "-a",
            "autoscaling.knative.dev/window=6s",
        ],
    ),
    "hpa": (
        "iris-hpa",
        [
            "--cpu=500m",
            "--min-replicas=1",
            "--max-replicas=5",
            "--scale-metric=cpu",
            "--scale-target=50",
        ],
    ),
}


def step(plane: LivePlane, name: str, seconds: int, concurrency: int) -> dict[str, object]:
    start = plane.replicas(name)
    held_before = int(plane.stats(name).get("held_total", 0))
    trail: list[tuple[float, int]] = []
    done = threading.Event()
    t0 = time.monotonic()

    def watch() -> None:
        last = start
        while not done.is_set():
            try:
                n = plane.replicas(name)
            except Exception:
                n = last
            if n != last:
                trail.append((round(time.monotonic() - t0, 2), n))
                last = n
            done.wait(0.2)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    url, host = plane.url(name)
    try:
        res = hey(url, seconds=seconds, concurrency=concurrency, host=host)
    finally:
        done.set()
        watcher.join(5)
    first = next((t for t, n in trail if n > start), None)
    top = max((n for _, n in trail), default=start)
    top_at = next((t for t, n in trail if n == top), None)
    return {
        "start": start,
        "first": first,
        "top": top,
        "top_at": top_at,
        "held": int(plane.stats(name).get("held_total", 0)) - held_before,
        "trail": trail,
        **res,
    }


def _fmt(v: object) -> str:
    return "—" if v is None else f"{v:.1f}" if isinstance(v, float) else str(v)


def _step(r: dict[str, object]) -> str:
    if r["first"] is None:
        return f"no scale-up within the step ({r['top']} pod(s))"
    return f"{_fmt(r['first'])} s, {r['top']} pods at {_fmt(r['top_at'])} s"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=30)
    ap.add_argument("--concurrency", type=int, default=10)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "reaction.md"))
    args = ap.parse_args()
    prov = Provenance.start()
    plane = LivePlane("tidal-bench-kpa-hpa-")
    rows: list[str] = []
    got: dict[str, dict[str, object]] = {}
    try:
        for name, flags in SERVICES.values():
            plane.serve_iris(name, *flags)
        kpa, hpa = SERVICES["kpa"][0], SERVICES["hpa"][0]
        wait_for(lambda: plane.replicas(kpa) == 0 and plane.pods(kpa) == 0, 120, "KPA at zero")
        wait_for(lambda: plane.stats(hpa).get("ready_endpoints") == 1, 120, "HPA pod ready")
        for label, (name, _) in SERVICES.items():
            r = got[label] = step(plane, name, args.seconds, args.concurrency)
            trail = ", ".join(f"{n}@{t:g}s" for t, n in r["trail"])  # type: ignore[attr-defined]
            rows.append(
                f"| {label} | {r['start']} | **{_fmt(r['first'])}** | {r['top']} | "
                f"{_fmt(r['top_at'])} | {r['held']} | {r['rps']:.0f} | {r['p50'] * 1000:.0f} | "
                f"{r['p99'] * 1000:.0f} | {int(r['non2xx'])} | {trail} |"
            )
            print(rows[-1], flush=True)
    finally:
        plane.stop()
    body = [
        prov.header(SECTION, level=2).rstrip("\n"),
        "",
        f"The real plane; two iris InferenceServices, each given the same step, one after the "
        f"other (each starts at rest): `hey -z {args.seconds}s -c {args.concurrency}` (POST "
        "iris-input.json through the router). Both autoscalers are tidal's. "
        "`kpa`: `--min-replicas=0 --max-replicas=5 --scale-metric=concurrency --scale-target=2 "
        "-a autoscaling.knative.dev/window=6s` (starts at zero: the first requests wait for a "
        "pod, held by the router). `hpa`: `--cpu=500m --min-replicas=1 --max-replicas=5 "
        "--scale-metric=cpu --scale-target=50` (KServe's default HPA, the plane's `fast` "
        "profile: sync 1 s, metrics every 1 s over 2 s). Times are seconds from the start of the "
        "step; `waited`: requests the router held for want of a ready pod.",
        "",
        "| autoscaler | replicas before | first scale-up (s) | highest count | reached at (s) "
        "| waited | req/s | p50 (ms) | p99 (ms) | non-2xx | replicas over time |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
        *rows,
    ]
    text = "\n".join(body) + "\n"
    kpa, hpa = got["kpa"], got["hpa"]
    text += prov.readme_row(
        41,
        f"request step (`hey -c {args.concurrency}`) → first scale-up",
        f"KPA from zero: {_step(kpa)}",
        f"tidal's CPU HPA (fast profile) from one pod, same run: {_step(hpa)}",
    )
    write_section(Path(args.out), "Reaction to a load step", SECTION, text)
    print(text)


if __name__ == "__main__":
    main()
