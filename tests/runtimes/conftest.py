"""Fixtures for runtime tests: the iris model, and runtime servers as real processes."""

from __future__ import annotations

import os
import random
import socket
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.plane import train_iris
from tests.support import stop_process, wait_until

ROOT = Path(__file__).resolve().parents[2]
SEED_INPUT = ROOT / "examples" / "iris" / "iris-input.json"


@pytest.fixture(scope="session")
def iris_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("iris")
    train_iris(folder)
    return folder


def pod_address() -> tuple[str, int]:
    """A random 127.x.y.z (as a tidal pod gets) and a free port on it."""
    ip = f"127.{random.randint(1, 254)}.{random.randint(0, 255)}.{random.randint(1, 254)}"
    with socket.socket() as s:
        s.bind((ip, 0))
        return ip, int(s.getsockname()[1])


@contextmanager
def runtime(
    module: str, args: Sequence[str], env: dict[str, str] | None = None, ready: bool = True
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """Start `python -m module args` bound to its own pod address; yield (base url, process)."""
    ip, port = pod_address()
    full_env = dict(os.environ, POD_IP=ip, PYTHONPATH=str(ROOT), **(env or {}))
    proc = subprocess.Popen(
        [sys.executable, "-m", module, f"--http_port={port}", "--log_level=warning", *args],
        env=full_env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://{ip}:{port}"
    try:
        if ready:
            wait_until(
                lambda: proc.poll() is not None or _ready(url),
                timeout_s=60,
                what=f"{module} ready at {url}",
            )
            assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
        yield url, proc
    finally:
        stop_process(proc)


def _ready(url: str) -> bool:
    return httpx.get(f"{url}/v2/health/ready", timeout=2).status_code == 200


@pytest.fixture(scope="session")
def iris_server(iris_model_dir: Path) -> Iterator[str]:
    """One sklearn runtime (via the seed's `python -m sklearnserver`) for the HTTP tests."""
    with runtime(
        "sklearnserver",
        ["--model_name=sklearn-iris", f"--model_dir={iris_model_dir}", "--max_body_size=100000"],
    ) as (url, _):
        yield url
