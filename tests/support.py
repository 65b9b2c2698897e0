"""Helpers every process test uses: wait for a condition (never a fixed sleep), stop what it started."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


def free_port() -> int:
    """A port free on 127.0.0.1 now, for a server a test starts."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(
    predicate: Callable[[], T], timeout_s: float = 30.0, interval_s: float = 0.05, what: str = ""
) -> T:
    """Poll `predicate` until it returns something truthy; fail with `what` after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    last_exc: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except Exception as exc:  # the condition may raise until the thing is up
            last_exc = exc
        else:
            if value:
                return value
        time.sleep(interval_s)
    raise AssertionError(
        f"timed out after {timeout_s}s waiting for {what or predicate!r}"
        + (f" (last error: {last_exc!r})" if last_exc else "")
    )


def stop_process(proc: subprocess.Popen, grace_s: float = 5.0) -> None:
    """SIGTERM the process group, wait, then SIGKILL; safe to call on a finished process."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        proc.terminate()
    try:
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=grace_s)


async def stop_runner(runner: Any, task: asyncio.Task[Any], pids: list[int] | None = None) -> None:
    """Stop a PodRunner a test started and its `run()` task, then SIGKILL what its pods left
    (the runner leaves pods running on stop, as the kubelet does across a plane restart).
    `pids`: the process groups to kill; default every container the runner still tracks."""
    if pids is None:
        pids = [ref.pid for w in runner.workers.values() for _, ref in w.refs.values()]
    await runner.stop()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
