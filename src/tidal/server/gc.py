"""Garbage collection by ownerReferences, done at once rather than by a background collector:
Background and Orphan propagation, Foreground deletion (the owner waits with the
`foregroundDeletion` finalizer for its blocking dependents), collection of objects whose owners
are all gone (a create naming a deleted owner, or a crash mid-cascade), and Events past
their TTL.

Functions over the `Registry`: they delete through its verbs so that each dependent's own
finalizers, grace and propagation apply."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING

import orjson

from tidal.api.errors import ApiError, NotFound
from tidal.api.meta import parse_time, rfc3339
from tidal.api.resources import ResourceType
from tidal.server.objects import Obj, resource_for
from tidal.server.store import Key

if TYPE_CHECKING:
    from tidal.server.registry import Registry


def cascade(reg: Registry, uid: str) -> None:
    """Delete what `uid` owned (the garbage collector's job, done at once)."""
    for key in sorted(reg.indexes.owned.get(uid, set())):
        obj = reg.store.get(key)
        if obj is None:
            continue
        refs = [
            ref for ref in obj["metadata"].get("ownerReferences") or [] if ref.get("uid") != uid
        ]
        if any(ref.get("uid") in reg.indexes.uids for ref in refs):
            continue  # another owner still lives
        try:
            reg.delete(key[0], key[2], key[1] or None)
        except NotFound:
            pass


def orphan(reg: Registry, uid: str) -> None:
    """Drop the ownerReferences to `uid` from what it owned (propagationPolicy Orphan)."""
    for key in sorted(reg.indexes.owned.get(uid, set())):
        obj = reg.store.get(key)
        if obj is None:
            continue
        new = copy.deepcopy(obj)
        new["metadata"]["ownerReferences"] = [
            ref for ref in obj["metadata"].get("ownerReferences") or [] if ref.get("uid") != uid
        ] or None
        if new["metadata"]["ownerReferences"] is None:
            del new["metadata"]["ownerReferences"]
        reg._write(key, new, obj, "MODIFIED")


def collect_if_orphan(reg: Registry, key: Key, obj: Obj) -> None:
    """Delete a just-created object whose owners are all gone already."""
    refs = obj["metadata"].get("ownerReferences") or []
    if refs and not any(ref.get("uid") in reg.indexes.uids for ref in refs):
        try:
            reg.delete(key[0], key[2], key[1] or None)
        except ApiError:
            pass


def collect_orphans(reg: Registry) -> int:
    """Delete every object all of whose owners are gone, then release the owners in foreground
    deletion whose last dependent went while the server was down. Returns how many went."""
    doomed = []
    for key, raw in reg.store.items():
        refs = orjson.loads(raw)["metadata"].get("ownerReferences") or []
        if refs and not any(ref.get("uid") in reg.indexes.uids for ref in refs):
            doomed.append(key)
    for key in doomed:
        try:
            reg.delete(key[0], key[2], key[1] or None)
        except ApiError:
            pass
    for uid in sorted(reg.indexes.foreground):
        finish_foreground(reg, uid)  # an owner whose last dependent went while down
    return len(doomed)


# Foreground cascading deletion, as the garbage collector does it: the owner is kept with a
# deletionTimestamp and the `foregroundDeletion` finalizer while its dependents that block
# owner deletion are deleted (themselves in the foreground); the last one gone releases it.


def blocking(reg: Registry, uid: str) -> list[Key]:
    """The dependents of `uid` that block its deletion (`blockOwnerDeletion`)."""
    out = []
    for key in sorted(reg.indexes.owned.get(uid, set())):
        obj = reg.store.get(key)
        refs = (obj or {}).get("metadata", {}).get("ownerReferences") or []
        if any(ref.get("uid") == uid and ref.get("blockOwnerDeletion") for ref in refs):
            out.append(key)
    return out


def delete_foreground(reg: Registry, r: ResourceType, key: Key, current: Obj) -> Obj:
    meta = current["metadata"]
    if "foregroundDeletion" not in (meta.get("finalizers") or []):
        new = copy.deepcopy(current)
        new["metadata"]["finalizers"] = [*(meta.get("finalizers") or []), "foregroundDeletion"]
        new["metadata"].setdefault("deletionTimestamp", rfc3339(reg.clock()))
        new["metadata"].setdefault("deletionGracePeriodSeconds", 0)
        current = reg._write(key, new, current, "MODIFIED")
    uid = meta.get("uid", "")
    for dep_key in sorted(reg.indexes.owned.get(uid, set())):
        obj = reg.store.get(dep_key)
        if obj is None or obj["metadata"].get("deletionTimestamp"):
            continue
        refs = [ref for ref in obj["metadata"].get("ownerReferences") or []]
        if any(ref.get("uid") in reg.indexes.uids and ref.get("uid") != uid for ref in refs):
            continue  # another owner still lives
        try:
            reg.delete(dep_key[0], dep_key[2], dep_key[1] or None, propagation_policy="Foreground")
        except ApiError:
            pass
    finish_foreground(reg, uid)
    return reg.store.get(key) or current


def finish_foreground(reg: Registry, uid: str) -> None:
    """Release an owner in foreground deletion once no blocking dependent is left."""
    key = reg.indexes.uids.get(uid) if uid in reg.indexes.foreground else None
    owner = reg.store.get(key) if key is not None else None
    if owner is None or key is None:
        return
    finalizers = owner["metadata"].get("finalizers") or []
    if "foregroundDeletion" not in finalizers or not owner["metadata"].get("deletionTimestamp"):
        return
    if blocking(reg, uid):
        return
    new = copy.deepcopy(owner)
    rest = [f for f in finalizers if f != "foregroundDeletion"]
    if rest:
        new["metadata"]["finalizers"] = rest
        reg._write(key, new, owner, "MODIFIED")
        return
    del new["metadata"]["finalizers"]
    reg._remove(resource_for(key[0]), key, new)
    cascade(reg, uid)


def release_owners(reg: Registry, removed: Obj) -> None:
    """After `removed` is gone: release its owners in foreground deletion it was blocking."""
    for ref in removed["metadata"].get("ownerReferences") or []:
        if ref.get("blockOwnerDeletion") and ref.get("uid") in reg.indexes.foreground:
            finish_foreground(reg, ref["uid"])


def expire_events(reg: Registry, ttl_s: float) -> int:
    """Delete Events not seen for `ttl_s` (kube-apiserver's --event-ttl); how many went."""
    cutoff = reg.clock() - ttl_s
    doomed = []
    for key, raw in reg.store.items("Event"):
        ev = orjson.loads(raw)
        seen = parse_time(ev.get("lastTimestamp")) or parse_time(ev.get("eventTime"))
        seen = seen or parse_time(ev["metadata"].get("creationTimestamp"))
        if seen is not None and seen < cutoff:
            doomed.append(key)
    for key in doomed:
        try:
            reg.delete("Event", key[2], key[1])
        except ApiError:
            pass
    return len(doomed)
