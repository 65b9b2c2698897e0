"""Kubernetes Events as every component writes them (core/v1 Event), so `describe` and
`kubectl get events` read them the same whoever reported.  Pure: the caller passes `now`."""

from __future__ import annotations

import itertools
from typing import Any

from tidal.api.meta import rfc3339

_SEQ = itertools.count()


def event_name(involved_name: str, now: float) -> str:
    """`<object>.<hex time>` as Kubernetes names events, so names sort in time order (describe
    breaks ties within a second by name); a process-wide sequence keeps same-instant names apart."""
    return f"{involved_name}.{int(now * 1e9):x}{next(_SEQ) % 4096:03x}"


def make_event(
    involved: dict[str, Any],
    reason: str,
    message: str,
    *,
    now: float,
    component: str,
    type_: str = "Normal",
) -> dict[str, Any]:
    """A new Event about `involved` (any object dict). `component` is the `source.component`
    kubectl shows under From: `horizontal-pod-autoscaler`, `deployment-controller`, `kubelet`,
    `default-scheduler`, `cron-horizontal-pod-autoscaler`, ..."""
    meta = involved.get("metadata", {})
    ns = meta.get("namespace") or "default"
    ts = rfc3339(now)
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": event_name(meta.get("name", "x"), now), "namespace": ns},
        "involvedObject": {
            "apiVersion": involved.get("apiVersion", ""),
            "kind": involved.get("kind", ""),
            "name": meta.get("name", ""),
            "namespace": ns,
            "uid": meta.get("uid", ""),
            "resourceVersion": meta.get("resourceVersion", ""),
        },
        "reason": reason,
        "message": message,
        "source": {"component": component},
        "firstTimestamp": ts,
        "lastTimestamp": ts,
        "eventTime": None,
        "count": 1,
        "type": type_,
        "reportingComponent": component,
        "reportingInstance": "",
    }
