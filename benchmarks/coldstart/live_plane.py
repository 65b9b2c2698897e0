"""A real local plane for the benchmarks that need the whole path (API, controllers, pod runner,
router): start it in a fresh home, run the CLI against it, read the router's /stats, stop it."""

from __future__ import annotations

import io
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks" / "router"))
from iris_pod import IRIS_INPUT, train_iris  # noqa: E402

from tidal.cli.env import Env  # noqa: E402
from tidal.cli.main import main as cli_main  # noqa: E402


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(pred: Any, timeout_s: float, what: str, interval_s: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            v = pred()
        except Exception:
            v = None
        if v:
            return v
        time.sleep(interval_s)
    raise RuntimeError(f"timed out after {timeout_s}s waiting for {what}")


class LivePlane:
    def __init__(self, prefix: str, *flags: str) -> None:
        self.home = Path(tempfile.mkdtemp(prefix=prefix))
        # pods do not see the plane's home (docs/PODS.md, isolation): the model lives beside it
        self.models = Path(tempfile.mkdtemp(prefix="tidal-bench-model-"))
        self.model = train_iris(self.models / "model")
        self.ingress, self.admin = _free_port(), _free_port()
        os.environ["TIDAL_HOME"] = str(self.home)
        os.environ.pop("KUBECONFIG", None)
        argv = [sys.executable, "-m", "tidal.plane", "--home", str(self.home)]
        argv += ["--ingress-port", str(self.ingress), "--admin-port", str(self.admin), *flags]
        self.proc = subprocess.Popen(
            argv,
            stdout=open(self.home / "plane.log", "ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_for(lambda: (self.home / "plane.ready").exists(), 120, "the plane")

    def cli(self, *argv: str) -> str:
        out, err = io.StringIO(), io.StringIO()
        code = cli_main(list(argv), Env(out, err, io.StringIO("")))
        if code != 0:
            raise RuntimeError(f"tidal {' '.join(argv)}: {err.getvalue()}")
        return out.getvalue()

    def serve_iris(self, name: str, *flags: str) -> None:
        self.cli(
            "serve",
            "kserve",
            f"--name={name}",
            *flags,
            f"python -m sklearnserver --model_name={name} --model_dir={self.model} "
            "--http_port=8080",
        )

    def deployment(self, name: str) -> dict[str, Any]:
        return json.loads(self.cli("get", "deploy", f"{name}-predictor", "-o", "json"))

    def replicas(self, name: str) -> int:
        return int(self.deployment(name)["spec"]["replicas"])

    def pods(self, name: str) -> int:
        """Pods of the predictor that exist (a deleted pod is gone once its process stopped)."""
        out = json.loads(self.cli("get", "pods", "-o", "json"))
        return sum(
            1 for p in out["items"] if p["metadata"]["name"].startswith(f"{name}-predictor-")
        )

    def stats(self, name: str) -> dict[str, Any]:
        token = (self.home / "token").read_text().strip()  # the admin port needs the plane's token
        doc = httpx.get(
            f"http://127.0.0.1:{self.admin}/stats",
            headers={"Authorization": f"Bearer {token}"},
            timeout=5,
        ).json()
        return doc["services"].get(f"default/{name}-predictor", {})

    def predict(self, name: str, timeout: float = 120) -> httpx.Response:
        return httpx.post(
            f"http://127.0.0.1:{self.ingress}/v1/models/{name}:predict",
            headers={"Host": f"{name}-default.example.com", "Content-Type": "application/json"},
            content=IRIS_INPUT.read_bytes(),
            timeout=timeout,
        )

    def url(self, name: str) -> tuple[str, str]:
        return (
            f"http://127.0.0.1:{self.ingress}/v1/models/{name}:predict",
            f"{name}-default.example.com",
        )

    def stop(self) -> None:
        try:
            self.cli("down")
        except Exception:
            pass
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        shutil.rmtree(self.models, ignore_errors=True)


def replace_section(path: Path, title: str, body: list[str]) -> None:
    """Write `## title` + body into the results file, replacing that section if present and
    keeping everything else (the other benchmarks' rows)."""
    text = path.read_text() if path.exists() else ""
    head = f"## {title}"
    start = text.find(head)
    if start >= 0:
        end = text.find("\n## ", start + len(head))
        text = text[:start].rstrip("\n") + ("\n" + text[end:] if end >= 0 else "")
    section = "\n".join([head, "", *body]).rstrip("\n") + "\n"
    path.write_text(text.rstrip("\n") + "\n\n" + section)
