"""What a service waits for, while `tidal serve kserve --wait` and `tidal apply --wait` wait:
its pods scheduled, started and ready (and the model loading in between), as one progress line
rewritten in place on a terminal, plain lines (one per change) otherwise; and why, when it
cannot become ready: the pod that crashes or cannot be scheduled, its event, its last log lines.

`status(...)` is pure (a table of cases in tests/cli/test_progress.py); `wait_ready` gathers its
inputs from the API every quarter second and prints."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from tidal.api.errors import ApiError, NotFound

Obj = dict[str, Any]

# waiting reasons that do not go away by waiting
FATAL_WAITING = {
    "CrashLoopBackOff",
    "ErrImagePull",
    "ImagePullBackOff",
    "CreateContainerError",
    "CreateContainerConfigError",
    "RunContainerError",
    "InvalidImageName",
}


@dataclass(frozen=True, slots=True)
class Status:
    line: str  # what it waits for now
    done: bool = False
    failed: str = ""  # why it will not become ready (empty while it may)
    pod: str = ""  # the pod whose logs say why


def _cond(obj: Obj | None, ctype: str) -> Obj:
    for c in ((obj or {}).get("status") or {}).get("conditions") or []:
        if c.get("type") == ctype:
            return c
    return {}


def _owned_by(pod: Obj, deployment: str) -> bool:
    """A pod of the Deployment: controlled by its ReplicaSet `<deployment>-<pod-template-hash>`."""
    meta = pod.get("metadata") or {}
    rs = f"{deployment}-{(meta.get('labels') or {}).get('pod-template-hash', '')}"
    refs = meta.get("ownerReferences") or []
    return any(r.get("kind") == "ReplicaSet" and r.get("name") == rs for r in refs)


def _pod_failure(pod: Obj) -> str:
    """Why this pod cannot become ready, or ""."""
    name = pod["metadata"]["name"]
    status = pod.get("status") or {}
    if status.get("phase") == "Failed":
        return f"pod {name} failed: {status.get('reason') or status.get('message') or 'Failed'}"
    for cs in status.get("containerStatuses") or []:
        waiting = (cs.get("state") or {}).get("waiting") or {}
        if waiting.get("reason") in FATAL_WAITING:
            last = (cs.get("lastState") or {}).get("terminated") or {}
            exit_code = f", exit code {last['exitCode']}" if "exitCode" in last else ""
            return (
                f"pod {name}: container {cs.get('name')} {waiting['reason']}"
                f"{exit_code}, restarted {cs.get('restartCount', 0)} time(s)"
            )
    return ""


def status(
    name: str,
    deployment: Obj | None,
    pods: Sequence[Obj],
    *,
    isvc: Obj | None = None,
    is_isvc: bool = False,
    events: Sequence[Obj] = (),
) -> Status:
    """What `name` (an InferenceService when `is_isvc`, else a Deployment) waits for now."""
    if is_isvc:
        if isvc is None:
            return Status(f"{name}: waiting for the InferenceService")
        if _cond(isvc, "Ready").get("status") == "True":
            url = (isvc.get("status") or {}).get("url", "")
            return Status(f"{name} is Ready: {url}", done=True)
    if deployment is None:
        return Status(f"{name}: waiting for its Deployment")
    dep_name = deployment["metadata"]["name"]
    want = (deployment.get("spec") or {}).get("replicas")
    want = 1 if want is None else int(want)
    mine = [
        p
        for p in pods
        if _owned_by(p, dep_name) and not (p.get("metadata") or {}).get("deletionTimestamp")
    ]
    scheduled = sum(
        1
        for p in mine
        if (p.get("spec") or {}).get("nodeName") or _cond(p, "PodScheduled").get("status") == "True"
    )
    started = sum(
        1
        for p in mine
        if any(
            "running" in (c.get("state") or {})
            for c in (p.get("status") or {}).get("containerStatuses") or []
        )
    )
    ready = sum(1 for p in mine if _cond(p, "Ready").get("status") == "True")
    line = (
        f"{name}: pods scheduled {scheduled}/{want}, started {started}/{want}, ready {ready}/{want}"
    )
    if started > ready:
        line += " (loading the model)" if is_isvc else " (waiting for readiness)"
    for p in mine:
        why = _pod_failure(p)
        if why:
            return Status(line, failed=why, pod=p["metadata"]["name"])
    unscheduled = {p["metadata"]["name"] for p in mine} - {
        p["metadata"]["name"]
        for p in mine
        if (p.get("spec") or {}).get("nodeName") or _cond(p, "PodScheduled").get("status") == "True"
    }
    for ev in events:
        inv = ev.get("involvedObject") or {}
        if ev.get("reason") == "FailedScheduling" and inv.get("name") in unscheduled:
            line += f" — {inv.get('name')}: {ev.get('message', '')}"
            break
    if not is_isvc and want > 0 and ready >= want:
        return Status(f"{name}: {ready}/{want} pods ready", done=True)
    if not is_isvc and want == 0:
        return Status(f"{name}: scaled to 0", done=True)
    return Status(line)


class ProgressLine:
    """One line rewritten in place on a terminal; a plain line per change elsewhere."""

    def __init__(self, stream: Any, tty: bool | None = None) -> None:
        self.stream = stream
        self.tty = _isatty(stream) if tty is None else tty
        self.last = ""
        self.spin = 0

    def show(self, text: str) -> None:
        if self.tty:
            self.spin = (self.spin + 1) % 4
            self.stream.write("\r\033[K" + "|/-\\"[self.spin] + " " + text)
            self.stream.flush()
        elif text != self.last:
            self.stream.write(text + "\n")
            self.stream.flush()
        self.last = text

    def finish(self, text: str) -> None:
        if self.tty:
            self.stream.write("\r\033[K" + text + "\n")
        elif text != self.last:
            self.stream.write(text + "\n")
        self.stream.flush()
        self.last = text


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def _warnings(events: Sequence[Obj], names: set[str]) -> list[Obj]:
    """Warnings about the service, its Deployment and pods (not its autoscaler's)."""
    ws = [
        e
        for e in events
        if e.get("type") == "Warning"
        and (e.get("involvedObject") or {}).get("name") in names
        and (e.get("involvedObject") or {}).get("kind") in ("Pod", "Deployment", "InferenceService")
    ]
    return sorted(ws, key=lambda e: e.get("lastTimestamp") or e.get("eventTime") or "")


async def wait_ready(
    client: Any,
    env: Any,
    name: str,
    namespace: str,
    timeout_s: float,
    *,
    is_isvc: bool,
    poll_s: float = 0.25,
    clock: Callable[[], float] = time.monotonic,
) -> int:
    """Show progress until `name` is ready (0), fails (1, with why) or times out (1, with why)."""
    line = ProgressLine(env.stderr)
    dep_name = f"{name}-predictor" if is_isvc else name
    deadline = clock() + timeout_s
    st = Status("")
    events: list[Obj] = []
    pods: list[Obj] = []
    while True:
        isvc = await _get(client, "InferenceService", name, namespace) if is_isvc else None
        dep = await _get(client, "Deployment", dep_name, namespace)
        pods = await _list(client, "Pod", namespace)
        events = await _list(client, "Event", namespace)
        st = status(name, dep, pods, isvc=isvc, is_isvc=is_isvc, events=events)
        if st.done:
            line.finish(st.line)
            return 0
        if st.failed or clock() >= deadline:
            break
        line.show(st.line)
        await asyncio.sleep(poll_s)
    why = st.failed or f"timed out after {timeout_s:g}s waiting for {name} to be ready"
    line.finish(st.line)
    env.err(f"error: {why}\n")
    names = {name, dep_name} | {p["metadata"]["name"] for p in pods if _owned_by(p, dep_name)}
    for ev in _warnings(events, names)[-3:]:
        inv = ev.get("involvedObject") or {}
        env.err(
            f"  event: {inv.get('kind')}/{inv.get('name')} {ev.get('reason')}: {ev.get('message')}\n"
        )
    pod = st.pod or next((p["metadata"]["name"] for p in pods if _owned_by(p, dep_name)), "")
    if pod:
        text = await _logs(client, namespace, pod)
        if text:
            env.err(f"  last log lines of {pod}:\n")
            for ln in text.rstrip("\n").splitlines()[-10:]:
                env.err(f"    {ln}\n")
    return 1


async def _get(client: Any, kind: str, name: str, ns: str) -> Obj | None:
    try:
        return await client.get(kind, name, ns)
    except NotFound:
        return None


async def _list(client: Any, kind: str, ns: str) -> list[Obj]:
    try:
        return (await client.list(kind, ns)).get("items", [])
    except ApiError:
        return []


async def _logs(client: Any, ns: str, pod: str) -> str:
    try:
        body = await client.get_raw(
            f"/api/v1/namespaces/{ns}/pods/{pod}/log", params={"tailLines": "10"}
        )
    except ApiError:
        return ""
    return body.decode(errors="replace") if isinstance(body, bytes) else str(body or "")
