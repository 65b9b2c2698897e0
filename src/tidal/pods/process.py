"""Container processes: spawn in their own session, know them again, stop them, wait for them.

A container is a process group led by its command (`sh -c ...` when the controller was given a
string), started with `start_new_session` so it survives the plane. It is recognised after a
plane restart by pid *and* process start time (a recycled pid has another start time). Stopping
signals the whole group and then every descendant that left it, so no process is orphaned.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

import psutil

START_TIME_TOLERANCE_S = 0.05


@dataclass(frozen=True, slots=True)
class ProcessRef:
    pid: int
    create_time: float  # psutil's process start time (seconds since the epoch)


def spawn(
    argv: list[str], env: dict[str, str], cwd: Path, log_path: Path
) -> tuple[subprocess.Popen, ProcessRef]:
    """Start a container; OSError when the command cannot be run."""
    with open(log_path, "ab", buffering=0) as log:
        proc = subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
        )
    try:
        created = psutil.Process(proc.pid).create_time()
    except psutil.Error:
        created = 0.0
    return proc, ProcessRef(proc.pid, created)


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
    """Send `sig` to the container's process group and to descendants that left it."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(ref.pid, sig)
    procs = extra if extra is not None else (tree(ref.pid) if is_alive(ref) else [])
    for p in procs:
        with contextlib.suppress(psutil.Error, ProcessLookupError, PermissionError, OSError):
            if os.getpgid(p.pid) != ref.pid:  # the group got it already: signal each only once
                p.send_signal(sig)


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except (ProcessLookupError, PermissionError):
        return False


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


def kill_leftovers(pgid: int) -> None:
    """After the leader exited: SIGKILL what remains in its group (`sh -c 'srv &'`)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)
