"""`FakeApiClient`: a small in-memory stand-in for the ApiClient protocol, for controller unit
tests that need no server: resourceVersion conflicts, the status and scale subresources,
generation bumps on spec changes, merge patches. Not a server: no admission, no watch."""

from __future__ import annotations

import copy
import uuid
from collections.abc import AsyncIterator
from typing import Any

from tidal.api.client import Obj, WatchEvent
from tidal.api.errors import ApiError, Conflict, NotFound
from tidal.api.meta import rfc3339

STATUS_BEHIND_SUBRESOURCE = {
    "Deployment",
    "HorizontalPodAutoscaler",
    "InferenceService",
    "CronHorizontalPodAutoscaler",
}


def _merge(base: Any, patch: Any) -> Any:
    if not isinstance(patch, dict) or not isinstance(base, dict):
        return copy.deepcopy(patch)
    out = dict(base)
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = _merge(base.get(k), v)
    return out


def _spec_of(obj: Obj) -> Obj:
    return {k: v for k, v in obj.items() if k not in ("metadata", "status")}


class FakeApiClient:
    def __init__(self, clock: Any = None) -> None:
        self.objects: dict[tuple[str, str, str], Obj] = {}
        self.rv = 100
        self.clock = clock or (lambda: 0.0)
        self.calls: list[tuple[str, str, str]] = []
        self.fail: dict[tuple[str, str], ApiError] = {}  # (verb, kind) -> error to raise
        self.fail_once: dict[tuple[str, str], ApiError] = {}  # the same, for one call

    def _check(self, verb: str, kind: str) -> None:
        err = self.fail.get((verb, kind))
        if err is not None:
            raise err
        err = self.fail_once.pop((verb, kind), None)
        if err is not None:
            raise err

    def _key(self, kind: str, name: str, ns: str | None) -> tuple[str, str, str]:
        return (kind, ns or "default", name)

    def _bump(self, obj: Obj) -> None:
        self.rv += 1
        obj["metadata"]["resourceVersion"] = str(self.rv)

    def events(self, kind: str | None = None, name: str | None = None) -> list[Obj]:
        return [
            o
            for (k, _, _), o in self.objects.items()
            if k == "Event"
            and (kind is None or o["involvedObject"]["kind"] == kind)
            and (name is None or o["involvedObject"]["name"] == name)
        ]

    async def get(
        self, kind: str, name: str, namespace: str | None = None, *, subresource: str | None = None
    ) -> Obj:
        self._check("get", kind)
        obj = self.objects.get(self._key(kind, name, namespace))
        if obj is None:
            raise NotFound(f'{kind} "{name}" not found')
        if subresource == "scale":
            r = (obj.get("spec") or {}).get("replicas", 1)
            return {
                "apiVersion": "autoscaling/v1",
                "kind": "Scale",
                "metadata": copy.deepcopy(obj["metadata"]),
                "spec": {"replicas": r},
                "status": {"replicas": r},
            }
        return copy.deepcopy(obj)

    async def list(
        self,
        kind: str,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> Obj:
        items = [
            copy.deepcopy(o)
            for (k, ns, _), o in sorted(self.objects.items())
            if k == kind and (namespace is None or ns == namespace)
        ]
        return {"items": items, "metadata": {"resourceVersion": str(self.rv)}}

    async def create(self, obj: Obj, *, namespace: str | None = None) -> Obj:
        self._check("create", obj["kind"])
        obj = copy.deepcopy(obj)
        meta = obj.setdefault("metadata", {})
        meta["namespace"] = namespace or meta.get("namespace") or "default"
        key = self._key(obj["kind"], meta["name"], meta["namespace"])
        if key in self.objects:
            raise Conflict(f'{obj["kind"]} "{meta["name"]}" already exists', reason="AlreadyExists")
        meta.setdefault("uid", str(uuid.uuid4()))
        meta.setdefault("creationTimestamp", rfc3339(self.clock()))
        meta["generation"] = 1
        if obj["kind"] in STATUS_BEHIND_SUBRESOURCE and obj["kind"] != "HorizontalPodAutoscaler":
            obj.pop("status", None)
        self._bump(obj)
        self.objects[key] = obj
        self.calls.append(("create", obj["kind"], meta["name"]))
        return copy.deepcopy(obj)

    async def update(self, obj: Obj, *, subresource: str | None = None) -> Obj:
        kind, meta = obj["kind"], obj["metadata"]
        self._check("update", kind)
        key = self._key(kind, meta["name"], meta.get("namespace"))
        cur = self.objects.get(key)
        if cur is None:
            raise NotFound(f'{kind} "{meta["name"]}" not found')
        if (
            meta.get("resourceVersion")
            and meta["resourceVersion"] != cur["metadata"]["resourceVersion"]
        ):
            raise Conflict("the object has been modified", reason="Conflict")
        new = copy.deepcopy(cur)
        if subresource == "status":
            new["status"] = copy.deepcopy(obj.get("status") or {})
        else:
            new = copy.deepcopy(obj)
            new["metadata"] = {
                **cur["metadata"],
                **{k: v for k, v in meta.items() if k in ("labels", "annotations")},
            }
            if kind in STATUS_BEHIND_SUBRESOURCE:
                new["status"] = copy.deepcopy(cur.get("status"))
                if new["status"] is None:
                    new.pop("status")
            if _spec_of(new) != _spec_of(cur):
                new["metadata"]["generation"] = cur["metadata"].get("generation", 1) + 1
        if new == cur:
            return copy.deepcopy(cur)
        self._bump(new)
        self.objects[key] = new
        self.calls.append((f"update{'/' + subresource if subresource else ''}", kind, meta["name"]))
        return copy.deepcopy(new)

    async def patch(
        self,
        kind: str,
        name: str,
        patch: Any,
        namespace: str | None = None,
        *,
        patch_type: str = "merge",
        subresource: str | None = None,
    ) -> Obj:
        self._check("patch", kind)
        key = self._key(kind, name, namespace)
        cur = self.objects.get(key)
        if cur is None:
            raise NotFound(f'{kind} "{name}" not found')
        if subresource == "scale":
            replicas = patch["spec"]["replicas"]
            patch = {"spec": {"replicas": replicas}}
        new = _merge(cur, patch)
        if _spec_of(new) != _spec_of(cur):
            new["metadata"]["generation"] = cur["metadata"].get("generation", 1) + 1
        self._bump(new)
        self.objects[key] = new
        self.calls.append((f"patch{'/' + subresource if subresource else ''}", kind, name))
        return copy.deepcopy(new)

    async def delete(
        self,
        kind: str,
        name: str,
        namespace: str | None = None,
        *,
        propagation_policy: str = "Background",
    ) -> Obj:
        obj = self.objects.pop(self._key(kind, name, namespace), None)
        if obj is None:
            raise NotFound(f'{kind} "{name}" not found')
        return obj

    async def watch(
        self,
        kind: str,
        namespace: str | None = None,
        *,
        resource_version: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> AsyncIterator[WatchEvent]:
        if False:  # pragma: no cover - the fake has no watch
            yield ("ADDED", {})

    async def get_raw(self, path: str, *, params: dict[str, str] | None = None) -> Any:
        raise NotFound(path)

    async def close(self) -> None:
        return None
