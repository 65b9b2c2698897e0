"""Start `python -m tidal.server` on a free port in a temporary home, for HTTP tests."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support import stop_process, wait_until


@dataclass(frozen=True)
class ApiServerProcess:
    home: Path
    url: str
    token: str
    ca: Path
    kubeconfig: Path
    proc: subprocess.Popen


@contextmanager
def run_api_server(home: Path) -> Iterator[ApiServerProcess]:
    url_file = home / "url"
    url_file.unlink(missing_ok=True)  # a restart in the same home waits for the new address
    log = (home / "server.log").open("wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tidal.server",
            "--home",
            str(home),
            "--port",
            "0",
            "--url-file",
            str(url_file),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_until(
            lambda: url_file.exists() or proc.poll() is not None,
            timeout_s=30,
            what="API server url file",
        )
        if not url_file.exists():
            raise AssertionError((home / "server.log").read_text())
        yield ApiServerProcess(
            home,
            url_file.read_text(),
            (home / "token").read_text().strip(),
            home / "pki" / "ca.crt",
            home / "kubeconfig",
            proc,
        )
    finally:
        stop_process(proc)
        log.close()
