"""Cold start through the router: a request sent to an iris InferenceService at zero replicas →
its answer, on the real plane (the router holds the request and pokes the KPA, the Deployment
goes 0 → 1, the pod starts, its endpoint becomes ready, the router forwards). Median of 20; the
section "Request at zero replicas → answered" of benchmarks/results/coldstart.md (the other rows
are kept).

    .venv/bin/python benchmarks/coldstart/from_zero.py [--runs 20]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from live_plane import ROOT, LivePlane, wait_for
from provenance import Provenance, write_section

NAME = "iris0"
SECTION = "Request at zero replicas → answered"
# Knative is not run here (it needs a cluster): what its users and maintainers have reported.
KNATIVE_CITED = (
    "Knative, cited (not run here): ~15 s reported in "
    "[gitlab-org/gitlab#29097](https://gitlab.com/gitlab-org/gitlab/-/issues/29097); ~2 s, "
    "rising to ~12 s with 1,000 services, in Knative's scale tests ([Nobl9 interview of Matt "
    "Moore](https://nobl9.com/resources/creeping-latency-metrics-review-of-a-subtle-kubernetes-"
    "serverless-scalability-bug))"
)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "coldstart.md"))
    args = ap.parse_args()
    prov = Provenance.start()
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
        prov.header(SECTION, level=2).rstrip("\n"),
        "",
        "The real plane (`python -m tidal.plane`): `tidal serve kserve --name=iris0 "
        "--min-replicas=0 --max-replicas=5 --scale-metric=concurrency --scale-target=2 -a "
        "autoscaling.knative.dev/window=6s` with the iris server. Each run waits until the "
        "Deployment has 0 replicas and no pod exists, then times one `POST "
        '/v1/models/iris0:predict` through the router until its answer `{"predictions":[1,1]}`: '
        "the router holds it and pokes the KPA through the API, the KPA scales 0 → 1 at once, "
        "the pod starts, turns Ready, its endpoint reaches the router, which forwards the held "
        "request.",
        "",
        "| | runs | median (s) | min (s) | max (s) | target |",
        "|---|---:|---:|---:|---:|---|",
        f"| request at zero replicas → answered | {len(times)} | **{med:.3f}** | "
        f"{min(times):.3f} | {max(times):.3f} | ≤ 0.5 s (issue 20) |",
        "",
        f"For scale: {KNATIVE_CITED}.",
        "",
        "Each run: " + ", ".join(f"{t:.3f}" for t in times),
    ]
    text = "\n".join(body) + "\n"
    text += prov.readme_row(
        31, "request at zero replicas → answered", f"{med:.2f} s median of {len(times)}",
        KNATIVE_CITED,
    )  # fmt: skip
    write_section(Path(args.out), "Cold start", SECTION, text)
    print(text)


if __name__ == "__main__":
    main()
