"""Pod status as Kubernetes shapes it, PURE: conditions, container statuses, phase.

The runner keeps a `ContainerState` per container and calls `pod_status` to render the whole
`status` it writes; transition times only move when a condition's status changes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tidal.api.meta import rfc3339

CONDITIONS = (
    "PodReadyToStartContainers",
    "Initialized",
    "Ready",
    "ContainersReady",
    "PodScheduled",
)


@dataclass
class ContainerState:
    """What the runner knows about one container (mutable plumbing state, rendered purely)."""

    name: str
    image: str = ""
    pid: int = 0
    state: str = "waiting"  # waiting | running | terminated
    reason: str = "ContainerCreating"
    message: str = ""
    started_at: float = 0.0
    finished_at: float = 0.0
    exit_code: int = 0
    ready: bool = False
    restart_count: int = 0
    last_terminated: dict[str, Any] | None = None
    failures: int = 0


@dataclass
class PodState:
    scheduled: bool = False
    unschedulable_message: str = ""
    pod_ip: str = ""
    host_ip: str = "127.0.0.1"
    start_time: float = 0.0
    terminating: bool = False
    transitions: dict[str, tuple[str, float]] = field(default_factory=dict)  # type -> (status, at)
    qos_class: str = "BestEffort"


def terminated(
    exit_code: int,
    reason: str,
    started_at: float,
    finished_at: float,
    message: str = "",
    pid: int = 0,
) -> dict[str, Any]:
    t: dict[str, Any] = {
        "exitCode": exit_code,
        "reason": reason,
        "startedAt": rfc3339(started_at) if started_at else None,
        "finishedAt": rfc3339(finished_at),
        "containerID": f"tidal://{pid}" if pid else None,
    }
    if message:
        t["message"] = message
    return {k: v for k, v in t.items() if v is not None}


def container_status(c: ContainerState) -> dict[str, Any]:
    if c.state == "running":
        state: dict[str, Any] = {"running": {"startedAt": rfc3339(c.started_at)}}
    elif c.state == "terminated":
        state = {
            "terminated": terminated(
                c.exit_code, c.reason, c.started_at, c.finished_at, c.message, c.pid
            )
        }
    else:
        w: dict[str, Any] = {"reason": c.reason}
        if c.message:
            w["message"] = c.message
        state = {"waiting": w}
    out: dict[str, Any] = {
        "name": c.name,
        "state": state,
        "lastState": {"terminated": c.last_terminated} if c.last_terminated else {},
        "ready": c.ready,
        "restartCount": c.restart_count,
        "image": c.image,
        "imageID": "",
        "started": c.state == "running",
    }
    if c.pid and c.state != "waiting":
        out["containerID"] = f"tidal://{c.pid}"
    return out


def _cond(
    p: PodState, type_: str, ok: bool, now: float, reason: str = "", message: str = ""
) -> dict[str, Any]:
    status = "True" if ok else "False"
    prev = p.transitions.get(type_)
    if prev is None or prev[0] != status:
        p.transitions[type_] = (status, now)
    c: dict[str, Any] = {
        "type": type_,
        "status": status,
        "lastProbeTime": None,
        "lastTransitionTime": rfc3339(p.transitions[type_][1]),
    }
    if reason:
        c["reason"] = reason
    if message:
        c["message"] = message
    return c


def phase(p: PodState, containers: list[ContainerState], restart_policy: str) -> str:
    if not p.scheduled or any(
        c.state == "waiting" and c.restart_count == 0 and not c.last_terminated for c in containers
    ):
        return "Pending"
    if all(c.state == "terminated" for c in containers) and restart_policy != "Always":
        if restart_policy == "OnFailure" and any(c.exit_code for c in containers):
            return "Running"
        return "Failed" if any(c.exit_code for c in containers) else "Succeeded"
    return "Running"


def pod_status(
    p: PodState, containers: list[ContainerState], restart_policy: str, now: float
) -> dict[str, Any]:
    """The full `status` of the pod (conditions keep their transition times in `p`)."""
    if not p.scheduled:
        return {
            "phase": "Pending",
            "conditions": [
                _cond(p, "PodScheduled", False, now, "Unschedulable", p.unschedulable_message),
            ],
            "qosClass": p.qos_class,
        }
    all_ready = bool(containers) and all(c.ready for c in containers) and not p.terminating
    not_ready = [c.name for c in containers if not c.ready]
    msg = f"containers with unready status: [{' '.join(not_ready)}]" if not_ready else ""
    reason = "ContainersNotReady" if not all_ready else ""
    running = any(c.state == "running" for c in containers)
    status: dict[str, Any] = {
        "phase": phase(p, containers, restart_policy),
        "conditions": [
            _cond(p, "PodReadyToStartContainers", running or bool(p.pod_ip), now),
            _cond(p, "Initialized", True, now),
            _cond(p, "Ready", all_ready, now, reason, msg),
            _cond(p, "ContainersReady", all_ready, now, reason, msg),
            _cond(p, "PodScheduled", True, now),
        ],
        "hostIP": p.host_ip,
        "hostIPs": [{"ip": p.host_ip}],
        "qosClass": p.qos_class,
        "containerStatuses": [container_status(c) for c in containers],
    }
    if p.pod_ip:
        status["podIP"] = p.pod_ip
        status["podIPs"] = [{"ip": p.pod_ip}]
    if p.start_time:
        status["startTime"] = rfc3339(p.start_time)
    return status


def qos_class(pod: dict[str, Any]) -> str:
    """Guaranteed / Burstable / BestEffort, as Kubernetes derives it from requests and limits."""
    containers = (pod.get("spec") or {}).get("containers") or []
    any_set = False
    guaranteed = True
    for c in containers:
        res = c.get("resources") or {}
        req, lim = res.get("requests") or {}, res.get("limits") or {}
        if req or lim:
            any_set = True
        for r in ("cpu", "memory"):
            if r not in lim or (r in req and str(req[r]) != str(lim[r])):
                guaranteed = False
    if not any_set:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"
