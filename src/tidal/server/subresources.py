"""The scale and status subresources: a Scale is a view of a workload's replicas and selector;
writing one changes only `spec.replicas`, writing status changes only `status`."""

from __future__ import annotations

from tidal.api.errors import Invalid, NotFound
from tidal.api.meta import selector_string
from tidal.api.resources import ResourceType
from tidal.server.objects import Obj, json_copy, qualified
from tidal.validation.field import invalid, invalid_message


def to_scale(r: ResourceType, obj: Obj) -> Obj:
    """The `autoscaling/v1 Scale` of `obj` (404 for a kind without the subresource)."""
    if "scale" not in r.subresources:
        raise NotFound(f"{qualified(r)} subresource 'scale' not found")
    meta = obj["metadata"]
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            k: meta[k]
            for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
            if k in meta
        },
        "spec": {"replicas": spec.get("replicas", 0)},
        "status": {
            "replicas": status.get("replicas", 0),
            "selector": selector_string(spec.get("selector")),
        },
    }


def scaled(r: ResourceType, current: Obj, scale: Obj) -> Obj:
    """`current` with the replicas of `scale` (422 unless a non-negative integer)."""
    to_scale(r, current)
    spec = scale.get("spec")
    replicas = spec.get("replicas") if isinstance(spec, dict) else None
    if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
        name = current["metadata"]["name"]
        cause = invalid("spec.replicas", replicas, "must be greater than or equal to 0")
        raise Invalid(
            invalid_message("Scale", "autoscaling", name, [cause]),
            causes=[cause],
            details={"name": name, "group": "autoscaling", "kind": "Scale"},
        )
    new = json_copy(current)
    new.setdefault("spec", {})["replicas"] = replicas
    return new


def with_status(current: Obj, obj: Obj) -> Obj:
    """`current` with the status of `obj` (none when `obj` has none)."""
    new = json_copy(current)
    if "status" in obj:
        new["status"] = json_copy(obj["status"])
    else:
        new.pop("status", None)
    return new
