"""Container processes: spawn in their own session, know them again, stop them, wait for them.

A container is a process group led by its command (`sh -c ...` when the controller was given a
string), started with `start_new_session` so it survives the plane. It is recognised after a
plane restart by pid *and* process start time (a recycled pid has another start time). Stopping
signals the whole group and then every descendant that left it, so no process is orphaned.

In a sandbox (`sandbox.py`) the tracked pid is the launcher (`setsid --wait bwrap ...`, our
child: its exit code is the workload's), and `pgid` is the workload's own session inside the
namespace, led by bwrap's init. Graceful signals go to that group only: bwrap's outer process
would die of a SIGTERM and take the namespace with it (`--die-with-parent`) before the workload
could finish. SIGKILL goes to everything.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import select
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil

START_TIME_TOLERANCE_S = 0.05
SANDBOX_START_S = 30.0  # bwrap tells its init's pid within this, or the start failed


@dataclass(frozen=True, slots=True)
class ProcessRef:
    pid: int
    create_time: float  # psutil's process start time (seconds since the epoch)
    pgid: int = 0  # the workload's process group when not the pid's own (a sandbox)

    @property
    def group(self) -> int:
        return self.pgid or self.pid


def spawn(
    argv: list[str],
    env: dict[str, str],
    cwd: Path,
    log_path: Path,
    wrapper: Sequence[str] = (),
) -> tuple[subprocess.Popen, ProcessRef]:
    """Start a container; OSError when the command cannot be run. With a `wrapper` (bwrap and
    its arguments) the command runs inside it; bwrap tells the pid of its init on `--info-fd`."""
    if not wrapper:
        proc = _popen(argv, env, cwd, log_path)
        return proc, ProcessRef(proc.pid, _created(proc.pid))
    r, w = os.pipe()
    try:
        # cwd is the pod's folder (its cwd inside is the wrapper's --chdir)
        proc = _popen([*wrapper, "--info-fd", str(w), "--", *argv], env, cwd, log_path, (w,))
        os.close(w)
        w = -1
        init = _read_info(r, proc)
    finally:
        for fd in (r, w):
            if fd >= 0:
                os.close(fd)
    if init is None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(SANDBOX_START_S)
        if proc.poll() is None:
            signal_tree(ProcessRef(proc.pid, 0.0), signal.SIGKILL)
        code = proc.wait()
        why = _last_line(log_path)
        raise OSError(f"the sandbox did not start (bwrap exit {code}): {why}")
    return proc, ProcessRef(proc.pid, _created(proc.pid), init)


def _popen(
    argv: list[str], env: dict[str, str], cwd: Path, log_path: Path, pass_fds: tuple[int, ...] = ()
) -> subprocess.Popen:
    """A container's process: its own session (so its group can be signalled), no stdin,
    stdout and stderr appended to its log."""
    with open(log_path, "ab", buffering=0) as log:
        return subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
            pass_fds=pass_fds,
        )


def _read_info(fd: int, proc: subprocess.Popen) -> int | None:
    """bwrap's `{"child-pid": N}` from its info fd: read until it parses (the launcher keeps
    its own copy of the fd open, so no end of file comes while the pod runs)."""
    deadline = time.monotonic() + SANDBOX_START_S
    data = b""
    while (left := deadline - time.monotonic()) > 0:
        ready, _, _ = select.select([fd], [], [], left)
        if not ready:
            break
        chunk = os.read(fd, 4096)
        if not chunk:
            break  # bwrap failed before telling, and its launcher ended
        data += chunk
        with contextlib.suppress(ValueError, KeyError, TypeError):
            return int(json.loads(data)["child-pid"])
    return None


def _created(pid: int) -> float:
    try:
        return psutil.Process(pid).create_time()
    except psutil.Error:
        return 0.0


def _last_line(path: Path) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(max(0, os.path.getsize(path) - 512))
            lines = f.read().decode(errors="replace").strip().splitlines()
        return lines[-1] if lines else ""
    except OSError:
        return ""


def workload_pid(ref: ProcessRef) -> int:
    """The container's own command (in a sandbox: the first child of bwrap's init), for
    metrics that should not count bwrap's two small processes."""
    if not ref.pgid:
        return ref.pid
    try:
        kids = psutil.Process(ref.pgid).children()
    except psutil.Error:
        return ref.pid
    return kids[0].pid if kids else ref.pgid


def is_alive(ref: ProcessRef) -> bool:
    """The same process (pid and start time) still runs and is not a zombie."""
    try:
        p = psutil.Process(ref.pid)
        if abs(p.create_time() - ref.create_time) > START_TIME_TOLERANCE_S:
            return False
        return p.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def tree(pid: int) -> list[psutil.Process]:
    """The process and all its descendants (empty when it is gone)."""
    try:
        p = psutil.Process(pid)
        return [p, *p.children(recursive=True)]
    except psutil.Error:
        return []


def signal_tree(ref: ProcessRef, sig: int, extra: list[psutil.Process] | None = None) -> None:
    """Send `sig` to the container's process group and to descendants that left it (in a
    sandbox: a graceful signal only to the workload's group and what it started)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(ref.group, sig)
    if ref.pgid and sig == signal.SIGKILL:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(ref.pid, sig)
    procs = extra if extra is not None else (tree(ref.pid) if is_alive(ref) else [])
    outer = {ref.pid, ref.pgid} if ref.pgid else set()
    if ref.pgid:
        with contextlib.suppress(psutil.Error):
            outer.add(psutil.Process(ref.pgid).ppid())  # bwrap's outer process
    for p in procs:
        with contextlib.suppress(psutil.Error, ProcessLookupError, PermissionError, OSError):
            if p.pid in outer and sig != signal.SIGKILL:
                continue  # the launcher and bwrap: the workload's exit ends them
            if os.getpgid(p.pid) != ref.group:  # the group got it already: signal each once
                p.send_signal(sig)


async def wait_exit(
    ref: ProcessRef, proc: subprocess.Popen | None, poll_s: float = 0.2
) -> int | None:
    """Wait until the process ends; its exit code when it is our child (None when adopted).

    Uses a pidfd when the kernel has them (wakes at once, also for adopted processes), else polls.
    """
    loop = asyncio.get_running_loop()
    fd = -1
    with contextlib.suppress(OSError, AttributeError):
        fd = os.pidfd_open(ref.pid)
    try:
        if fd >= 0:
            done = loop.create_future()
            loop.add_reader(fd, lambda: done.done() or done.set_result(None))
            try:
                if proc is not None and proc.poll() is not None:
                    pass
                elif proc is None and not is_alive(ref):
                    pass
                else:
                    await done
            finally:
                loop.remove_reader(fd)
        else:
            while (proc.poll() is None) if proc is not None else is_alive(ref):
                await asyncio.sleep(poll_s)
    finally:
        if fd >= 0:
            os.close(fd)
    if proc is not None:
        code = proc.wait()
        return 128 - code if code < 0 else code  # killed by signal N: 128+N, as a shell reports
    return None


async def terminate(ref: ProcessRef, proc: subprocess.Popen | None, grace_s: float) -> None:
    """SIGTERM the group, wait up to `grace_s`, then SIGKILL whatever of the tree is left."""
    members = tree(ref.pid) if is_alive(ref) else []
    signal_tree(ref, signal.SIGTERM, members)
    try:
        await asyncio.wait_for(wait_exit(ref, proc), grace_s)
    except TimeoutError:
        pass
    signal_tree(ref, signal.SIGKILL, [m for m in members if m.is_running()])
    if proc is not None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(wait_exit(ref, proc), 5)


def kill_leftovers(ref: ProcessRef) -> None:
    """After the leader exited: SIGKILL what remains in its group (`sh -c 'srv &'`)."""
    for pgid in {ref.pid, ref.group}:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)
