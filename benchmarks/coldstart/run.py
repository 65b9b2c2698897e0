"""Cold start: Pod created → Ready for the iris server, through the real API (in-process) and
the real pod runner; median of 20. The section "Pod created → Ready" of
benchmarks/results/coldstart.md (from_zero.py's section is kept).

    .venv/bin/python benchmarks/coldstart/run.py [--runs 20]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "router"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from iris_pod import ROOT, iris_command, pod_ip, start_iris, stop, train_iris, wait_port
from provenance import Provenance, write_section

from tidal.pods.runner import PodRunner, RunnerSettings
from tidal.server.inprocess import open_inprocess

FILE_TITLE = "Cold start"
SECTION = "Pod created → Ready"


def _ready(pod: dict) -> bool:
    return any(
        c["type"] == "Ready" and c["status"] == "True"
        for c in (pod.get("status") or {}).get("conditions") or []
    )


async def one(client, name: str, command: list[str]) -> float:  # type: ignore[no-untyped-def]
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "containers": [
                {
                    "name": "kserve-container",
                    "image": "kserve/sklearnserver",
                    "command": command,
                    "ports": [{"containerPort": 8080}],
                }
            ]
        },
    }
    created = await client.create(pod)
    t0 = time.monotonic()
    async for _typ, obj in client.watch(
        "Pod",
        "default",
        resource_version=created["metadata"]["resourceVersion"],
        field_selector=f"metadata.name={name}",
    ):
        if _ready(obj):
            break
    took = time.monotonic() - t0
    await client.delete("Pod", name, "default")
    while True:  # wait until the runner finished it (process gone, object gone)
        try:
            await client.get("Pod", name, "default")
        except Exception:
            break
        await asyncio.sleep(0.05)
    return took


def bare_start(model: Path) -> float:
    """The same server started by hand (no API, no runner) until its port accepts."""
    ip = pod_ip()
    t0 = time.monotonic()
    proc = start_iris(model, ip, 8080)
    try:
        wait_port(ip, 8080, timeout_s=60, interval_s=0.02)
        return time.monotonic() - t0
    finally:
        stop(proc)


async def amain(runs: int, out: Path, prov: Provenance) -> None:
    home = Path(tempfile.mkdtemp(prefix="tidal-bench-cold-"))
    # pods do not see the plane's home (docs/PODS.md, isolation): the model lives beside it
    models = Path(tempfile.mkdtemp(prefix="tidal-bench-model-"))
    model = train_iris(models / "model")
    client = await open_inprocess(home)
    runner = PodRunner(client, home, settings=RunnerSettings(endpoint_drain_s=0.0))
    task = asyncio.create_task(runner.run())
    times, bare = [], []
    try:
        for i in range(runs):
            t = await one(client, f"iris-{i}", iris_command(model))
            times.append(t)
            bare.append(await asyncio.to_thread(bare_start, model))
            print(f"run {i + 1}: {t:.3f}s (server alone {bare[-1]:.3f}s)", flush=True)
    finally:
        task.cancel()
        await runner.stop()
        await client.close()
        shutil.rmtree(models, ignore_errors=True)
    med = statistics.median(times)
    alone = statistics.median(bare)
    share = statistics.median(t - b for t, b in zip(times, bare, strict=True))
    lines = [
        prov.header(SECTION, level=2).rstrip("\n"),
        "",
        "Pod created (API create returned) → its Ready condition True (seen on a watch), for the iris "
        "server (`python -m sklearnserver`, default TCP readiness on port 8080), through the real "
        "in-process API and pod runner, one pod at a time.",
        "",
        "For comparison, after each run the same command is started by hand (no API, no runner)"
        " and timed until its port accepts: the runner's share is the difference.",
        "",
        "| | runs | median (s) | min (s) | max (s) | target |",
        "|---|---:|---:|---:|---:|---|",
        f"| pod created → Ready | {runs} | **{med:.3f}** | {min(times):.3f} | {max(times):.3f} | "
        "≤ 0.3 s (issue 20) |",
        f"| server alone → listening | {runs} | {alone:.3f} | {min(bare):.3f} | "
        f"{max(bare):.3f} | |",
        "",
        f"The runner's share (pod time minus the server alone, median over the runs): "
        f"{share:.3f} s.",
        "",
        "Each run (pod): " + ", ".join(f"{t:.3f}" for t in times),
        "",
        "Each run (alone): " + ", ".join(f"{t:.3f}" for t in bare),
    ]
    text = "\n".join(lines) + "\n"
    text += prov.readme_row(
        30,
        "iris pod created → Ready",
        f"{med:.2f} s median of {runs}",
        f"the same server started by hand (no API, no runner), same run: {alone:.2f} s",
    )
    write_section(out, FILE_TITLE, SECTION, text)
    print(text)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "coldstart.md"))
    args = ap.parse_args()
    prov = Provenance.start()
    asyncio.run(amain(args.runs, Path(args.out), prov))


if __name__ == "__main__":
    main()
