"""The verb layer: what the API server does for create/get/list/update/patch/delete/watch, shared
by the HTTPS handlers and the in-process client, so both behave identically.

It owns the Kubernetes semantics on top of `Store`: uid, creationTimestamp, generation (bumped
when anything outside metadata and status changes), resourceVersion preconditions (409), the
size limit and the Event TTL. The other jobs live beside it: admission (`admission`: defaults +
validation -> 422), the indexes (`index`), selectors and pages (`listing`), patch types
(`patching`), the watch fan-out and its history (`watch`: resume from a resourceVersion, 410
Gone once too old), ownerReferences with cascading deletion (`gc`: Background/Foreground/
Orphan), namespaces (`namespaces`: the system ones always exist; deleting one deletes its
contents), the status and scale subresources (`subresources`), finalizers and graceful Pod
deletion (`graceful`: deletionTimestamp first; the pod runner deletes again with grace 0 once
the process is gone).

The verbs themselves stay together in this module (about 450 lines): create, update and delete
each read as the one Kubernetes rule they implement, and splitting them would scatter it.

Single-threaded by design: one asyncio loop (the plane's) calls it; every method but `watch` is
synchronous and completes one durable write before returning.
"""

from __future__ import annotations

import copy
import random
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import orjson

from tidal.api.errors import BadRequest, Conflict, NotFound
from tidal.api.meta import rfc3339
from tidal.api.resources import ResourceType
from tidal.server import gc, namespaces
from tidal.server.admission import admit, check_api_version
from tidal.server.body import RequestEntityTooLarge
from tidal.server.graceful import graceful_pending, is_graceful_pod, marked
from tidal.server.index import Indexes
from tidal.server.listing import list_objects, selectors
from tidal.server.objects import (
    Obj,
    conflict,
    json_copy,
    not_found,
    qualified,
    resource_for,
    spec_of,
)
from tidal.server.patching import check_patch_type, patched
from tidal.server.schema import FieldCheck
from tidal.server.store import Key, Store
from tidal.server.subresources import scaled, to_scale, with_status
from tidal.server.watch import Watcher, WatchHub

MAX_OBJECT_BYTES = 1536 * 1024  # etcd's default --max-request-bytes
EVENT_TTL_S = 3600.0
EVENT_SWEEP_EVERY = 256
_NAME_CHARS = "bcdfghjklmnpqrstvwxz2456789"


def _random_suffix() -> str:
    return "".join(random.choices(_NAME_CHARS, k=5))


def _random_uid() -> str:
    return str(uuid.uuid4())


class Registry:
    """Kubernetes verbs over a `Store`. `clock` gives creation and deletion timestamps; `new_uid`
    each object's uid and `name_suffix` the tail of a `generateName` (random by default; the
    simulator injects counters so that a run is the same every time)."""

    def __init__(
        self,
        store: Store,
        *,
        clock: Callable[[], float] = time.time,
        new_uid: Callable[[], str] = _random_uid,
        name_suffix: Callable[[], str] = _random_suffix,
    ) -> None:
        self.store = store
        self.clock = clock
        self.new_uid = new_uid
        self.name_suffix = name_suffix
        self.indexes = Indexes()
        self._watch = WatchHub(store.rv)
        self._events_created = 0
        for key, raw in store.items():
            self.indexes.add(key, orjson.loads(raw))
        for ns in namespaces.SYSTEM_NAMESPACES:
            namespaces.ensure(self, ns)
        self.collect_garbage()

    @classmethod
    def open(cls, home: Path | str, *, clock: Callable[[], float] = time.time) -> Registry:
        """The registry of a tidal home (`$TIDAL_HOME/state.db`), created when missing."""
        home = Path(home)
        home.mkdir(parents=True, exist_ok=True)
        return cls(Store(home / "state.db"), clock=clock)

    def close(self) -> None:
        self._watch.close()
        self.store.close()

    @property
    def resource_version(self) -> str:
        return str(self.store.rv)

    # --- helpers (also used by gc and namespaces) ------------------------------------------------

    def _key(self, r: ResourceType, name: str, namespace: str | None) -> Key:
        return (r.kind, (namespace or "default") if r.namespaced else "", name)

    def _current(self, r: ResourceType, name: str, namespace: str | None) -> Obj:
        obj = self.store.get(self._key(r, name, namespace))
        if obj is None:
            raise not_found(r, name)
        return obj

    def _write(self, key: Key, obj: Obj, old: Obj | None, event: str) -> Obj:
        size = len(orjson.dumps(obj))
        if size > MAX_OBJECT_BYTES:  # etcd's request limit, as kube-apiserver reports it
            raise RequestEntityTooLarge(
                f"etcdserver: request is too large (the object is {size} bytes; at most "
                f"{MAX_OBJECT_BYTES} are stored)"
            )
        if old is not None:
            self.indexes.remove(key, old)
        self.store.put(key, obj)
        self.indexes.add(key, obj)
        self._watch.publish(event, key, obj, old)
        return obj

    # --- reads ---------------------------------------------------------------------------------

    def get(
        self, kind: str, name: str, namespace: str | None = None, *, subresource: str | None = None
    ) -> Obj:
        r = resource_for(kind)
        obj = self._current(r, name, namespace)
        if subresource == "scale":
            return to_scale(r, obj)
        if subresource not in (None, "", "status"):
            raise NotFound(f"{qualified(r)} subresource {subresource!r} not found")
        return obj

    def list(
        self,
        kind: str,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        limit: int | None = None,
        continue_: str | None = None,
    ) -> Obj:
        r = resource_for(kind)
        labels, fields = selectors(label_selector, field_selector)
        ns = namespace if r.namespaced else None
        return list_objects(
            self.store, self.indexes, r, ns, labels, fields, limit=limit, continue_=continue_
        )

    # --- writes --------------------------------------------------------------------------------

    def create(
        self,
        obj: Obj,
        *,
        namespace: str | None = None,
        dry_run: bool = False,
        fields: FieldCheck | None = None,
    ) -> Obj:
        if not isinstance(obj, dict) or not isinstance(obj.get("metadata", {}), dict):
            raise BadRequest("the object must be a JSON object with a metadata map")
        r = resource_for(obj.get("kind", ""))
        obj = json_copy(obj)
        check_api_version(r, obj)
        meta = obj.setdefault("metadata", {})
        if r.namespaced:
            if namespace and meta.get("namespace") and meta["namespace"] != namespace:
                raise BadRequest(
                    "the namespace of the provided object does not match the namespace sent on "
                    "the request"
                )
            meta["namespace"] = namespace or meta.get("namespace") or "default"
        else:
            meta.pop("namespace", None)
        if (
            not meta.get("name")
            and isinstance(meta.get("generateName"), str)
            and meta["generateName"]
        ):
            meta["name"] = meta["generateName"] + self.name_suffix()
        if r.kind not in ("Namespace", "Service"):
            obj.pop("status", None)  # status is the controllers' to write (subresource)
        for k in ("resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds"):
            meta.pop(k, None)
        meta["uid"] = self.new_uid()
        meta["creationTimestamp"] = rfc3339(self.clock())
        meta["generation"] = 1
        obj = admit(r, obj, fields)
        key = self._key(r, meta["name"], meta.get("namespace"))
        namespaces.check_open(self.store, r, key[1])
        if self.store.exists(key):
            raise Conflict(
                f'{qualified(r)} "{meta["name"]}" already exists',
                reason="AlreadyExists",
                details={"name": meta["name"], "group": r.group, "kind": r.plural},
            )
        if dry_run:
            return obj
        self._write(key, obj, None, "ADDED")
        gc.collect_if_orphan(self, key, obj)
        if r.kind == "Event":
            self._events_created += 1
            if self._events_created % EVENT_SWEEP_EVERY == 0:
                self.expire_events()
        return obj

    def expire_events(self, ttl_s: float = EVENT_TTL_S) -> int:
        """Delete Events not seen for `ttl_s` (kube-apiserver's --event-ttl, 1 h). Runs by
        itself every few hundred Event creations; returns how many went."""
        return gc.expire_events(self, ttl_s)

    def update(
        self,
        obj: Obj,
        *,
        subresource: str | None = None,
        dry_run: bool = False,
        kind: str | None = None,
        name: str | None = None,
        namespace: str | None = None,
        fields: FieldCheck | None = None,
    ) -> Obj:
        """PUT. `kind`/`name`/`namespace` come from the URL when the HTTP layer calls it (and
        for `scale`, where the body is a Scale)."""
        if not isinstance(obj, dict) or not isinstance(obj.get("metadata", {}), dict):
            raise BadRequest("the object must be a JSON object with a metadata map")
        body_kind = obj.get("kind", "")
        r = resource_for(kind or body_kind)
        meta_in = obj.get("metadata") or {}
        name = name or meta_in.get("name") or ""
        if meta_in.get("name") and meta_in["name"] != name:
            raise BadRequest(
                "the name of the object "
                f"({meta_in['name']}) does not match the name on the URL ({name})"
            )
        ns = namespace or meta_in.get("namespace") or "default"
        current = self._current(r, name, ns)
        want_rv = meta_in.get("resourceVersion")
        if want_rv and str(want_rv) != current["metadata"]["resourceVersion"]:
            raise conflict(r, name)
        if subresource == "scale":
            new = scaled(r, current, obj)
            return to_scale(r, self._replace(r, current, new, dry_run, bump=True))
        if subresource == "status":
            return self._replace(r, current, with_status(current, obj), dry_run, bump=False)
        if subresource not in (None, ""):
            raise NotFound(f"{qualified(r)} subresource {subresource!r} not found")
        if body_kind and body_kind != r.kind:
            raise BadRequest(f"kind {body_kind!r} does not match {r.kind!r}")
        new = json_copy(obj)
        check_api_version(r, new)
        new["kind"] = r.kind
        meta = new.setdefault("metadata", {})
        cur_meta = current["metadata"]
        for k in ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds"):
            if k in cur_meta:
                meta[k] = cur_meta[k]
            else:
                meta.pop(k, None)
        meta["name"] = name
        if r.namespaced:
            meta["namespace"] = cur_meta.get("namespace")
        if "status" in r.subresources:
            if "status" in current:
                new["status"] = json_copy(current["status"])
            else:
                new.pop("status", None)
        new = admit(r, new, fields)
        return self._replace(r, current, new, dry_run, bump=True)

    def _replace(
        self, r: ResourceType, current: Obj, new: Obj, dry_run: bool, *, bump: bool
    ) -> Obj:
        meta, cur_meta = new["metadata"], current["metadata"]
        meta["generation"] = cur_meta.get("generation", 1)
        if bump and spec_of(new) != spec_of(current):
            meta["generation"] += 1
        meta["resourceVersion"] = cur_meta["resourceVersion"]
        if new == current:
            return current  # a no-op write: no new resourceVersion, no watch event
        if dry_run:
            return new
        key = self._key(r, meta["name"], meta.get("namespace"))
        if (
            meta.get("deletionTimestamp")
            and not meta.get("finalizers")
            and not graceful_pending(r, new)
        ):
            return self._remove(r, key, new)
        return self._write(key, new, current, "MODIFIED")

    def patch(
        self,
        kind: str,
        name: str,
        patch: Any,
        namespace: str | None = None,
        *,
        patch_type: str = "merge",
        subresource: str | None = None,
        dry_run: bool = False,
        fields: FieldCheck | None = None,
    ) -> Obj:
        r = resource_for(kind)
        check_patch_type(r, patch_type)
        current = self.get(kind, name, namespace, subresource=subresource)
        new = patched(r, name, current, patch, patch_type)
        return self.update(
            new,
            subresource=subresource,
            dry_run=dry_run,
            kind=kind,
            name=name,
            namespace=namespace,
            fields=fields,
        )

    # --- delete --------------------------------------------------------------------------------

    def delete(
        self,
        kind: str,
        name: str,
        namespace: str | None = None,
        *,
        propagation_policy: str | None = "Background",
        grace_period_seconds: int | None = None,
        dry_run: bool = False,
        precondition_uid: str | None = None,
        precondition_rv: str | None = None,
    ) -> tuple[Obj, bool]:
        """Delete; returns (object, gone). `gone` is False while finalizers or a graceful Pod
        termination keep the object (then it carries `deletionTimestamp`)."""
        r = resource_for(kind)
        policy = propagation_policy or "Background"
        if policy not in ("Background", "Foreground", "Orphan"):
            raise BadRequest(
                f'Unsupported value: "{policy}": supported values: "Foreground", '
                '"Background", "Orphan"'
            )
        current = self._current(r, name, namespace)
        meta = current["metadata"]
        if precondition_uid and precondition_uid != meta.get("uid"):
            raise Conflict(
                f"Precondition failed: UID in precondition: {precondition_uid}, UID in object "
                f"meta: {meta.get('uid')}",
                reason="Conflict",
            )
        if precondition_rv and precondition_rv != meta.get("resourceVersion"):
            raise conflict(r, name)
        namespaces.check_deletable(r, name)
        if dry_run:
            return current, True
        key = self._key(r, name, namespace)
        if r.kind == "Namespace":
            return namespaces.delete(self, key, current)
        graceful = (
            r.kind == "Pod"
            and (is_graceful_pod(current) or graceful_pending(r, current))
            and grace_period_seconds != 0
        )
        if policy == "Foreground" and not graceful and gc.blocking(self, meta.get("uid", "")):
            return gc.delete_foreground(self, r, key, current), False
        if meta.get("finalizers") or graceful:
            if meta.get("deletionTimestamp"):
                return current, False
            new = marked(current, grace_period_seconds, graceful, self.clock())
            if policy == "Orphan":
                gc.orphan(self, meta.get("uid", ""))
            result = self._write(key, new, current, "MODIFIED")
            if policy != "Orphan":
                gc.cascade(self, meta.get("uid", ""))
            return result, False
        if policy == "Orphan":
            gc.orphan(self, meta.get("uid", ""))
        elif policy == "Foreground":
            gc.cascade(self, meta.get("uid", ""))
        result = self._remove(r, key, current)
        if policy == "Background":
            gc.cascade(self, meta.get("uid", ""))
        return result, True

    def _remove(self, r: ResourceType, key: Key, current: Obj) -> Obj:
        rv = self.store.remove(key)
        self.indexes.remove(key, current)
        gone = copy.deepcopy(current)
        gone["metadata"]["resourceVersion"] = str(rv)
        self._watch.publish("DELETED", key, gone, None)
        if r.namespaced:
            namespaces.finish(self, key[1])
        gc.release_owners(self, current)
        return gone

    def collect_garbage(self) -> int:
        """Delete every object all of whose owners are gone (after a crash mid-cascade, or a
        create that referenced a deleted owner), and finish what a crash interrupted. Returns
        how many were deleted."""
        doomed = gc.collect_orphans(self)
        namespaces.finish_all(self)
        return doomed

    # --- watch ---------------------------------------------------------------------------------

    def watch(
        self,
        kind: str,
        namespace: str | None = None,
        *,
        resource_version: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> AsyncIterator[tuple[str, bytes]]:
        """Events as (type, JSON bytes). From `resource_version` (history replay), or all current
        objects as ADDED first when it is None/"0". Raises Gone (410) when the history no longer
        reaches back to it (older than the oldest kept event, or than this process: the history
        is in memory, so a restarted server answers 410 to every older version) or when it is
        newer than the store; a resumed watch gets every change after it or a 410, never a gap.
        """
        r = resource_for(kind)
        labels, fields = selectors(label_selector, field_selector)
        w = Watcher(r.kind, namespace if r.namespaced else None, labels, fields)

        def current() -> list[tuple[str, bytes]]:
            start = []
            for key in self.store.keys(r.kind, w.namespace):
                obj = self.store.get(key)
                if obj is not None and w.matches(obj):
                    start.append(("ADDED", self.store.get_raw(key) or b"{}"))
            return start

        return self._watch.open(w, resource_version, self.store.rv, current)

    @property
    def watcher_count(self) -> int:
        return self._watch.count
