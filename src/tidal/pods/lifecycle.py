"""A container's life between its starts, as the kubelet keeps it: what an exit records (exit
code, reason, termination message, back-off failures), whether it starts again under the pod's
restart policy (counting restarts), its readiness from the probe, and the grace period of a
pod's termination.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from pathlib import Path

from tidal.api.client import Obj
from tidal.pods import backoff, probes
from tidal.pods.status import ContainerState, PodState, terminated

FAST_PROBE_S = 0.02  # probe period until the first success: pods become Ready without lag


def exited(
    c: ContainerState, code: int | None, now: float, backoff_max_s: float, message: str
) -> None:
    """Record that the container ended with `code` (None: an adopted process whose exit code
    could not be read); `message`: the termination message of a failure."""
    if code is None:
        c.exit_code, c.reason = 137, "ContainerStatusUnknown"
        msg = "The container exited while the control plane was down; its exit code is unknown"
    else:
        c.exit_code, c.reason, msg = code, ("Completed" if code == 0 else "Error"), ""
        if code:
            msg = message
    c.finished_at = now
    c.ready = False
    c.last_terminated = terminated(c.exit_code, c.reason, c.started_at, now, msg, c.pid)
    c.failures = backoff.failures_after_exit(c.failures, now - c.started_at, backoff_max_s)


def fallback_message(spec: Obj, log_path: Path) -> str:
    """`terminationMessagePolicy: FallbackToLogsOnError`: a failed container's termination
    message is the end of its log (as the kubelet: 80 lines, 2048 bytes at most)."""
    if spec.get("terminationMessagePolicy") != "FallbackToLogsOnError":
        return ""
    try:
        with open(log_path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(f.tell() - 2048, 0))
            tail = f.read().decode(errors="replace")
    except OSError:
        return ""
    return "\n".join(tail.splitlines()[-80:]).strip()


def restart(c: ContainerState, policy: str) -> bool:
    """Whether the container starts again (and count the restart)."""
    if policy == "Never" or (policy == "OnFailure" and c.exit_code == 0):
        c.state = "terminated"
        return False
    c.restart_count += 1
    c.state, c.reason, c.message = "waiting", "ContainerCreating", ""
    return True


def grace_seconds(pod: Obj) -> float:
    """The termination grace period: the deletion's, else the pod's, else Kubernetes' 30 s."""
    grace = (pod.get("metadata") or {}).get("deletionGracePeriodSeconds")
    if grace is None:
        grace = (pod.get("spec") or {}).get("terminationGracePeriodSeconds")
    return 30.0 if grace is None else float(grace)


async def keep_ready(
    c: ContainerState,
    probe: probes.Probe,
    pod_state: PodState,
    env: dict[str, str] | None,
    changed: Callable[[], Awaitable[None]],
) -> None:
    """Probe the container forever and keep `c.ready` (never while the pod terminates);
    `changed` is awaited after each change. No probe: ready at once."""
    if probe.kind == "none":
        c.ready = True
        await changed()
        return
    if probe.initial_delay_s:
        await asyncio.sleep(probe.initial_delay_s)
    ok_n = bad_n = 0
    while True:
        ok = await probes.check(probe, pod_state.pod_ip, env)
        if ok:
            ok_n, bad_n = ok_n + 1, 0
            if not c.ready and ok_n >= probe.success_threshold and not pod_state.terminating:
                c.ready = True
                await changed()
        else:
            ok_n, bad_n = 0, bad_n + 1
            if c.ready and bad_n >= probe.failure_threshold:
                c.ready = False
                await changed()
        await asyncio.sleep(probe.period_s if c.ready else min(probe.period_s, FAST_PROBE_S))
