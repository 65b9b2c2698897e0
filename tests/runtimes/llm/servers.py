"""LLM runtime servers for tests: started on a free loopback port, always stopped."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.support import free_port, stop_process, wait_until


@dataclass
class Server:
    url: str
    proc: subprocess.Popen[bytes]
    log: Path

    def metric(self, name: str, **labels: str) -> float:
        """One sample's value from /metrics (0 when absent)."""
        text = httpx.get(self.url + "/metrics", timeout=10).text
        for line in text.splitlines():
            if not line.startswith(name + "{"):
                continue
            if all(f'{k}="{v}"' in line for k, v in labels.items()):
                return float(line.rsplit(" ", 1)[1])
        return 0.0


def start_server(tmp: Path, *flags: str) -> Iterator[Server]:
    port = free_port()
    log = tmp / f"llm-{port}.log"
    cmd = [
        sys.executable,
        "-m",
        "tidal.runtimes.llm",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        *flags,
    ]
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    server = Server(f"http://127.0.0.1:{port}", proc, log)
    try:

        def up() -> bool:
            if proc.poll() is not None:
                raise AssertionError(f"server exited {proc.returncode}: {log.read_text()}")
            return httpx.get(server.url + "/health", timeout=2).status_code == 200

        wait_until(up, timeout_s=60, what=f"{cmd} to answer /health")
        yield server
    finally:
        stop_process(proc)
