"""The verb layer: what the API server does for create/get/list/update/patch/delete/watch, shared
by the HTTPS handlers and the in-process client, so both behave identically.

It owns the Kubernetes semantics on top of `Store`: uid, creationTimestamp, generation (bumped
when anything outside metadata and status changes), resourceVersion preconditions (409), the
status and scale subresources, admission (defaults + validation -> 422), namespaces (`default`
always exists; deleting one deletes its contents), finalizers and graceful Pod deletion
(deletionTimestamp first; the pod runner deletes again with grace 0 once the process is gone),
ownerReferences with cascading deletion (Background/Foreground/Orphan), and the watch fan-out
with a history so a watch can resume from a resourceVersion (410 Gone once it is too old).

Single-threaded by design: one asyncio loop (the plane's) calls it; every method but `watch` is
synchronous and completes one durable write before returning.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import logging
import random
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from tidal import validation
from tidal.api.errors import (
    ApiError,
    BadRequest,
    Cause,
    Conflict,
    Forbidden,
    Gone,
    Invalid,
    NotFound,
    UnsupportedMediaType,
)
from tidal.api.meta import rfc3339, selector_string
from tidal.api.patch import PatchError, apply_patch
from tidal.api.resources import RESOURCES, ResourceType, by_kind
from tidal.api.selectors import FieldSelector, LabelSelector, parse_fields, parse_labels
from tidal.server.body import RequestEntityTooLarge, depth_ok, too_deep
from tidal.server.schema import FieldCheck, prune
from tidal.server.store import Key, Store
from tidal.validation.field import invalid_message

log = logging.getLogger("tidal.server")
Obj = dict[str, Any]
BUILTIN_GROUPS = frozenset({"", "apps", "autoscaling"})
HISTORY = 10_000
HISTORY_BYTES = 4 * 1024 * 1024  # and at most this much JSON (objects reach 1.5 MiB each)
MAX_OBJECT_BYTES = 1536 * 1024  # etcd's default --max-request-bytes
EVENT_TTL_S = 3600.0
# Namespaces every cluster has (the seed reads the ingress Service from kube-system).
SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
UNDELETABLE_NAMESPACES = ("default", "kube-system", "kube-public")
EVENT_SWEEP_EVERY = 256
_NAME_CHARS = "bcdfghjklmnpqrstvwxz2456789"


def qualified(r: ResourceType) -> str:
    """`deployments.apps`, `pods`: how Kubernetes names a resource in messages."""
    return f"{r.plural}.{r.group}" if r.group else r.plural


def not_found(r: ResourceType, name: str) -> NotFound:
    return NotFound(
        f'{qualified(r)} "{name}" not found',
        details={"name": name, "group": r.group, "kind": r.plural},
    )


def conflict(r: ResourceType, name: str) -> Conflict:
    return Conflict(
        f'Operation cannot be fulfilled on {qualified(r)} "{name}": the object has been '
        "modified; please apply your changes to the latest version and try again",
        reason="Conflict",
        details={"name": name, "group": r.group, "kind": r.plural},
    )


def resource_for(kind: Any) -> ResourceType:
    try:
        if not isinstance(kind, str):
            raise KeyError(kind)
        return by_kind(kind)
    except KeyError:
        raise NotFound(
            f"the server doesn't have a resource type {kind!r}", details={"kind": kind}
        ) from None


@dataclass
class _Event:
    """One change, kept as JSON bytes (the history holds thousands; dicts would cost 10x)."""

    rv: int
    type: str
    kind: str
    namespace: str
    body: bytes
    old_body: bytes | None
    obj: Obj | None = None  # parsed forms, set while the event is being published
    old: Obj | None = None

    def parsed(self) -> tuple[Obj, Obj | None]:
        obj = self.obj if self.obj is not None else orjson.loads(self.body)
        old = self.old
        if old is None and self.old_body is not None:
            old = orjson.loads(self.old_body)
        return obj, old


@dataclass
class _Watcher:
    kind: str
    namespace: str | None
    labels: LabelSelector
    fields: FieldSelector
    queue: asyncio.Queue[tuple[str, bytes] | None] = field(default_factory=asyncio.Queue)

    def matches(self, obj: Obj | None) -> bool:
        if obj is None:
            return False
        return self.labels.matches(obj.get("metadata", {}).get("labels")) and self.fields.matches(
            obj
        )


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
        self._history: deque[_Event] = deque()
        self._floor = store.rv  # oldest resourceVersion a watch may resume from
        self._history_bytes = 0
        self._watchers: list[_Watcher] = []
        self._uids: dict[str, Key] = {}
        self._owned: dict[str, set[Key]] = {}
        self._foreground: set[str] = set()  # uids of owners in foreground deletion
        # (kind, namespace, label, value) -> keys: a list with a label selector reads only the
        # objects carrying one of its `=`/`in` labels (client-go's indexers, not a scan)
        self._labels: dict[tuple[str, str, str, str], set[Key]] = {}
        self._events_created = 0
        for key, raw in store.items():
            self._index(key, orjson.loads(raw))
        for ns in SYSTEM_NAMESPACES:
            self._ensure_namespace(ns)
        self.collect_garbage()

    @classmethod
    def open(cls, home: Path | str, *, clock: Callable[[], float] = time.time) -> Registry:
        """The registry of a tidal home (`$TIDAL_HOME/state.db`), created when missing."""
        home = Path(home)
        home.mkdir(parents=True, exist_ok=True)
        return cls(Store(home / "state.db"), clock=clock)

    def close(self) -> None:
        for w in self._watchers:
            w.queue.put_nowait(None)
        self._watchers.clear()
        self.store.close()

    @property
    def resource_version(self) -> str:
        return str(self.store.rv)

    # --- indexes -------------------------------------------------------------------------------

    def _index(self, key: Key, obj: Obj) -> None:
        meta = obj.get("metadata", {})
        if meta.get("uid"):
            self._uids[meta["uid"]] = key
            if "foregroundDeletion" in (meta.get("finalizers") or ()):
                self._foreground.add(meta["uid"])
        for ref in meta.get("ownerReferences") or []:
            if ref.get("uid"):
                self._owned.setdefault(ref["uid"], set()).add(key)
        for label, value in (meta.get("labels") or {}).items():
            self._labels.setdefault((key[0], key[1], label, value), set()).add(key)

    def _unindex(self, key: Key, obj: Obj) -> None:
        meta = obj.get("metadata", {})
        self._foreground.discard(meta.get("uid", ""))
        if self._uids.get(meta.get("uid", "")) == key:
            del self._uids[meta["uid"]]
        for ref in meta.get("ownerReferences") or []:
            owned = self._owned.get(ref.get("uid", ""))
            if owned is not None:
                owned.discard(key)
                if not owned:
                    del self._owned[ref["uid"]]
        for label, value in (meta.get("labels") or {}).items():
            keys = self._labels.get((key[0], key[1], label, value))
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._labels[(key[0], key[1], label, value)]

    def _labelled(
        self, kind: str, namespace: str | None, labels: LabelSelector
    ) -> list[Key] | None:
        """Sorted keys that may match `labels` from the label index (its narrowest `=`/`in`
        requirement), or None when the selector has none (or no namespace is given): scan."""
        if namespace is None:
            return None
        best: set[Key] | None = None
        for req in labels.requirements:
            if req.op not in ("=", "in"):
                continue
            found: set[Key] = set()
            for value in req.values:
                found |= self._labels.get((kind, namespace, req.key, value), set())
            if best is None or len(found) < len(best):
                best = found
        return None if best is None else sorted(best)

    # --- helpers -------------------------------------------------------------------------------

    def _key(self, r: ResourceType, name: str, namespace: str | None) -> Key:
        return (r.kind, (namespace or "default") if r.namespaced else "", name)

    def _current(self, r: ResourceType, name: str, namespace: str | None) -> Obj:
        obj = self.store.get(self._key(r, name, namespace))
        if obj is None:
            raise not_found(r, name)
        return obj

    def _ensure_namespace(self, name: str) -> None:
        if not self.store.exists(("Namespace", "", name)):
            self.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})

    def _check_namespace(self, r: ResourceType, namespace: str) -> None:
        if not r.namespaced:
            return
        ns = self.store.get(("Namespace", "", namespace))
        if ns is None:
            raise not_found(by_kind("Namespace"), namespace)
        if ns["metadata"].get("deletionTimestamp"):
            raise Forbidden(
                f"{qualified(r)} is forbidden: unable to create new content in namespace "
                f"{namespace} because it is being terminated",
                details={"group": r.group, "kind": r.plural},
            )

    def _admit(self, r: ResourceType, obj: Obj, fields: FieldCheck | None = None) -> Obj:
        """Nulls dropped (an explicit null is "unset", then defaulted), unknown fields pruned
        (`fields` says whether that warns or refuses), shape check, defaults, validation; any
        failure is a 422 (never a 500, even when a kind's rules trip over a malformed object)."""
        obj = drop_nulls(obj)
        pruned = prune(r.kind, obj)
        if pruned and fields is not None:
            fields.found(pruned)
        causes = validation.shape(obj)
        if not causes:
            try:
                obj = validation.default(obj)
                causes = validation.validate(obj, namespaced=r.namespaced)
            except Exception as exc:  # a rule that could not read the object: still the user's
                log.warning("admission of %s failed: %r", r.kind, exc)
                causes = [
                    Cause(
                        "", f"Invalid value: the object is malformed ({exc})", "FieldValueInvalid"
                    )
                ]
        if causes:
            meta = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
            name = meta.get("name", "") if isinstance(meta.get("name"), str) else ""
            raise Invalid(
                invalid_message(r.kind, r.group, name, causes),
                causes=causes,
                details={"name": name, "group": r.group, "kind": r.kind},
            )
        return obj

    def _write(self, key: Key, obj: Obj, old: Obj | None, event: str) -> Obj:
        size = len(orjson.dumps(obj))
        if size > MAX_OBJECT_BYTES:  # etcd's request limit, as kube-apiserver reports it
            raise RequestEntityTooLarge(
                f"etcdserver: request is too large (the object is {size} bytes; at most "
                f"{MAX_OBJECT_BYTES} are stored)"
            )
        if old is not None:
            self._unindex(key, old)
        self.store.put(key, obj)
        self._index(key, obj)
        self._publish(event, key, obj, old)
        return obj

    def _publish(self, etype: str, key: Key, obj: Obj, old: Obj | None) -> None:
        body = orjson.dumps(obj)
        old_body = orjson.dumps(old) if old is not None else None
        ev = _Event(int(obj["metadata"]["resourceVersion"]), etype, key[0], key[1], body, old_body)
        self._history.append(ev)
        self._history_bytes += len(body) + len(old_body or b"")
        while len(self._history) > HISTORY or self._history_bytes > HISTORY_BYTES:
            gone = self._history.popleft()
            self._history_bytes -= len(gone.body) + len(gone.old_body or b"")
            self._floor = gone.rv
        ev.obj, ev.old = obj, old
        for w in list(self._watchers):
            self._deliver(w, ev)
        ev.obj = ev.old = None

    @staticmethod
    def _deliver(w: _Watcher, ev: _Event) -> None:
        if w.kind != ev.kind or (w.namespace is not None and w.namespace != ev.namespace):
            return
        if w.labels.empty and not w.fields.terms:
            w.queue.put_nowait((ev.type, ev.body))
            return
        obj, old = ev.parsed()
        now_in = w.matches(obj)
        if ev.type == "MODIFIED":
            was_in = w.matches(old)
            if now_in and not was_in:
                w.queue.put_nowait(("ADDED", ev.body))
            elif was_in and not now_in:
                w.queue.put_nowait(("DELETED", ev.body))
            elif now_in:
                w.queue.put_nowait(("MODIFIED", ev.body))
        elif now_in:
            w.queue.put_nowait((ev.type, ev.body))

    # --- reads ---------------------------------------------------------------------------------

    def get(
        self, kind: str, name: str, namespace: str | None = None, *, subresource: str | None = None
    ) -> Obj:
        r = resource_for(kind)
        obj = self._current(r, name, namespace)
        if subresource == "scale":
            return self._to_scale(r, obj)
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
        labels, fields = self._selectors(label_selector, field_selector)
        ns = namespace if r.namespaced else None
        start: tuple[str, str] | None = None
        if continue_:
            try:
                tok = orjson.loads(base64.urlsafe_b64decode(continue_.encode()))
                start = (tok["ns"], tok["name"])
            except (ValueError, KeyError, TypeError):
                raise BadRequest("invalid continue token") from None
        pinned = fields.value_of("metadata.name")
        keys = self._labelled(r.kind, ns, labels)
        if keys is None:
            keys = self.store.keys(r.kind, ns)
        items: list[Obj] = []
        more = False
        for key in keys:
            if start is not None and (key[1], key[2]) <= start:
                continue
            if pinned is not None and key[2] != pinned:
                continue
            obj = self.store.get(key)
            if obj is None or not labels.matches(obj["metadata"].get("labels")):
                continue
            if not fields.matches(obj):
                continue
            if limit and len(items) >= limit:
                more = True
                break
            items.append(obj)
        meta: Obj = {"resourceVersion": self.resource_version}
        if more and items:
            last = items[-1]["metadata"]
            tok = {"ns": last.get("namespace", ""), "name": last["name"]}
            meta["continue"] = base64.urlsafe_b64encode(orjson.dumps(tok)).decode()
            meta["remainingItemCount"] = sum(1 for _ in keys) - len(items)  # upper bound
        return {
            "kind": r.list_kind_name,
            "apiVersion": r.api_version,
            "metadata": meta,
            "items": items,
        }

    @staticmethod
    def _selectors(
        label_selector: str | None, field_selector: str | None
    ) -> tuple[LabelSelector, FieldSelector]:
        try:
            return parse_labels(label_selector), parse_fields(field_selector)
        except ValueError as exc:
            raise BadRequest(str(exc)) from None

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
        obj = _json_copy(obj)
        self._check_api_version(r, obj)
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
        obj = self._admit(r, obj, fields)
        key = self._key(r, meta["name"], meta.get("namespace"))
        self._check_namespace(r, key[1])
        if self.store.exists(key):
            raise Conflict(
                f'{qualified(r)} "{meta["name"]}" already exists',
                reason="AlreadyExists",
                details={"name": meta["name"], "group": r.group, "kind": r.plural},
            )
        if dry_run:
            return obj
        self._write(key, obj, None, "ADDED")
        self._collect_if_orphan(key, obj)
        if r.kind == "Event":
            self._events_created += 1
            if self._events_created % EVENT_SWEEP_EVERY == 0:
                self.expire_events()
        return obj

    def expire_events(self, ttl_s: float = EVENT_TTL_S) -> int:
        """Delete Events not seen for `ttl_s` (kube-apiserver's --event-ttl, 1 h). Runs by
        itself every few hundred Event creations; returns how many went."""
        from tidal.api.meta import parse_time

        cutoff = self.clock() - ttl_s
        doomed = []
        for key, raw in self.store.items("Event"):
            ev = orjson.loads(raw)
            seen = parse_time(ev.get("lastTimestamp")) or parse_time(ev.get("eventTime"))
            seen = seen or parse_time(ev["metadata"].get("creationTimestamp"))
            if seen is not None and seen < cutoff:
                doomed.append(key)
        for key in doomed:
            try:
                self.delete("Event", key[2], key[1])
            except ApiError:
                pass
        return len(doomed)

    @staticmethod
    def _check_api_version(r: ResourceType, obj: Obj) -> None:
        av = obj.get("apiVersion")
        if av and av != r.api_version:
            raise BadRequest(
                f"the API version in the data ({av}) does not match the expected API version "
                f"({r.api_version})"
            )
        obj["apiVersion"] = r.api_version

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
            return self._update_scale(r, current, obj, dry_run)
        if subresource == "status":
            new = _json_copy(current)
            if "status" in obj:
                new["status"] = _json_copy(obj["status"])
            else:
                new.pop("status", None)
            return self._replace(r, current, new, dry_run, bump=False)
        if subresource not in (None, ""):
            raise NotFound(f"{qualified(r)} subresource {subresource!r} not found")
        if body_kind and body_kind != r.kind:
            raise BadRequest(f"kind {body_kind!r} does not match {r.kind!r}")
        new = _json_copy(obj)
        self._check_api_version(r, new)
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
                new["status"] = _json_copy(current["status"])
            else:
                new.pop("status", None)
        new = self._admit(r, new, fields)
        return self._replace(r, current, new, dry_run, bump=True)

    def _replace(
        self, r: ResourceType, current: Obj, new: Obj, dry_run: bool, *, bump: bool
    ) -> Obj:
        meta, cur_meta = new["metadata"], current["metadata"]
        meta["generation"] = cur_meta.get("generation", 1)
        if bump and _spec_of(new) != _spec_of(current):
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
            and not self._graceful_pending(r, new)
        ):
            return self._remove(r, key, new)
        return self._write(key, new, current, "MODIFIED")

    def _graceful_pending(self, r: ResourceType, obj: Obj) -> bool:
        """A Pod marked for graceful deletion waits for its runner's final delete (grace 0),
        whatever status the runner writes meanwhile."""
        grace = obj["metadata"].get("deletionGracePeriodSeconds") or 0
        return r.kind == "Pod" and isinstance(grace, int) and grace > 0

    # --- scale ---------------------------------------------------------------------------------

    def _to_scale(self, r: ResourceType, obj: Obj) -> Obj:
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

    def _update_scale(self, r: ResourceType, current: Obj, scale: Obj, dry_run: bool) -> Obj:
        self._to_scale(r, current)
        spec = scale.get("spec")
        replicas = spec.get("replicas") if isinstance(spec, dict) else None
        if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
            name = current["metadata"]["name"]
            from tidal.validation.field import invalid

            cause = invalid("spec.replicas", replicas, "must be greater than or equal to 0")
            raise Invalid(
                invalid_message("Scale", "autoscaling", name, [cause]),
                causes=[cause],
                details={"name": name, "group": "autoscaling", "kind": "Scale"},
            )
        new = _json_copy(current)
        new.setdefault("spec", {})["replicas"] = replicas
        result = self._replace(r, current, new, dry_run, bump=True)
        return self._to_scale(r, result)

    # --- patch ---------------------------------------------------------------------------------

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
        if patch_type == "apply":
            raise UnsupportedMediaType(
                "the body of the request was in an unknown format - accepted media types "
                "include: application/json-patch+json, application/merge-patch+json, "
                "application/strategic-merge-patch+json (server-side apply is not supported by "
                "tidal; use client-side `kubectl apply`)"
            )
        if patch_type == "strategic" and r.group not in BUILTIN_GROUPS:
            raise UnsupportedMediaType(
                "the body of the request was in an unknown format - accepted media types "
                "include: application/json-patch+json, application/merge-patch+json, "
                "application/apply-patch+yaml"
            )
        current = self.get(kind, name, namespace, subresource=subresource)
        try:
            patched = apply_patch(current, patch, patch_type)
        except PatchError as exc:
            if patch_type == "json":
                raise Invalid(str(exc)) from None
            raise BadRequest(str(exc)) from None
        if not isinstance(patched, dict) or not isinstance(patched.get("metadata", {}), dict):
            what = "object" if isinstance(patched, dict) else "patched object"
            field = "metadata" if isinstance(patched, dict) else "patch"
            value = patched.get("metadata") if isinstance(patched, dict) else patched
            raise Invalid(
                f'{qualified(r)} "{name}" is invalid: {field}: Invalid value: '
                f"{_short(value)}: the {what} must be a JSON object"
            )
        if not depth_ok(patched):
            raise Invalid(f'{qualified(r)} "{name}" is invalid: patch: {too_deep().message}')
        if patched.get("metadata", {}).get("resourceVersion") in (None, ""):
            patched.setdefault("metadata", {})["resourceVersion"] = current["metadata"][
                "resourceVersion"
            ]
        return self.update(
            patched,
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
        if r.kind == "Namespace" and name in UNDELETABLE_NAMESPACES:
            raise Forbidden(
                f'namespaces "{name}" is forbidden: this namespace may not be deleted',
                details={"name": name, "kind": "namespaces"},
            )
        if dry_run:
            return current, True
        key = self._key(r, name, namespace)
        if r.kind == "Namespace":
            return self._delete_namespace(key, current)
        graceful = (
            r.kind == "Pod"
            and (_is_graceful_pod(current) or self._graceful_pending(r, current))
            and grace_period_seconds != 0
        )
        if policy == "Foreground" and not graceful and self._blocking(meta.get("uid", "")):
            return self._delete_foreground(r, key, current), False
        if meta.get("finalizers") or graceful:
            if meta.get("deletionTimestamp"):
                return current, False
            new = copy.deepcopy(current)
            grace = grace_period_seconds
            if grace is None:
                grace = (current.get("spec") or {}).get("terminationGracePeriodSeconds", 30)
            new["metadata"]["deletionTimestamp"] = rfc3339(self.clock())
            new["metadata"]["deletionGracePeriodSeconds"] = grace if graceful else 0
            if policy == "Orphan":
                self._orphan(meta.get("uid", ""))
            result = self._write(key, new, current, "MODIFIED")
            if policy != "Orphan":
                self._cascade(meta.get("uid", ""))
            return result, False
        if policy == "Orphan":
            self._orphan(meta.get("uid", ""))
        elif policy == "Foreground":
            self._cascade(meta.get("uid", ""))
        result = self._remove(r, key, current)
        if policy == "Background":
            self._cascade(meta.get("uid", ""))
        return result, True

    def _remove(self, r: ResourceType, key: Key, current: Obj) -> Obj:
        rv = self.store.remove(key)
        self._unindex(key, current)
        gone = copy.deepcopy(current)
        gone["metadata"]["resourceVersion"] = str(rv)
        self._publish("DELETED", key, gone, None)
        if r.namespaced:
            self._finish_namespace(key[1])
        for ref in current["metadata"].get("ownerReferences") or []:
            if ref.get("blockOwnerDeletion") and ref.get("uid") in self._foreground:
                self._finish_foreground(ref["uid"])
        return gone

    # Foreground cascading deletion, as the garbage collector does it: the owner is kept with a
    # deletionTimestamp and the `foregroundDeletion` finalizer while its dependents that block
    # owner deletion are deleted (themselves in the foreground); the last one gone releases it.

    def _blocking(self, uid: str) -> list[Key]:
        out = []
        for key in sorted(self._owned.get(uid, set())):
            obj = self.store.get(key)
            refs = (obj or {}).get("metadata", {}).get("ownerReferences") or []
            if any(ref.get("uid") == uid and ref.get("blockOwnerDeletion") for ref in refs):
                out.append(key)
        return out

    def _delete_foreground(self, r: ResourceType, key: Key, current: Obj) -> Obj:
        meta = current["metadata"]
        if "foregroundDeletion" not in (meta.get("finalizers") or []):
            new = copy.deepcopy(current)
            new["metadata"]["finalizers"] = [*(meta.get("finalizers") or []), "foregroundDeletion"]
            new["metadata"].setdefault("deletionTimestamp", rfc3339(self.clock()))
            new["metadata"].setdefault("deletionGracePeriodSeconds", 0)
            current = self._write(key, new, current, "MODIFIED")
        uid = meta.get("uid", "")
        for dep_key in sorted(self._owned.get(uid, set())):
            obj = self.store.get(dep_key)
            if obj is None or obj["metadata"].get("deletionTimestamp"):
                continue
            refs = [ref for ref in obj["metadata"].get("ownerReferences") or []]
            if any(ref.get("uid") in self._uids and ref.get("uid") != uid for ref in refs):
                continue  # another owner still lives
            try:
                self.delete(
                    dep_key[0], dep_key[2], dep_key[1] or None, propagation_policy="Foreground"
                )
            except ApiError:
                pass
        self._finish_foreground(uid)
        return self.store.get(key) or current

    def _finish_foreground(self, uid: str) -> None:
        """Release an owner in foreground deletion once no blocking dependent is left."""
        key = self._uids.get(uid) if uid in self._foreground else None
        owner = self.store.get(key) if key is not None else None
        if owner is None or key is None:
            return
        finalizers = owner["metadata"].get("finalizers") or []
        if "foregroundDeletion" not in finalizers or not owner["metadata"].get("deletionTimestamp"):
            return
        if self._blocking(uid):
            return
        new = copy.deepcopy(owner)
        rest = [f for f in finalizers if f != "foregroundDeletion"]
        if rest:
            new["metadata"]["finalizers"] = rest
            self._write(key, new, owner, "MODIFIED")
            return
        del new["metadata"]["finalizers"]
        self._remove(resource_for(key[0]), key, new)
        self._cascade(uid)

    def _cascade(self, uid: str) -> None:
        """Delete what `uid` owned (the garbage collector's job, done at once)."""
        for key in sorted(self._owned.get(uid, set())):
            obj = self.store.get(key)
            if obj is None:
                continue
            refs = [
                ref for ref in obj["metadata"].get("ownerReferences") or [] if ref.get("uid") != uid
            ]
            if any(ref.get("uid") in self._uids for ref in refs):
                continue  # another owner still lives
            try:
                self.delete(key[0], key[2], key[1] or None)
            except NotFound:
                pass

    def _orphan(self, uid: str) -> None:
        for key in sorted(self._owned.get(uid, set())):
            obj = self.store.get(key)
            if obj is None:
                continue
            new = copy.deepcopy(obj)
            new["metadata"]["ownerReferences"] = [
                ref for ref in obj["metadata"].get("ownerReferences") or [] if ref.get("uid") != uid
            ] or None
            if new["metadata"]["ownerReferences"] is None:
                del new["metadata"]["ownerReferences"]
            self._write(key, new, obj, "MODIFIED")

    def _collect_if_orphan(self, key: Key, obj: Obj) -> None:
        refs = obj["metadata"].get("ownerReferences") or []
        if refs and not any(ref.get("uid") in self._uids for ref in refs):
            try:
                self.delete(key[0], key[2], key[1] or None)
            except ApiError:
                pass

    def collect_garbage(self) -> int:
        """Delete every object all of whose owners are gone (after a crash mid-cascade, or a
        create that referenced a deleted owner). Returns how many were deleted."""
        doomed = []
        for key, raw in self.store.items():
            refs = orjson.loads(raw)["metadata"].get("ownerReferences") or []
            if refs and not any(ref.get("uid") in self._uids for ref in refs):
                doomed.append(key)
        for key in doomed:
            try:
                self.delete(key[0], key[2], key[1] or None)
            except ApiError:
                pass
        for uid in sorted(self._foreground):
            self._finish_foreground(uid)  # an owner whose last dependent went while down
        for key in self.store.keys("Namespace"):
            ns = self.store.get(key)
            if ns and ns["metadata"].get("deletionTimestamp"):
                self._finish_namespace(key[2])
        return len(doomed)

    def _delete_namespace(self, key: Key, current: Obj) -> tuple[Obj, bool]:
        name = key[2]
        if not current["metadata"].get("deletionTimestamp"):
            new = copy.deepcopy(current)
            new["metadata"]["deletionTimestamp"] = rfc3339(self.clock())
            new.setdefault("status", {})["phase"] = "Terminating"
            current = self._write(key, new, current, "MODIFIED")
        for r in RESOURCES:
            if not r.namespaced:
                continue
            for k in self.store.keys(r.kind, name):
                try:
                    self.delete(k[0], k[2], k[1])
                except ApiError:
                    pass
        done = self._finish_namespace(name)
        return (done or current), done is not None

    def _finish_namespace(self, name: str) -> Obj | None:
        """Remove a Terminating namespace once nothing is left in it."""
        key = ("Namespace", "", name)
        ns = self.store.get(key)
        if ns is None or not ns["metadata"].get("deletionTimestamp"):
            return None
        if any(self.store.keys(r.kind, name) for r in RESOURCES if r.namespaced):
            return None
        return self._remove(by_kind("Namespace"), key, ns)

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
        labels, fields = self._selectors(label_selector, field_selector)
        w = _Watcher(r.kind, namespace if r.namespaced else None, labels, fields)
        start: list[tuple[str, bytes]] = []
        if resource_version in (None, "", "0"):
            for key in self.store.keys(r.kind, w.namespace):
                obj = self.store.get(key)
                if obj is not None and w.matches(obj):
                    start.append(("ADDED", self.store.get_raw(key) or b"{}"))
        else:
            if not (resource_version.isascii() and resource_version.isdigit()):
                raise BadRequest(f"invalid resourceVersion {resource_version!r}")
            rv = int(resource_version)
            if rv < self._floor:
                raise Gone(f"too old resource version: {rv} ({self._floor})")
            if rv > self.store.rv:
                # newer than anything this store wrote (a home made afresh since): the changes
                # after it cannot be told apart from older ones, so the client relists
                raise Gone(f"too large resource version: {rv}, current: {self.store.rv}")
            for ev in self._history:
                if ev.rv > rv:
                    self._deliver(w, ev)
        self._watchers.append(w)
        return self._stream(w, start)

    async def _stream(
        self, w: _Watcher, start: list[tuple[str, bytes]]
    ) -> AsyncIterator[tuple[str, bytes]]:
        try:
            for item in start:
                yield item
            while True:
                item = await w.queue.get()
                if item is None:
                    return
                yield item
        finally:
            if w in self._watchers:
                self._watchers.remove(w)

    @property
    def watcher_count(self) -> int:
        return len(self._watchers)


def _json_copy(obj: Any) -> Any:
    """A deep copy of a JSON value, through orjson: several times faster than `copy.deepcopy`
    on API objects (every write copies the object it is given and the current one)."""
    return orjson.loads(orjson.dumps(obj))


def _short(value: Any) -> str:
    text = orjson.dumps(value).decode()
    return text if len(text) <= 80 else text[:77] + "..."


def drop_nulls(obj: Obj) -> Obj:
    """Map entries whose value is null removed, at every depth (list items stay): JSON null in a
    typed field or a non-nullable CRD field means "unset" to kube-apiserver, which then
    defaults it (`spec.replicas: null` is stored as 1)."""
    stack: list[Any] = [obj]
    while stack:
        v = stack.pop()
        if isinstance(v, dict):
            for k in [k for k, x in v.items() if x is None]:
                del v[k]
            stack.extend(x for x in v.values() if isinstance(x, dict | list))
        elif isinstance(v, list):
            stack.extend(x for x in v if isinstance(x, dict | list))
    return obj


def _spec_of(obj: Obj) -> Obj:
    """Everything a generation covers: all but metadata and status."""
    return {k: v for k, v in obj.items() if k not in ("metadata", "status")}


def _is_graceful_pod(obj: Obj) -> bool:
    """A Pod bound to the node and not finished terminates gracefully (its runner confirms)."""
    phase = (obj.get("status") or {}).get("phase")
    return bool((obj.get("spec") or {}).get("nodeName")) and phase not in ("Succeeded", "Failed")
