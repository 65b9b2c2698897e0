"""A Deployment's status as Kubernetes' deployment controller computes it, PURE: replica counts
over its ReplicaSets, the Available and Progressing conditions (with the progress deadline), and
when to look again. `tidal.controllers.deployment` gathers the inputs and writes the result."""

from __future__ import annotations

from collections.abc import Iterable

from tidal.api.client import Obj
from tidal.api.meta import parse_time, rfc3339
from tidal.controllers import rollout as ro


def _cond(type_: str, status: str, reason: str, message: str) -> Obj:
    return {"type": type_, "status": status, "reason": reason, "message": message}


def counts(deployment: Obj, rs_list: Iterable[Obj], new: Obj | None) -> Obj:
    """Replica counts (`calculateStatus`), summed over the ReplicaSets' statuses."""
    spec = deployment.get("spec") or {}
    sts = [rs.get("status") or {} for rs in rs_list]
    available = sum(int(s.get("availableReplicas", 0) or 0) for s in sts)
    out: Obj = {
        "observedGeneration": (deployment.get("metadata") or {}).get("generation", 1),
        "replicas": sum(int(s.get("replicas", 0) or 0) for s in sts),
        "updatedReplicas": int(((new or {}).get("status") or {}).get("replicas", 0) or 0),
        "readyReplicas": sum(int(s.get("readyReplicas", 0) or 0) for s in sts),
        "availableReplicas": available,
    }
    unavailable = max(int(spec.get("replicas", 1)) - available, 0)
    if unavailable:
        out["unavailableReplicas"] = unavailable
    return out


def available_condition(deployment: Obj, available: int) -> Obj:
    spec = deployment.get("spec") or {}
    replicas = int(spec.get("replicas", 1))
    strategy = spec.get("strategy") or {}
    unavailable = 0
    if strategy.get("type") != "Recreate" and replicas > 0:
        ru = strategy.get("rollingUpdate") or {}
        unavailable = min(
            ro.fenceposts(ru.get("maxSurge"), ru.get("maxUnavailable"), replicas)[1], replicas
        )
    if available >= replicas - unavailable:
        return _cond(
            "Available", "True", "MinimumReplicasAvailable", "Deployment has minimum availability."
        )
    return _cond(
        "Available",
        "False",
        "MinimumReplicasUnavailable",
        "Deployment does not have minimum availability.",
    )


def complete(deployment: Obj, st: Obj) -> bool:
    """`DeploymentComplete`: every replica updated and available, the generation observed."""
    replicas = int((deployment.get("spec") or {}).get("replicas", 1))
    return (
        st["updatedReplicas"] == replicas
        and st["replicas"] == replicas
        and st["availableReplicas"] == replicas
        and st["observedGeneration"] >= (deployment.get("metadata") or {}).get("generation", 1)
    )


def progressed(old: Obj, new: Obj) -> bool:
    """`DeploymentProgressing`: more updated, ready or available pods, or fewer old ones."""
    old_old = old.get("replicas", 0) - old.get("updatedReplicas", 0)
    new_old = new["replicas"] - new["updatedReplicas"]
    return (
        new["updatedReplicas"] > old.get("updatedReplicas", 0)
        or new_old < old_old
        or new["readyReplicas"] > old.get("readyReplicas", 0)
        or new["availableReplicas"] > old.get("availableReplicas", 0)
    )


def progressing_condition(
    deployment: Obj,
    st: Obj,
    *,
    new_rs: str | None,
    created: bool,
    rollout: bool,
    now: float,
) -> Obj | None:
    """The Progressing condition as the deployment controller moves it: DeploymentPaused /
    DeploymentResumed (`checkPausedConditions`), NewReplicaSetCreated or FoundNewReplicaSet, then
    ReplicaSetUpdated while it progresses, NewReplicaSetAvailable once complete, and
    ProgressDeadlineExceeded when nothing moved for `progressDeadlineSeconds`. `now` stamps what
    changes; times of what does not are kept."""
    stamp = rfc3339(now)
    old_status = deployment.get("status") or {}
    current = next(
        (c for c in old_status.get("conditions") or [] if c.get("type") == "Progressing"), None
    )
    cond = current
    paused = bool((deployment.get("spec") or {}).get("paused"))
    if paused and (cond is None or cond.get("reason") != "DeploymentPaused"):
        cond = _cond("Progressing", "Unknown", "DeploymentPaused", "Deployment is paused")
    elif not paused and cond is not None and cond.get("reason") == "DeploymentPaused":
        cond = _cond("Progressing", "Unknown", "DeploymentResumed", "Deployment is resumed")
    forced = False
    if rollout and not paused:
        if created and new_rs:
            cond = _cond(
                "Progressing", "True", "NewReplicaSetCreated", f'Created new replica set "{new_rs}"'
            )
        elif cond is None and new_rs:
            cond = _cond(
                "Progressing", "True", "FoundNewReplicaSet", f'Found new replica set "{new_rs}"'
            )
        done = (
            st["replicas"] == st["updatedReplicas"]
            and cond is not None
            and cond.get("reason") == "NewReplicaSetAvailable"
        )
        if not done and new_rs:
            if complete(deployment, st):
                cond = _cond(
                    "Progressing",
                    "True",
                    "NewReplicaSetAvailable",
                    f'ReplicaSet "{new_rs}" has successfully progressed.',
                )
            elif progressed(old_status, st):
                cond = _cond(
                    "Progressing",
                    "True",
                    "ReplicaSetUpdated",
                    f'ReplicaSet "{new_rs}" is progressing.',
                )
                forced = True
            elif timed_out(deployment, cond, current, now):
                cond = _cond(
                    "Progressing",
                    "False",
                    "ProgressDeadlineExceeded",
                    f'ReplicaSet "{new_rs}" has timed out progressing.',
                )
    if cond is None:
        return None
    out = {k: cond[k] for k in ("type", "status", "reason", "message")}
    same_status = current is not None and current.get("status") == out["status"]
    same = same_status and current.get("reason") == out["reason"]  # type: ignore[union-attr]
    keep_t = current.get("lastTransitionTime") if same_status else None  # type: ignore[union-attr]
    keep_u = current.get("lastUpdateTime") if same and not forced else None  # type: ignore[union-attr]
    out["lastUpdateTime"] = keep_u or stamp
    out["lastTransitionTime"] = keep_t or stamp
    return out


def deadline_s(deployment: Obj) -> float | None:
    """`progressDeadlineSeconds` (None: no deadline, as MaxInt32 means upstream)."""
    value = (deployment.get("spec") or {}).get("progressDeadlineSeconds", 600)
    if value is None or value == 2**31 - 1:
        return None
    return float(value)


def timed_out(deployment: Obj, cond: Obj | None, current: Obj | None, now: float) -> bool:
    """`DeploymentTimedOut`: the Progressing condition, unchanged, last moved longer ago than
    the deadline (one that just changed cannot have timed out)."""
    deadline = deadline_s(deployment)
    if deadline is None or cond is None or cond is not current:
        return False
    if cond.get("reason") == "NewReplicaSetAvailable":
        return False
    if cond.get("reason") == "ProgressDeadlineExceeded":
        return True
    since = parse_time(cond.get("lastUpdateTime"))
    return since is not None and since + deadline < now


def render_status(
    deployment: Obj,
    rs_list: list[Obj],
    new: Obj | None,
    *,
    created: bool,
    rollout: bool,
    now: float,
) -> Obj:
    """Deployment `status`: counts and the Available/Progressing conditions, with Kubernetes'
    reasons and messages."""
    st = counts(deployment, rs_list, new)
    stamp = rfc3339(now)
    old_conds = {c.get("type"): c for c in (deployment.get("status") or {}).get("conditions") or []}
    avail = available_condition(deployment, st["availableReplicas"])
    prev = old_conds.get("Available")
    if prev is not None and prev.get("status") == avail["status"]:
        avail["lastTransitionTime"] = prev.get("lastTransitionTime") or stamp
        same = prev.get("reason") == avail["reason"]
        avail["lastUpdateTime"] = (prev.get("lastUpdateTime") if same else None) or stamp
    else:
        avail["lastUpdateTime"] = avail["lastTransitionTime"] = stamp
    conds = [avail]
    prog = progressing_condition(
        deployment,
        st,
        new_rs=(new or {}).get("metadata", {}).get("name"),
        created=created,
        rollout=rollout,
        now=now,
    )
    if prog is not None:
        conds.append(prog)
    st["conditions"] = conds
    return st


def requeue_after(deployment: Obj, status: Obj, now: float) -> float | None:
    """Seconds until a rollout in progress would pass its deadline (`requeueStuckDeployment`)."""
    deadline = deadline_s(deployment)
    cond = next((c for c in status.get("conditions") or [] if c["type"] == "Progressing"), None)
    if deadline is None or cond is None or cond.get("status") != "True":
        return None
    if cond.get("reason") == "NewReplicaSetAvailable":
        return None
    since = parse_time(cond.get("lastUpdateTime")) or now
    return max(since + deadline - now, 0.0) + 1.0
