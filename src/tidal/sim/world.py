"""An in-memory fake Kubernetes API (`MemoryApi`, an `ApiClient`) and a tiny kubelet for the
simulator: Deployments with a /scale subresource, their pods (Pending for `startup_s`, then
Running and Ready), Events, HPAs and their history ControllerRevisions (any kind, really; an
owner's delete deletes what it controls), and the metrics APIs read through
`get_raw` from a `MetricsSource` the scenario supplies. Deterministic: no randomness, the clock
is injected. Also the fake the HPA controller's unit tests run against."""

from __future__ import annotations

import copy
import functools
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from tidal.api.client import Obj, PatchType, WatchEvent
from tidal.api.errors import Conflict, NotFound
from tidal.api.meta import rfc3339, selector_string
from tidal.api.patch import apply_patch
from tidal.api.selectors import parse_labels

Key = tuple[str, str, str]  # kind, namespace, name


def _clone(value: Any) -> Any:
    """A deep copy of a JSON-like value (dicts, lists, scalars): what `copy.deepcopy` does for
    API objects, several times faster (the simulator copies on every read, as a server would)."""
    if type(value) is dict:
        return {k: _clone(v) for k, v in value.items()}
    if type(value) is list:
        return [_clone(v) for v in value]
    if isinstance(value, dict | list | tuple | set):
        return copy.deepcopy(value)
    return value


class MetricsSource(Protocol):
    """Answers the aggregated metrics APIs (`/apis/metrics.k8s.io/...`) for `get_raw`."""

    def __call__(self, path: str, params: dict[str, str] | None) -> Any: ...


class MemoryApi:
    """Objects in a dict; resourceVersion conflicts, label selectors, merge patches, /scale and
    /status as the real API server treats them. `watch` is not supported (the simulator drives
    controllers by calling them)."""

    def __init__(self, clock: Callable[[], float], metrics: MetricsSource | None = None) -> None:
        self.clock = clock
        self.metrics = metrics
        self.objects: dict[Key, Obj] = {}
        self._rv = 0
        self.writes: list[tuple[str, str, str, str | None]] = []  # (verb, kind, name, subresource)

    # -- helpers ---------------------------------------------------------------------------------
    def _next_rv(self) -> str:
        self._rv += 1
        return str(self._rv)

    def _key(self, kind: str, name: str, namespace: str | None) -> Key:
        return (kind, namespace or "default", name)

    def _find(self, kind: str, name: str, namespace: str | None) -> Obj:
        try:
            return self.objects[self._key(kind, name, namespace)]
        except KeyError:
            raise NotFound(f'{kind.lower()}s "{name}" not found') from None

    def _scale_of(self, obj: Obj) -> Obj:
        meta = obj["metadata"]
        pods = [
            p
            for p in self.items("Pod", meta["namespace"])
            if parse_labels(selector_string((obj.get("spec") or {}).get("selector"))).matches(
                (p.get("metadata") or {}).get("labels")
            )
        ]
        return {
            "apiVersion": "autoscaling/v1",
            "kind": "Scale",
            "metadata": {
                "name": meta["name"],
                "namespace": meta["namespace"],
                "resourceVersion": meta["resourceVersion"],
            },
            "spec": {"replicas": int((obj.get("spec") or {}).get("replicas") or 0)},
            "status": {
                "replicas": len(pods),
                "selector": selector_string((obj.get("spec") or {}).get("selector")),
            },
        }

    def items(self, kind: str, namespace: str | None = None) -> list[Obj]:
        return [
            o
            for key, o in sorted(
                (key, o)
                for key, o in self.objects.items()
                if key[0] == kind and (namespace is None or key[1] == namespace)
            )
        ]

    # -- ApiClient ---------------------------------------------------------------------------------
    async def get(
        self, kind: str, name: str, namespace: str | None = None, *, subresource: str | None = None
    ) -> Obj:
        obj = self._find(kind, name, namespace)
        if subresource == "scale":
            if "replicas" not in (obj.get("spec") or {}):
                raise NotFound(f"{kind} {name} has no scale subresource")
            return self._scale_of(obj)
        return _clone(obj)

    async def list(
        self,
        kind: str,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> Obj:
        sel = parse_labels(label_selector)
        items = [
            _clone(o)
            for o in self.items(kind, namespace)
            if sel.matches(o["metadata"].get("labels"))
        ]
        return {
            "kind": f"{kind}List",
            "items": items,
            "metadata": {"resourceVersion": str(self._rv)},
        }

    async def create(self, obj: Obj, *, namespace: str | None = None) -> Obj:
        obj = _clone(obj)
        meta = obj.setdefault("metadata", {})
        meta["namespace"] = namespace or meta.get("namespace") or "default"
        key = self._key(obj["kind"], meta["name"], meta["namespace"])
        if key in self.objects:
            raise Conflict(
                f'{obj["kind"].lower()}s "{meta["name"]}" already exists', reason="AlreadyExists"
            )
        meta.setdefault("uid", f"uid-{self._rv + 1}")
        meta.setdefault("creationTimestamp", rfc3339(self.clock()))
        meta["resourceVersion"] = self._next_rv()
        self.objects[key] = obj
        self.writes.append(("create", obj["kind"], meta["name"], None))
        return _clone(obj)

    async def update(self, obj: Obj, *, subresource: str | None = None) -> Obj:
        meta = obj.get("metadata") or {}
        kind = (
            meta.get("_kind") or obj.get("kind", "")
            if subresource == "scale"
            else obj.get("kind", "")
        )
        current = self._find(kind, meta.get("name", ""), meta.get("namespace"))
        rv = meta.get("resourceVersion")
        if rv and rv != current["metadata"]["resourceVersion"]:
            raise Conflict(
                f'Operation cannot be fulfilled on {kind.lower()}s "{meta.get("name")}": the object has been modified; please apply your changes to the latest version and try again'
            )
        new = _clone(current)
        if subresource == "scale":
            new["spec"]["replicas"] = int((obj.get("spec") or {}).get("replicas") or 0)
        elif subresource == "status":
            new["status"] = _clone(obj.get("status"))
        else:
            new = _clone(obj)
            new["metadata"]["uid"] = current["metadata"].get("uid")
            new["metadata"]["creationTimestamp"] = current["metadata"].get("creationTimestamp")
            new.pop("status", None)
            if "status" in current:  # kinds without status (ControllerRevision) get none
                new["status"] = current["status"]
        new["metadata"]["resourceVersion"] = self._next_rv()
        self.objects[self._key(kind, new["metadata"]["name"], new["metadata"]["namespace"])] = new
        self.writes.append(("update", kind, new["metadata"]["name"], subresource))
        return self._scale_of(new) if subresource == "scale" else _clone(new)

    async def patch(
        self,
        kind: str,
        name: str,
        patch: Any,
        namespace: str | None = None,
        *,
        patch_type: PatchType = "merge",
        subresource: str | None = None,
    ) -> Obj:
        current = self._find(kind, name, namespace)
        if subresource == "scale":
            scale = apply_patch(self._scale_of(current), patch, patch_type)
            return await self.update(scale | {"kind": kind}, subresource="scale")
        new = apply_patch(current, patch, patch_type)
        new["metadata"]["resourceVersion"] = self._next_rv()
        self.objects[self._key(kind, name, namespace)] = new
        self.writes.append(("patch", kind, name, subresource))
        return _clone(new)

    async def delete(
        self,
        kind: str,
        name: str,
        namespace: str | None = None,
        *,
        propagation_policy: str = "Background",
    ) -> Obj:
        obj = self._find(kind, name, namespace)
        del self.objects[self._key(kind, name, namespace)]
        self.writes.append(("delete", kind, name, None))
        uid = obj["metadata"].get("uid")
        for key, dep in sorted(self.objects.items()):  # the garbage collector, at once
            refs = dep["metadata"].get("ownerReferences") or []
            if not uid or not any(r.get("uid") == uid for r in refs) or key not in self.objects:
                continue
            rest = [r for r in refs if r.get("uid") != uid]
            if propagation_policy == "Orphan" or rest:
                if rest:
                    dep["metadata"]["ownerReferences"] = rest
                else:
                    del dep["metadata"]["ownerReferences"]
            else:
                await self.delete(key[0], key[2], key[1], propagation_policy=propagation_policy)
        return obj

    def watch(
        self,
        kind: str,
        namespace: str | None = None,
        *,
        resource_version: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> AsyncIterator[WatchEvent]:
        raise NotImplementedError("MemoryApi has no watch: drive controllers by calling them")

    async def get_raw(self, path: str, *, params: dict[str, str] | None = None) -> Any:
        if self.metrics is None:
            raise NotFound(f"the server could not find the requested resource ({path})")
        return self.metrics(path, params)

    async def close(self) -> None:
        return None


@functools.lru_cache(maxsize=256)
def _selector(text: str) -> Any:
    return parse_labels(text)


@dataclass(slots=True)
class PodTemplate:
    cpu_request_m: int = 100
    memory_request: str = "128Mi"
    startup_s: float = 0.0


class Kubelet:
    """Makes each Deployment's pods follow `spec.replicas` (the deployment controller and the
    kubelet in one): new pods are Pending for `startup_s`, then Running and Ready; on scale-down
    the newest pods go first, at once."""

    def __init__(self, api: MemoryApi, templates: dict[str, PodTemplate]) -> None:
        self.api = api
        self.templates = templates
        self._serial: dict[str, int] = {}

    def _pods_of(self, deploy: Obj) -> list[Obj]:
        selector = (deploy.get("spec") or {}).get("selector") or {}
        pods = self.api.items("Pod", deploy["metadata"]["namespace"])
        if set(selector) == {"matchLabels"}:  # the common case, without parsing a selector
            want = tuple((selector["matchLabels"] or {}).items())
            pods = [
                p
                for p in pods
                if all((p["metadata"].get("labels") or {}).get(k) == v for k, v in want)
            ]
        else:
            sel = _selector(selector_string(selector))
            pods = [p for p in pods if sel.matches(p["metadata"].get("labels"))]
        return sorted(pods, key=lambda p: p["metadata"]["_serial"])

    async def step(self) -> None:
        now = self.api.clock()
        for deploy in self.api.items("Deployment"):
            name, ns = deploy["metadata"]["name"], deploy["metadata"]["namespace"]
            tpl = self.templates.get(name, PodTemplate())
            pods = self._pods_of(deploy)
            want = int(deploy["spec"].get("replicas") or 0)
            for pod in pods[want:][::-1]:
                await self.api.delete("Pod", pod["metadata"]["name"], ns)
            for _ in range(want - len(pods)):
                n = self._serial.get(name, 0)
                self._serial[name] = n + 1
                labels = dict(((deploy["spec"].get("selector") or {}).get("matchLabels")) or {})
                await self.api.create(
                    {
                        "apiVersion": "v1",
                        "kind": "Pod",
                        "metadata": {
                            "name": f"{name}-{n}",
                            "namespace": ns,
                            "labels": labels,
                            "_serial": n,
                        },
                        "spec": {
                            "containers": [
                                {
                                    "name": "main",
                                    "resources": {
                                        "requests": {
                                            "cpu": f"{tpl.cpu_request_m}m",
                                            "memory": tpl.memory_request,
                                        }
                                    },
                                }
                            ]
                        },
                        "status": {"phase": "Pending", "_created": now},
                    }
                )
            for pod in self._pods_of(deploy):
                st = pod["status"]
                if st["phase"] == "Pending" and now - st["_created"] >= tpl.startup_s:
                    st["phase"] = "Running"
                    st["startTime"] = rfc3339(now)
                    st["conditions"] = [
                        {"type": "Ready", "status": "True", "lastTransitionTime": rfc3339(now)}
                    ]
            pods = self._pods_of(deploy)
            ready = sum(1 for p in pods if p["status"]["phase"] == "Running")
            status = deploy.setdefault("status", {})
            status["replicas"] = len(pods)
            status["readyReplicas"] = ready  # the KPA reads ready pods from here
            status["availableReplicas"] = ready

    def ready_pods(self, deployment: str, namespace: str = "default") -> list[Obj]:
        deploy = self.api.objects.get(("Deployment", namespace, deployment))
        if deploy is None:
            return []
        return [p for p in self._pods_of(deploy) if p["status"]["phase"] == "Running"]
