"""Pods cannot reach the plane's credentials: the bwrap layout (a table), the scrubbed
environment, and real pods that try to read the token, serve, restart, are adopted, and stop."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.pods.test_runner import _ready, cs, pod, reasons, until
from tests.support import wait_until
from tidal.pods import process, sandbox
from tidal.pods.env import plane_env
from tidal.pods.runner import PodRunner, RunnerSettings
from tidal.server.inprocess import InProcessClient, open_inprocess

FAST = RunnerSettings(endpoint_drain_s=0.05, backoff_initial_s=0.2, unschedulable_retry_s=0.2)


class FakeHost:
    """A filesystem as a dict: path -> 'dir' | 'file' | ('link', target)."""

    def __init__(self, entries: dict[str, Any]) -> None:
        self.entries = {"/": "dir", **entries}

    def kind(self, path: str) -> str:
        e = self.entries.get(path, "missing")
        return "link" if isinstance(e, tuple) else e

    def listdir(self, path: str) -> list[str]:
        prefix = path.rstrip("/") + "/"
        return sorted(
            p[len(prefix) :]
            for p in self.entries
            if p.startswith(prefix) and "/" not in p[len(prefix) :] and p != path
        )

    def readlink(self, path: str) -> str:
        return self.entries[path][1]


HOST = FakeHost(
    {
        "/usr": "dir",
        "/bin": ("link", "usr/bin"),
        "/etc": "dir",
        "/etc/hosts": "file",
        "/proc": "dir",
        "/dev": "dir",
        "/dev/null": "file",
        "/dev/nvidia0": "file",
        "/tmp": "dir",
        "/tmp/home": "dir",
        "/tmp/home/pods": "dir",
        "/tmp/data": "dir",
        "/mnt": "dir",
        "/mnt/disk": "dir",
        "/var": "dir",
        "/var/run": ("link", "/run"),
        "/run": "dir",
        "/run/lock": "dir",
    }
)
POD = "/tmp/home/pods/default/p/work"

# name -> (binds, expected argument groups that must appear, argument groups that must not)
PLANS: dict[str, tuple[list[sandbox.Bind], list[list[str]], list[list[str]]]] = {
    "top level: system read-only, the rest writable, symlinks kept, proc/dev fresh": (
        [sandbox.Bind(POD, POD)],
        [
            ["--ro-bind-try", "/usr", "/usr"],
            ["--ro-bind-try", "/etc", "/etc"],
            ["--bind-try", "/tmp", "/tmp"],
            ["--symlink", "usr/bin", "/bin"],
            ["--proc", "/proc", "--dev", "/dev"],
            ["--dev-bind-try", "/dev/nvidia0", "/dev/nvidia0"],
            ["--tmpfs", "/tmp/home"],
            ["--bind", POD, POD],
            ["--cap-drop", "ALL"],
        ],
        [["--bind-try", "/proc", "/proc"], ["--bind-try", "/dev", "/dev"]],
    ),
    "a mount point missing at the top is made in the tmpfs root": (
        [sandbox.Bind("/tmp/data", "/data0", True)],
        [["--ro-bind", "/tmp/data", "/data0"]],
        [["--dir", "/tmp"]],
    ),
    "a mount point missing below /mnt: /mnt rebuilt entry by entry": (
        [sandbox.Bind("/tmp/data", "/mnt/models")],
        [
            ["--dir", "/mnt"],
            ["--bind-try", "/mnt/disk", "/mnt/disk"],
            ["--bind", "/tmp/data", "/mnt/models"],
        ],
        [["--bind-try", "/mnt", "/mnt"]],
    ),
    "symlinked prefix followed: /var/run -> /run": (
        [sandbox.Bind("/tmp/data", "/var/run/secrets/x")],
        [
            ["--dir", "/run"],
            ["--bind-try", "/run/lock", "/run/lock"],
            ["--bind", "/tmp/data", "/run/secrets/x"],
        ],
        [],
    ),
}


def _has(args: list[str], group: list[str]) -> bool:
    n = len(group)
    return any(args[i : i + n] == group for i in range(len(args) - n + 1))


@pytest.mark.parametrize(("binds", "present", "absent"), list(PLANS.values()), ids=list(PLANS))
def test_plan(binds: list[sandbox.Bind], present: list[list[str]], absent: list[list[str]]) -> None:
    args = sandbox.plan(HOST, hidden=["/tmp/home"], binds=binds, as_root=True, cwd=POD)
    for group in present:
        assert _has(args, group), (group, args)
    for group in absent:
        assert not _has(args, group), (group, args)
    # the home's tmpfs comes before the binds into it, the binds after every layout entry
    if _has(args, ["--bind", POD, POD]):
        assert args.index("--tmpfs") < len(args) - args[::-1].index(POD)


ENVS = {
    "TIDAL_HOME dropped": ({"TIDAL_HOME": "/h", "PATH": "/usr/bin"}, {"PATH": "/usr/bin"}),
    "KUBECONFIG dropped": ({"KUBECONFIG": "/elsewhere/config"}, {}),
    "values naming the home dropped": (
        {"X": "/h/token", "Y": "/hx", "Z": "/a:/h", "W": "/h"},
        {"Y": "/hx"},
    ),
}


@pytest.mark.parametrize(("environ", "expected"), list(ENVS.values()), ids=list(ENVS))
def test_plane_env(environ: dict[str, str], expected: dict[str, str]) -> None:
    assert plane_env(environ, Path("/h")) == expected


needs_bwrap = pytest.mark.skipif(
    sandbox.probe() is not None, reason=f"no isolation here: {sandbox.probe()}"
)


@needs_bwrap
@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"), reason="needs root")
def test_sandbox_as_a_normal_user() -> None:
    """The same plan works for an unprivileged user (bwrap then uses a user namespace)."""
    with tempfile.TemporaryDirectory(dir="/tmp") as top:  # pytest's tmp is root's alone (0700)
        _as_nobody(Path(top))


def _as_nobody(top: Path) -> None:
    home = top / "home"
    work = home / "pods" / "default" / "p" / "work"
    work.mkdir(parents=True)
    (home / "token").write_text("secret\n")
    (home / "token").chmod(0o644)  # readable by anyone on the host: only the namespace hides it
    (work / "mine.txt").write_text("mine\n")
    for d in (top, home, *work.parents[:3], work):
        d.chmod(0o755)
    args = sandbox.plan(
        sandbox.RealHost(),
        hidden=[str(home)],
        binds=[sandbox.Bind(str(work), str(work))],
        cwd=str(work),
        hostname="p",
    )
    script = f"cat {home}/token; cat mine.txt; id -u; hostname"
    done = subprocess.run(
        [
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "bwrap",
            *args,
            "--",
            "sh",
            "-c",
            script,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "secret" not in done.stdout
    assert "No such file" in done.stderr
    assert done.stdout.split() == ["mine", "65534", "p"]


SPAWNER = """
import json, os, sys
from pathlib import Path
from tidal.pods import process, sandbox
home, work = Path(sys.argv[1]), Path(sys.argv[2])
args = sandbox.plan(sandbox.RealHost(), hidden=[str(home)], binds=[sandbox.Bind(str(work), str(work))],
                    cwd=str(work), as_root=os.geteuid() == 0)
proc, ref = process.spawn(["sleep", "300"], dict(os.environ), work, work / "log",
                          [*sandbox.launcher(), *args])
print(json.dumps([ref.pid, ref.create_time, ref.pgid]), flush=True)
os.kill(os.getpid(), 9)  # the plane dies, as with kill -9
"""


@needs_bwrap
def test_sandbox_outlives_the_plane_that_started_it_and_dies_with_its_launcher(
    tmp_path: Path,
) -> None:
    home, work = tmp_path / "home", tmp_path / "home" / "pods" / "default" / "p" / "work"
    work.mkdir(parents=True)
    done = subprocess.run(
        [sys.executable, "-c", SPAWNER, str(home), str(work)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == -signal.SIGKILL, done.stderr
    pid, created, pgid = json.loads(done.stdout)
    ref = process.ProcessRef(pid, created, pgid)
    try:
        assert process.is_alive(ref)  # the plane is gone, the pod is not
        workload = wait_until(
            lambda: _named(process.workload_pid(ref), "sleep"), what="the workload started"
        )
        os.kill(pid, signal.SIGKILL)  # the container's pid, as `kill -9` of a pod's process

        def ended() -> bool:
            try:
                return workload.status() == psutil.STATUS_ZOMBIE
            except psutil.NoSuchProcess:
                return True

        wait_until(ended, what="the namespace ended with its launcher")
    finally:
        process.signal_tree(ref, signal.SIGKILL)


def _run(tmp_path: Path, scenario: Any, settings: RunnerSettings = FAST) -> None:
    home = tmp_path / "home"  # the plane's home; the test's other files lie beside it

    async def main() -> None:
        client = await open_inprocess(home)
        runners: list[PodRunner] = []

        def start() -> tuple[PodRunner, asyncio.Task[None]]:
            r = PodRunner(client, home, settings=settings)
            runners.append(r)
            return r, asyncio.create_task(r.run())

        try:
            await scenario(client, start)
        finally:
            pids = {
                ref.pid for r in runners for w in r.workers.values() for _, ref in w.refs.values()
            }
            for r in runners:
                await r.stop()
            for pid in pids:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(pid, signal.SIGKILL)
            await client.close()

    asyncio.run(main())


@needs_bwrap
def test_pod_cannot_read_the_token_yet_serves_restarts_is_adopted_and_stops(
    tmp_path: Path,
) -> None:
    (tmp_path / "home").mkdir()
    token = tmp_path / "home" / "token"
    token.write_text("plane-secret\n")
    data = tmp_path / "data"
    data.mkdir()
    (data / "weights.txt").write_text("w\n")
    dst = f"/tidal-test-{uuid.uuid4().hex[:8]}"  # missing on the host: made in the pod's root
    cmd = (
        f"cat {token} || echo TOKEN-UNREADABLE; env > env.txt; cat {dst}/weights.txt; "
        f"trap 'echo got-TERM > {dst}/term.txt; exit 0' TERM; "
        f"{sys.executable} -m http.server --bind $POD_IP 8080 & wait"
    )
    spec = {
        "ports": [{"containerPort": 8080}],
        "volumeMounts": [{"name": "d", "mountPath": dst}],
    }
    manifest = pod(
        "iso", cmd, container=spec, volumes=[{"name": "d", "hostPath": {"path": str(data)}}]
    )
    manifest["spec"]["terminationGracePeriodSeconds"] = 20
    folder = tmp_path / "home" / "pods" / "default" / "iso"

    async def scenario(client: InProcessClient, start: Any) -> None:
        runner, task = start()
        await client.create(manifest)
        p = await until(lambda: _ready(client, "iso"), "iso Ready")
        log = (folder / "log").read_text()
        assert "plane-secret" not in log and "TOKEN-UNREADABLE" in log and "w\n" in log
        env = dict(
            line.split("=", 1)
            for line in (folder / "work" / "env.txt").read_text().splitlines()
            if "=" in line
        )
        assert "TIDAL_HOME" not in env and "KUBECONFIG" not in env
        home = str(tmp_path / "home")
        assert not [k for k, v in env.items() if home in v and k not in ("TIDAL_POD_DIR", "PWD")]
        assert not Path(dst).exists()  # never made on the host

        # kill -9: restarted, counted
        pid = int(cs(p)["containerID"].removeprefix("tidal://"))
        os.kill(pid, signal.SIGKILL)

        async def restarted() -> dict[str, Any] | None:
            q = await client.get("Pod", "iso", "default")
            return q if cs(q).get("restartCount") == 1 and cs(q).get("ready") else None

        q = await until(restarted, "restart after kill -9")
        assert cs(q)["lastState"]["terminated"]["exitCode"] == 137
        pid = int(cs(q)["containerID"].removeprefix("tidal://"))

        # a new runner (a restarted plane) adopts the same process
        await runner.stop()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        assert psutil.pid_exists(pid)
        runner, task = start()
        await until(lambda: _adopted(runner), "adopted")
        q = await client.get("Pod", "iso", "default")
        assert cs(q)["containerID"] == f"tidal://{pid}" and cs(q)["restartCount"] == 1

        # metrics see the server itself, not bwrap
        target = next(t for t in runner.pod_targets() if t.name == "iso")
        assert "bwrap" not in psutil.Process(target.containers[0][1]).name()

        # deletion: SIGTERM reaches the workload through bwrap (the trap runs)
        await client.delete("Pod", "iso", "default")
        await until(lambda: _read(data / "term.txt"), "the workload got SIGTERM")
        await until(lambda: _gone(pid), "process gone")
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    _run(tmp_path, scenario)


@pytest.mark.skipif(sys.platform != "linux", reason="linux only")
def test_no_isolation_warns_in_events_and_still_scrubs_env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = RunnerSettings(endpoint_drain_s=0.05, isolation="off")
    cmd = "env > env.txt; exec sleep 300"

    async def scenario(client: InProcessClient, start: Any) -> None:
        start()
        await client.create(pod("plain", cmd))
        warning = await until(lambda: _warned(client), "IsolationUnavailable event")
        assert "can read the plane's home" in warning
        env_file = tmp_path / "home/pods/default/plain/work/env.txt"
        text = await until(lambda: _read(env_file), "env.txt")
        assert "TIDAL_HOME=" not in text

    monkeypatch.setenv("TIDAL_HOME", str(tmp_path / "home"))
    _run(tmp_path, scenario, settings)


def _named(pid: int, name: str) -> psutil.Process | None:
    p = psutil.Process(pid)
    return p if p.name() == name else None


async def _warned(client: InProcessClient) -> str | None:
    for reason, _, message in await reasons(client, "plain"):
        if reason == "IsolationUnavailable":
            return message
    return None


async def _adopted(runner: PodRunner) -> bool:
    return any(w.refs for w in runner.workers.values())


async def _read(path: Path) -> str | None:
    try:
        text = path.read_text()
    except OSError:
        return None
    return text if text.strip() else None


async def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


@needs_bwrap
def test_hostpath_into_the_home_is_refused(tmp_path: Path) -> None:
    manifest = pod(
        "peek",
        "exec sleep 300",
        container={"volumeMounts": [{"name": "h", "mountPath": "/peek"}]},
        volumes=[{"name": "h", "hostPath": {"path": str(tmp_path / "home")}}],
    )

    async def scenario(client: InProcessClient, start: Any) -> None:
        start()
        await client.create(manifest)

        async def refused() -> str | None:
            for reason, _, message in await reasons(client, "peek"):
                if reason == "Failed" and "inside the plane's home" in message:
                    return message
            return None

        await until(refused, "the start refused")
        p = await client.get("Pod", "peek", "default")
        assert "running" not in cs(p).get("state", {})

    _run(tmp_path, scenario)
