"""Helpers the benchmarks share: train the iris model, start its server as a pod would run,
wait for a port, run hey and read its numbers."""

from __future__ import annotations

import os
import random
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
IRIS_INPUT = ROOT / "examples" / "iris" / "iris-input.json"
PREDICT_PATH = "/v1/models/sklearn-iris:predict"


def train_iris(folder: Path) -> Path:
    subprocess.run(
        [sys.executable, str(ROOT / "examples" / "iris" / "train.py"), str(folder)], check=True
    )
    return folder


def pod_ip() -> str:
    return f"127.{random.randint(100, 250)}.{random.randint(0, 255)}.{random.randint(1, 254)}"


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_port(host: str, port: int, timeout_s: float = 60.0, interval_s: float = 0.05) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            socket.create_connection((host, port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(interval_s)
    raise RuntimeError(f"{host}:{port} did not open within {timeout_s}s")


def iris_command(model_dir: Path, port: int = 8080) -> list[str]:
    return [
        sys.executable,
        "-m",
        "sklearnserver",
        "--model_name=sklearn-iris",
        f"--model_dir={model_dir}",
        f"--http_port={port}",
    ]


def start_iris(model_dir: Path, ip: str, port: int) -> subprocess.Popen:
    env = {**os.environ, "POD_IP": ip}
    return subprocess.Popen(
        iris_command(model_dir, port),
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, 15)
        except ProcessLookupError:
            pass
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait()


def hey(
    url: str, *, seconds: int, concurrency: int = 20, host: str | None = None
) -> dict[str, float]:
    """Run hey (POST iris-input.json) and return req/s, p50/p99 latency (s) and non-2xx count."""
    cmd = [
        "hey",
        "-z",
        f"{seconds}s",
        "-c",
        str(concurrency),
        "-m",
        "POST",
        "-T",
        "application/json",
        "-D",
        str(IRIS_INPUT),
    ]
    if host:
        cmd += ["-host", host]
    out = subprocess.run([*cmd, url], check=True, capture_output=True, text=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]

    def pct(p: str) -> float:
        m = re.search(rf"\s{p}% in ([\d.]+) secs", out)
        return float(m.group(1)) if m else float("nan")

    codes = {int(c): int(n) for c, n in re.findall(r"\[(\d{3})\]\s+(\d+) responses", out)}
    non2xx = sum(n for c, n in codes.items() if not 200 <= c < 300)
    errors = re.search(r"Error distribution:(.*)", out, re.S)
    return {
        "rps": rps,
        "p50": pct("50"),
        "p99": pct("99"),
        "non2xx": non2xx,
        "errors": 1.0 if errors else 0.0,
    }
