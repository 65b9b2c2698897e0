"""A real local plane for a process test: `tidal up` in a fresh TIDAL_HOME with the test's flags,
the CLI run in this process against that home, and in `finally` `tidal down` plus a SIGKILL for a
plane that outlived it. One copy, so every plane test starts and cleans up the same way."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil

from tidal.cli.env import Env
from tidal.cli.main import main
from tidal.home import PLANE_PID, alive, read_json

ROOT = Path(__file__).resolve().parents[1]


def train_iris(model: Path) -> Path:
    """The example's iris model trained into `model` (what the iris services serve)."""
    subprocess.run(
        [sys.executable, str(ROOT / "examples" / "iris" / "train.py"), str(model)], check=True
    )
    return model


def run_cli(home: Path, *argv: str, stdin: str = "") -> tuple[int, str, str]:
    """`tidal ARGV` in this process with TIDAL_HOME=home and no KUBECONFIG: (code, out, err)."""
    out, err = io.StringIO(), io.StringIO()
    old = {k: os.environ.get(k) for k in ("TIDAL_HOME", "KUBECONFIG")}
    os.environ["TIDAL_HOME"] = str(home)
    os.environ.pop("KUBECONFIG", None)
    try:
        code = main(list(argv), Env(out, err, io.StringIO(stdin)))
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return code, out.getvalue(), err.getvalue()


def start_plane(home: Path, ingress: int, *flags: str) -> int:
    """`tidal up --ingress-port INGRESS FLAGS` in `home` (created); returns the ready plane's pid.
    If `up` fails, whatever it left running is stopped before the error is raised."""
    home.mkdir(parents=True, exist_ok=True)
    code, _, err = run_cli(home, "up", "--ingress-port", str(ingress), *flags)
    if code != 0:
        stop_plane(home)
        raise AssertionError(f"tidal up failed: {err}")
    return int(json.loads((home / "plane.ready").read_text())["pid"])


def stop_plane(home: Path, pid: int | None = None) -> None:
    """`tidal down` (router, pods, Prometheus go with it); SIGKILL the plane if it lingers: `pid`
    or the one `home` recorded."""
    run_cli(home, "down", "--timeout", "30")
    lingering = {pid} if pid is not None and psutil.pid_exists(pid) else set()
    rec = read_json(home / PLANE_PID)
    if alive(rec):
        lingering.add(int(rec["pid"]))  # type: ignore[index]
    for p in lingering:
        try:
            os.killpg(p, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def pod_processes(home: Path) -> dict[str, list[int]]:
    """Live pod processes per pod name: every process whose environment says it belongs to a
    pod of this home (`POD_NAME`, and its working folder under the home), counted at the top of
    each pod's process tree, so a duplicate or an orphan shows up as a second entry."""
    out: dict[str, list[int]] = {}
    for proc in psutil.process_iter(["pid", "ppid", "status"]):
        try:
            if proc.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            env = proc.environ()
            name = env.get("POD_NAME")
            if not name or not proc.cwd().startswith(str(home)):
                continue
            try:
                parent_pod = psutil.Process(proc.info["ppid"]).environ().get("POD_NAME")
            except (psutil.Error, OSError):  # init or a subreaper after a plane was killed
                parent_pod = None
            if parent_pod == name:
                continue  # inside a pod's tree, not its top
            out.setdefault(name, []).append(proc.pid)
        except (psutil.Error, OSError):
            continue
    return out


@contextmanager
def running_plane(home: Path, ingress: int, *flags: str) -> Iterator[int]:
    """A plane up for the `with` block (its pid), down after it whatever happens."""
    pid = start_plane(home, ingress, *flags)
    try:
        yield pid
    finally:
        stop_plane(home, pid)
