"""A real Prometheus (Debian's `prometheus` binary) started and supervised as part of the plane
(`tidal up --prometheus PATH`), discovering pods through the plane's `/sd` endpoint and scraping
the GPU exporter; or, with `--prometheus URL`, a server the user already runs."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from tidal.pods import backoff


def config(
    sd_url: str, exporter_target: str, scrape_interval_s: float, token_file: Path | None = None
) -> dict:
    """PURE: the prometheus.yml for tidal: pods by HTTP SD, the GPU exporter as a static target;
    both plane endpoints with the plane's bearer token read from `token_file`."""
    interval = f"{max(1, int(scrape_interval_s))}s"
    sd: dict = {"url": sd_url, "refresh_interval": interval}
    gpu: dict = {"job_name": "tidal-gpu", "static_configs": [{"targets": [exporter_target]}]}
    if token_file is not None:
        for section in (sd, gpu):
            section["authorization"] = {"type": "Bearer", "credentials_file": str(token_file)}
    return {
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "scrape_configs": [{"job_name": "tidal-pods", "http_sd_configs": [sd]}, gpu],
    }


def is_url(value: str) -> bool:
    return value.startswith(("http://", "https://"))


@dataclass(slots=True)
class PrometheusProcess:
    """Runs `prometheus` with tidal's config, restarting it when it exits."""

    binary: str
    home: Path
    port: int
    sd_url: str
    exporter_target: str
    scrape_interval_s: float = 1.0
    token_file: Path | None = None
    proc: subprocess.Popen | None = None
    failures: int = 0
    started_at: float = 0.0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @classmethod
    def find_binary(cls, path: str) -> str:
        found = shutil.which(path) or (path if os.access(path, os.X_OK) else None)
        if not found:
            raise FileNotFoundError(
                f"prometheus binary {path!r} not found (Debian: apt-get install prometheus)"
            )
        return found

    def start(self) -> None:
        folder = self.home / "prometheus"
        (folder / "data").mkdir(parents=True, exist_ok=True)
        cfg = folder / "prometheus.yml"
        cfg.write_text(
            yaml.safe_dump(
                config(self.sd_url, self.exporter_target, self.scrape_interval_s, self.token_file)
            )
        )
        (folder / "url").write_text(self.url + "\n")
        log = open(folder / "prometheus.log", "ab")
        self.proc = subprocess.Popen(
            [
                self.binary,
                f"--config.file={cfg}",
                f"--storage.tsdb.path={folder / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--storage.tsdb.retention.time=2h",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()

    async def supervise(self) -> None:
        """Keep it running until cancelled, restarting it with back-off when it keeps exiting
        (`backoff.supervised_restart`: 0, 0.5 s, 1 s ... 10 s); then stop it."""
        try:
            while True:
                if self.proc is None or self.proc.poll() is not None:
                    if self.proc is not None:
                        ran = time.monotonic() - self.started_at
                        self.failures, wait = backoff.supervised_restart(self.failures, ran)
                        if wait:
                            await asyncio.sleep(wait)
                    self.start()
                    self.started_at = time.monotonic()
                await asyncio.sleep(0.5)
        finally:
            self.stop()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
