"""Cold start through the router: a request sent to an iris InferenceService at zero replicas →
its answer, on the real plane (the router holds the request and pokes the KPA, the Deployment
goes 0 → 1, the pod starts, its endpoint becomes ready, the router forwards). Median of 20; the
section "Request at zero replicas → answered" of benchmarks/results/coldstart.md (the other rows
are kept).

    .venv/bin/python benchmarks/coldstart/from_zero.py [--runs 20]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from live_plane import ROOT, LivePlane, replace_section, wait_for

NAME = "iris0"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "coldstart.md"))
    args = ap.parse_args()
    plane = LivePlane("tidal-bench-zero-")
    times: list[float] = []
    try:
        plane.serve_iris(
            NAME,
            "--min-replicas=0",
            "--max-replicas=5",
            "--scale-metric=concurrency",
            "--scale-target=2",
            "-a",
            "autoscaling.knative.dev/window=6s",
        )
        for i in range(args.runs):
            wait_for(
                lambda: plane.replicas(NAME) == 0 and plane.pods(NAME) == 0,
                120,
                "zero replicas and no pod",
                0.2,
            )
            t0 = time.monotonic()
            resp = plane.predict(NAME)
            took = time.monotonic() - t0
            if resp.status_code != 200 or resp.json() != {"predictions": [1, 1]}:
                raise RuntimeError(f"run {i + 1}: {resp.status_code} {resp.text}")
            times.append(took)
            print(f"run {i + 1}: {took:.3f}s", flush=True)
    finally:
        plane.stop()
    med = statistics.median(times)
    body = [
        f"Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {platform.machine()} "
        f"({os.cpu_count()} CPUs, shared with other work: load average "
        f"{os.getloadavg()[0]:.1f} at the end), Python {platform.python_version()}; command: "
        "`.venv/bin/python benchmarks/coldstart/from_zero.py`.",
        "The real plane (`python -m tidal.plane`): `tidal serve kserve --name=iris0 "
        "--min-replicas=0 --max-replicas=5 --scale-metric=concurrency --scale-target=2 -a "
        "autoscaling.knative.dev/window=6s` with the iris server. Each run waits until the "
        "Deployment has 0 replicas and no pod exists, then times one `POST "
        '/v1/models/iris0:predict` through the router until its answer `{"predictions":[1,1]}`: '
        "the router holds it and pokes the KPA through the API, the KPA scales 0 → 1 at once, "
        "the pod starts, turns Ready, its endpoint reaches the router, which forwards the held "
        "request.",
        "",
        "| | runs | median (s) | min (s) | max (s) | target | Knative (users report) |",
        "|---|---:|---:|---:|---:|---|---|",
        f"| request at zero replicas → answered | {len(times)} | **{med:.3f}** | "
        f"{min(times):.3f} | {max(times):.3f} | ≤ 1.5 s | 4–15 s |",
        "",
        "Most of it is the iris server's own start (Python, scikit-learn import, model load; the"
        ' "server alone → listening" row above).',
        "",
        "Each run: " + ", ".join(f"{t:.3f}" for t in times),
    ]
    replace_section(Path(args.out), "Request at zero replicas → answered", body)
    print("\n".join(body))


if __name__ == "__main__":
    main()
