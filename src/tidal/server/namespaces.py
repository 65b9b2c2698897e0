"""Namespace lifecycle: the system namespaces always exist (the seed reads the ingress Service
from kube-system) and some may not be deleted; nothing is created in a Terminating namespace;
deleting one deletes its contents and removes it once the last object is gone."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING

from tidal.api.errors import ApiError, Forbidden
from tidal.api.meta import rfc3339
from tidal.api.resources import RESOURCES, ResourceType, by_kind
from tidal.server.objects import Obj, not_found, qualified
from tidal.server.store import Key, Store

if TYPE_CHECKING:
    from tidal.server.registry import Registry

# Namespaces every cluster has (the seed reads the ingress Service from kube-system).
SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
UNDELETABLE_NAMESPACES = ("default", "kube-system", "kube-public")


def ensure(reg: Registry, name: str) -> None:
    if not reg.store.exists(("Namespace", "", name)):
        reg.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})


def check_open(store: Store, r: ResourceType, namespace: str) -> None:
    """A namespaced create needs its namespace to exist and not be Terminating."""
    if not r.namespaced:
        return
    ns = store.get(("Namespace", "", namespace))
    if ns is None:
        raise not_found(by_kind("Namespace"), namespace)
    if ns["metadata"].get("deletionTimestamp"):
        raise Forbidden(
            f"{qualified(r)} is forbidden: unable to create new content in namespace "
            f"{namespace} because it is being terminated",
            details={"group": r.group, "kind": r.plural},
        )


def check_deletable(r: ResourceType, name: str) -> None:
    if r.kind == "Namespace" and name in UNDELETABLE_NAMESPACES:
        raise Forbidden(
            f'namespaces "{name}" is forbidden: this namespace may not be deleted',
            details={"name": name, "kind": "namespaces"},
        )


def delete(reg: Registry, key: Key, current: Obj) -> tuple[Obj, bool]:
    """Mark the namespace Terminating, delete everything in it; (object, gone)."""
    name = key[2]
    if not current["metadata"].get("deletionTimestamp"):
        new = copy.deepcopy(current)
        new["metadata"]["deletionTimestamp"] = rfc3339(reg.clock())
        new.setdefault("status", {})["phase"] = "Terminating"
        current = reg._write(key, new, current, "MODIFIED")
    for r in RESOURCES:
        if not r.namespaced:
            continue
        for k in reg.store.keys(r.kind, name):
            try:
                reg.delete(k[0], k[2], k[1])
            except ApiError:
                pass
    done = finish(reg, name)
    return (done or current), done is not None


def finish(reg: Registry, name: str) -> Obj | None:
    """Remove a Terminating namespace once nothing is left in it."""
    key = ("Namespace", "", name)
    ns = reg.store.get(key)
    if ns is None or not ns["metadata"].get("deletionTimestamp"):
        return None
    if any(reg.store.keys(r.kind, name) for r in RESOURCES if r.namespaced):
        return None
    return reg._remove(by_kind("Namespace"), key, ns)


def finish_all(reg: Registry) -> None:
    """Remove every Terminating namespace already empty (after a restart)."""
    for key in reg.store.keys("Namespace"):
        ns = reg.store.get(key)
        if ns and ns["metadata"].get("deletionTimestamp"):
            finish(reg, key[2])
