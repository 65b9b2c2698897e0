"""Graceful Pod deletion: a Pod bound to the node is first marked (deletionTimestamp and its
grace period) and stays until its runner, once the process is gone, deletes it again with
grace 0; objects with finalizers are marked the same way and stay until those are cleared."""

from __future__ import annotations

import copy

from tidal.api.meta import rfc3339
from tidal.api.resources import ResourceType
from tidal.server.objects import Obj


def is_graceful_pod(obj: Obj) -> bool:
    """A Pod bound to the node and not finished terminates gracefully (its runner confirms)."""
    phase = (obj.get("status") or {}).get("phase")
    return bool((obj.get("spec") or {}).get("nodeName")) and phase not in ("Succeeded", "Failed")


def graceful_pending(r: ResourceType, obj: Obj) -> bool:
    """A Pod marked for graceful deletion waits for its runner's final delete (grace 0),
    whatever status the runner writes meanwhile."""
    grace = obj["metadata"].get("deletionGracePeriodSeconds") or 0
    return r.kind == "Pod" and isinstance(grace, int) and grace > 0


def marked(current: Obj, grace_period_seconds: int | None, graceful: bool, now: float) -> Obj:
    """`current` marked for deletion at `now`: the grace asked for (else the Pod's
    terminationGracePeriodSeconds, 30 by default) when graceful, 0 when only finalizers wait."""
    new = copy.deepcopy(current)
    grace = grace_period_seconds
    if grace is None:
        grace = (current.get("spec") or {}).get("terminationGracePeriodSeconds", 30)
    new["metadata"]["deletionTimestamp"] = rfc3339(now)
    new["metadata"]["deletionGracePeriodSeconds"] = grace if graceful else 0
    return new
