"""The same trace and policy, live and simulated: `tidal replay` of a slice of the Azure LLM trace
against a service on a real local plane, then `tidal simulate` of a scenario built from the same
trace slice, the same HPA (read back from the plane) and a service model measured on the same
plane just before; replica-seconds and p99 compared. Writes benchmarks/results/replay.md (one
section per service).

    .venv/bin/python benchmarks/replay/run.py --service iris
    .venv/bin/python benchmarks/replay/run.py --service llm      # needs `make llm`
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "benchmarks" / "coldstart"))
sys.path.insert(0, str(ROOT / "benchmarks" / "router"))
from iris_pod import train_iris  # noqa: E402
from live_plane import LivePlane, replace_section, wait_for  # noqa: E402
from provenance import Provenance  # noqa: E402

from tidal.sim.run import simulate  # noqa: E402
from tidal.sim.scenario import parse_scenario  # noqa: E402

TRACE = ROOT.parent / "shared" / "traces" / "azure_llm_conv_2023.csv"
OUT = ROOT / "benchmarks" / "results" / "replay.md"

# per service: how it is served, and the slice of the trace replayed
SERVICES: dict[str, dict[str, Any]] = {
    "iris": {
        "name": "iris",
        "flags": ["--cpu=1", "--scale-metric=router_requests_per_second", "--scale-target=10",
                  "--min-replicas=1", "--max-replicas=4"],
        "speed": 4.0, "scale": 2.0, "capacity": 1, "tokens_scale": 1.0, "node": 2,
    },
    "llm": {
        "name": "qwen",
        "flags": ["--cpu=1", "--scale-metric=router_concurrency", "--scale-target=2",
                  "--min-replicas=1", "--max-replicas=3"],
        "command": "python -m tidal.runtimes.llm --port 8080 --served-model-name qwen "
                   "--model smollm2-135m-instruct --max-model-len 2048 --max-num-seqs 4",
        "speed": 2.0, "scale": 0.05, "capacity": 4, "tokens_scale": 0.1, "node": 1,
    },
}  # fmt: skip


def serve(plane: LivePlane, svc: dict[str, Any]) -> float:
    """Serve it; the seconds until it answered (the cold start the simulation is given)."""
    t0 = time.monotonic()
    if "command" in svc:
        plane.cli("serve", "kserve", f"--name={svc['name']}", *svc["flags"], svc["command"])
    else:
        plane.serve_iris(svc["name"], *svc["flags"])
    wait_for(
        lambda: (
            json.loads(plane.cli("get", "isvc", svc["name"], "-o", "json"))
            .get("status", {})
            .get("url")
        ),
        300,
        "the InferenceService",
    )
    host = f"{svc['name']}-default.example.com"
    wait_for(
        lambda: (
            httpx.get(
                f"http://127.0.0.1:{plane.ingress}/v1/models", headers={"Host": host}, timeout=30
            ).status_code
            == 200
        ),
        300,
        "the first answer",
        interval_s=0.5,
    )
    return time.monotonic() - t0


def measure(plane: LivePlane, svc: dict[str, Any]) -> dict[str, Any]:
    """The service model, measured alone on this plane: iris's latency; the LLM's prefill and
    decode rates (one sequence)."""
    url, host = f"http://127.0.0.1:{plane.ingress}", f"{svc['name']}-default.example.com"
    if "command" not in svc:
        body = (ROOT / "examples" / "iris" / "iris-input.json").read_bytes()
        times = []
        with httpx.Client(base_url=url, headers={"Host": host}, timeout=30) as http:
            for _ in range(50):  # one at a time, over a kept-alive connection, as a pod serves
                t = time.monotonic()
                http.post(f"/v1/models/{svc['name']}:predict", content=body)
                times.append(time.monotonic() - t)
        return {"seconds": f"{statistics.median(times):.4f}"}

    def completion(prompt: int, out: int) -> float:
        t = time.monotonic()
        r = httpx.post(
            f"{url}/v1/completions",
            json={
                "model": "qwen",
                "prompt": [100] * prompt,
                "max_tokens": out,
                "temperature": 0,
                "ignore_eos": True,
            },  # fmt: skip
            headers={"Host": host},
            timeout=120,
        )
        r.raise_for_status()
        return time.monotonic() - t

    completion(8, 2)  # warm
    base = statistics.median(completion(1, 1) for _ in range(3))
    prefill = statistics.median(completion(1001, 1) for _ in range(3)) - base
    decode = statistics.median(completion(1, 33) for _ in range(3)) - base
    # one sequence alone had the machine's free cores: sequences running at once, in one pod or
    # several, share them (the scenario's node, concurrency 1), so the rate is per sequence alone
    return {
        "prefillTokensPerSecond": round(1000 / max(prefill, 1e-2), 1),
        "decodeTokensPerSecond": f"{32 / max(decode, 1e-3):.1f}",
    }


def scenario(svc: dict[str, Any], hpa: dict[str, Any], cold_s: float, model: dict[str, Any],
             duration_s: float) -> dict[str, Any]:  # fmt: skip
    dep = f"{svc['name']}-predictor"
    spec = {k: v for k, v in hpa["spec"].items()}
    return {
        "name": f"replay-{svc['name']}",
        "node": {"concurrency": svc["node"]},  # the pods share this machine's cores
        "duration": round(duration_s),
        "profile": "fast",
        "requests": {
            "file": str(TRACE),
            "speed": svc["speed"],
            "scale": svc["scale"],
            "seed": 0,
        },  # fmt: skip
        "deployments": [
            {
                "name": dep,
                "replicas": 1,
                "startupSeconds": round(cold_s, 1),
                "maxConcurrency": svc["capacity"],
                "holdTimeoutSeconds": 60,
                "service": model,
                "load": {"requests": "trace"},
            }
        ],
        "objects": [
            {
                "apiVersion": "autoscaling/v2",
                "kind": "HorizontalPodAutoscaler",
                "metadata": {"name": hpa["metadata"]["name"]},
                "spec": spec,
            }  # fmt: skip
        ],
    }


def live_run(svc: dict[str, Any], seconds: float) -> dict[str, Any]:
    """Serve on a fresh plane, measure the model, replay live: everything the simulation needs."""
    plane = LivePlane(f"tidal-bench-replay-{svc['name']}-")
    # pods do not see the plane's home (docs/PODS.md, isolation): the model lives beside it
    models = Path(tempfile.mkdtemp(prefix="tidal-bench-replay-model-"))
    plane.model = train_iris(models / "model")
    try:
        cold = serve(plane, svc)
        model = measure(plane, svc)
        hpa = json.loads(plane.cli("get", "hpa", f"{svc['name']}-hpa", "-o", "json"))
        argv = ["replay", str(TRACE), "--service", svc["name"], "--speed", str(svc["speed"]),
                "--scale", str(svc["scale"]), "--duration", f"{seconds:g}s",
                "--capacity", str(svc["capacity"]), "--tokens-scale", str(svc["tokens_scale"]),
                "--timeout", "120s", "-o", "json"]  # fmt: skip
        live = json.loads(plane.cli(*argv))
    finally:
        plane.stop()
        shutil.rmtree(models, ignore_errors=True)
    return {"cold": cold, "model": model, "hpa": hpa, "live": live, "seconds": seconds}


def run(name: str, seconds: float, saved: Path | None, prov: Provenance) -> list[str]:
    svc = SERVICES[name]
    reused = saved is not None and saved.exists()
    if reused:  # simulate again against a recorded live run
        got = json.loads(saved.read_text())
    else:
        got = live_run(svc, seconds)
        if saved is not None:
            saved.write_text(json.dumps(got))
    cold, model, hpa, live, seconds = (got[k] for k in ("cold", "model", "hpa", "live", "seconds"))
    rep = live["report"]
    elapsed = max((o["arrival_s"] + o["latency_s"] for o in live["outcomes"]), default=seconds)
    data = scenario(svc, hpa, cold, model, elapsed)
    sc = parse_scenario(data, base=ROOT)
    sc.requests = [a for a in (sc.requests or []) if a.t <= seconds]
    if "command" in svc and sc.requests:
        from tidal.sim.traces import Arrival

        scale = svc["tokens_scale"]  # the token lengths as the live replay scaled them
        sc.requests = [
            Arrival(a.t, {k: max(1.0, math.ceil(v * scale)) for k, v in a.size.items()})
            for a in sc.requests
        ]
    _, summary = asyncio.run(simulate(sc))
    sim = summary.report[0]

    def diff(a: float, b: float) -> str:
        return f"{100 * (a - b) / b:+.0f}%" if b else "n/a"

    fails = ", ".join(f"{f['count']} x {f['status']} {f['reason']}" for f in live["failures"])
    return [
        f"Trace: `{TRACE.name}` from its start, speed {svc['speed']:g}, scale {svc['scale']:g}, "
        f"{seconds:g} s replayed ({rep['requests']} requests); tokens x{svc['tokens_scale']:g}"
        if "command" in svc
        else f"Trace: `{TRACE.name}` from its start, speed {svc['speed']:g}, scale "
        f"{svc['scale']:g}, {seconds:g} s replayed ({rep['requests']} requests)",
        "",
        f"Served: `tidal serve kserve --name={svc['name']} {' '.join(svc['flags'])}`; HPA "
        f"`{hpa['metadata']['name']}` read back from the plane. Measured on the plane before the "
        f"replay: cold start {cold:.1f} s, service model `{json.dumps(model)}`, capacity "
        f"{svc['capacity']} per pod, pods sharing a node of concurrency {svc['node']}.",
        "",
        "| run | requests | answered | 503s / failures | replica-s | p50 | p99 | max replicas |",
        "|---|---:|---:|---|---:|---:|---:|---:|",
        f"| live (`tidal replay`) | {rep['requests']} | {rep['ok']} | {fails or 'none'} | "
        f"{rep['replica_seconds']:g} | {rep['p50_s']:.3f}s | {rep['p99_s']:.3f}s | "
        f"{rep['max_replicas']} |",
        f"| simulated (`tidal simulate`) | {sim.requests} | {sim.ok} | {sim.errors_503} 503s | "
        f"{sim.replica_seconds:g} | {sim.p50_s:.3f}s | {sim.p99_s:.3f}s | {sim.max_replicas} |",
        f"| live vs simulated | | | | {diff(rep['replica_seconds'], sim.replica_seconds)} | "
        f"{diff(rep['p50_s'], sim.p50_s)} | {diff(rep['p99_s'], sim.p99_s)} | |",
        "",
        f"Live: sent at most {live['max_send_lag_s']:.2f} s late.",
        prov.readme_row(
            80 if name == "iris" else 81,
            f"simulator vs live, {seconds:g} s of the Azure trace on {name} (replica-s, p99)",
            f"`tidal simulate`: {sim.replica_seconds:g} replica-s, p99 {sim.p99_s:.2f} s",
            "the same trace live (`tidal replay` on the plane), "
            + ("recorded earlier (--live-json): " if reused else "same run: ")
            + f"{rep['replica_seconds']:g} replica-s, p99 {rep['p99_s']:.2f} s",
        ),
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--service", choices=sorted(SERVICES), default="iris")
    ap.add_argument("--seconds", type=float, default=120.0, help="live replay length (120)")
    ap.add_argument("--out", default=str(OUT))
    ap.add_argument("--live-json", type=Path, help="save the live run here; reuse it when present")
    args = ap.parse_args()
    prov = Provenance.start()
    body = run(args.service, args.seconds, args.live_json, prov)
    out = Path(args.out)
    if not out.exists():
        out.write_text("# Replay: live vs simulated\n\nSee docs/REPLAY.md for how to read it.\n")
    header = prov.header(args.service).splitlines()[2:]  # the provenance lines, no title
    replace_section(out, args.service, [*header, *body])
    print(out.read_text())


if __name__ == "__main__":
    main()
