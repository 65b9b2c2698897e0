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
from dataclasses import dataclass
from pathlib import Path

import yaml


def config(sd_url: str, exporter_target: str, scrape_interval_s: float) -> dict:
    """PURE: the prometheus.yml for tidal: pods by HTTP SD, the GPU exporter as a static target."""
    interval = f"{max(1, int(scrape_interval_s))}s"
    return {
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "scrape_configs": [
            {
                "job_name": "tidal-pods",
                "http_sd_configs": [{"url": sd_url, "refresh_interval": interval}],
            },
            {"job_name": "tidal-gpu", "static_configs": [{"targets": [exporter_target]}]},
        ],
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
    proc: subprocess.Popen | None = None

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
            yaml.safe_dump(config(self.sd_url, self.exporter_target, self.scrape_interval_s))
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
        """Keep it running until cancelled; then stop it."""
        try:
            while True:
                if self.proc is None or self.proc.poll() is not None:
                    self.start()
                await asyncio.sleep(1.0)
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
