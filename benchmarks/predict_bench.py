"""Benchmark: iris predictions, tidal's runtime vs KServe 0.21's python server (one worker each).

Called by `benchmarks/predict` (which makes both venvs and finds hey). For each round it starts
one server, waits for it, warms it up, runs `hey -z <duration>s -c <concurrency>` with the seed's
`iris-input.json`, stops it, then does the same for the other; the servers alternate so slow
drift of the machine hits both. Writes req/s, p50, p99 and the ratio to results/predict.md.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from provenance import Provenance

ROOT = Path(__file__).resolve().parent.parent
INPUT = ROOT / "examples" / "iris" / "iris-input.json"
RESULTS = ROOT / "benchmarks" / "results" / "predict.md"
MODEL_NAME = "sklearn-iris"


@dataclass
class Run:
    server: str
    rps: float
    p50_ms: float
    p99_ms: float
    ok: int
    errors: int


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_command(which: str, model_dir: Path, port: int, extra: list[str]) -> list[str]:
    if which == "tidal":
        return [
            str(ROOT / ".venv" / "bin" / "python"),
            "-m",
            "sklearnserver",
            f"--model_name={MODEL_NAME}",
            f"--model_dir={model_dir}",
            f"--http_port={port}",
            "--log_level=warning",
            *extra,
        ]
    return [
        str(ROOT / ".venv-kserve" / "bin" / "python"),
        str(ROOT / "benchmarks" / "kserve_iris.py"),
        f"--model_name={MODEL_NAME}",
        f"--model_dir={model_dir}",
        f"--http_port={port}",
        "--enable_grpc=false",
    ]


def wait_ready(url: str, proc: subprocess.Popen[bytes], timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    body = INPUT.read_bytes()
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode} before it was ready")
        try:
            req = urllib.request.Request(
                url, data=body, headers={"Content-Type": "application/json"}
            )
            with urllib.request.urlopen(req, timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"server not ready at {url} after {timeout_s}s")


def hey(url: str, duration_s: int, concurrency: int) -> str:
    cmd = [
        "hey",
        "-z",
        f"{duration_s}s",
        "-c",
        str(concurrency),
        "-m",
        "POST",
        "-H",
        "Content-Type: application/json",
        "-D",
        str(INPUT),
        url,
    ]
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout


def parse_hey(server: str, out: str) -> Run:
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = float(re.search(r"50%+ in ([\d.]+) secs", out).group(1))  # type: ignore[union-attr]
    p99 = float(re.search(r"99%+ in ([\d.]+) secs", out).group(1))  # type: ignore[union-attr]
    codes = {int(c): int(n) for c, n in re.findall(r"\[(\d{3})\]\s+(\d+) responses", out)}
    ok = codes.get(200, 0)
    errors = sum(codes.values()) - ok + len(re.findall(r"Error distribution", out))
    return Run(server, rps, p50 * 1000, p99 * 1000, ok, errors)


def measure(
    which: str, model_dir: Path, duration_s: int, concurrency: int, extra: list[str]
) -> Run:
    port = free_port()
    url = f"http://127.0.0.1:{port}/v1/models/{MODEL_NAME}:predict"
    env = dict(os.environ, POD_IP="127.0.0.1")
    proc = subprocess.Popen(
        server_command(which, model_dir, port, extra),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_ready(url, proc)
        hey(url, 2, concurrency)  # warm-up, not counted
        return parse_hey(which, hey(url, duration_s, concurrency))
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def report(runs: list[Run], duration_s: int, concurrency: int, prov: Provenance) -> str:
    def med(server: str, attr: str) -> float:
        return statistics.median(getattr(r, attr) for r in runs if r.server == server)

    t_rps, k_rps = med("tidal", "rps"), med("kserve", "rps")
    t_p99, k_p99 = med("tidal", "p99_ms"), med("kserve", "p99_ms")
    ratio = t_rps / k_rps
    verdict = "met" if ratio >= 2 and t_p99 <= k_p99 else "NOT met"
    lines = [
        prov.header("Iris predictions: tidal runtime vs KServe 0.21 python server").rstrip("\n"),
        "",
        f"Load: `hey -z {duration_s}s -c {concurrency} -m POST` with the seed's"
        " `examples/iris/iris-input.json` to `/v1/models/sklearn-iris:predict`; one worker each,"
        " same `model.joblib` (SVC), servers run alternately, medians over rounds.",
        "",
        "| server | req/s | p50 ms | p99 ms |",
        "|---|---:|---:|---:|",
        f"| tidal (`python -m sklearnserver`) | {t_rps:.0f} | {med('tidal', 'p50_ms'):.2f} | {t_p99:.2f} |",
        f"| KServe 0.21 (`kserve.ModelServer`) | {k_rps:.0f} | {med('kserve', 'p50_ms'):.2f} | {k_p99:.2f} |",
        "",
        f"**Ratio: {ratio:.2f}x req/s; p99 {t_p99:.2f} ms vs {k_p99:.2f} ms.** "
        f"Target (>= 2x req/s, p99 no worse): {verdict}.",
        "",
        "Every round:",
        "",
        "| round | server | req/s | p50 ms | p99 ms | 200s | other |",
        "|---:|---|---:|---:|---:|---:|---:|",
    ]
    for i, r in enumerate(runs):
        lines.append(
            f"| {i // 2 + 1} | {r.server} | {r.rps:.0f} | {r.p50_ms:.2f} | {r.p99_ms:.2f}"
            f" | {r.ok} | {r.errors} |"
        )
    tidal_cell = f"{t_rps:.0f} req/s, p99 {t_p99:.0f} ms ({ratio:.1f}x KServe's req/s)"
    peer_cell = (
        "KServe 0.21 `ModelServer` with sklearnserver's predict path (benchmarks/kserve_iris.py), "
        f"same run: {k_rps:.0f} req/s, p99 {k_p99:.0f} ms"
    )
    what = f"iris predictions, one worker each, `hey -c {concurrency}`"
    return "\n".join(lines) + "\n" + prov.readme_row(10, what, tidal_cell, peer_cell)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="benchmarks/predict")
    p.add_argument("--duration", type=int, default=30, help="seconds of load per run (30)")
    p.add_argument("--rounds", type=int, default=2, help="runs per server, alternating (2)")
    p.add_argument("--concurrency", type=int, default=20, help="hey -c (20)")
    p.add_argument("--out", type=Path, default=RESULTS)
    p.add_argument(
        "--tidal-flags",
        default="",
        help="extra flags for tidal's server, e.g. '--predict_threads 0'",
    )
    p.add_argument("--only", choices=("tidal", "kserve"), help="measure one server only")
    args = p.parse_args(argv)
    prov = Provenance.start()
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = Path(tmp)
        subprocess.run(
            [sys.executable, str(ROOT / "examples" / "iris" / "train.py"), str(model_dir)],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        runs: list[Run] = []
        for _ in range(args.rounds):
            for which in ("tidal", "kserve"):
                if args.only and which != args.only:
                    continue
                extra = args.tidal_flags.split()
                run = measure(which, model_dir, args.duration, args.concurrency, extra)
                print(
                    f"{run.server:7s} {run.rps:9.0f} req/s  p50 {run.p50_ms:6.2f} ms"
                    f"  p99 {run.p99_ms:6.2f} ms  ({run.ok} ok, {run.errors} other)",
                    flush=True,
                )
                runs.append(run)
    if args.only:
        return 0
    text = report(runs, args.duration, args.concurrency, prov)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
