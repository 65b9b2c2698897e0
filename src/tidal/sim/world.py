"""The simulated cluster: the real API server's verb layer (`tidal.server.registry.Registry`) over
SQLite in memory, reached through the real `InProcessClient` (`SimApi`), and a tiny kubelet.

The Registry admits, defaults, validates, versions and garbage-collects every object exactly as
the plane's does; the simulator injects its virtual clock and counters for uids and generated
names, so every run of a scenario writes the same objects. The metrics APIs are read through
`get_raw` from a `MetricsSource` the scenario supplies.

The kubelet (`Kubelet`) is the deployment controller and the node in one: it keeps the pods it
made per Deployment (the node's own pod list: the simulator's index by owner, so a Deployment's
pods are found without scanning every pod) and writes every change through the API."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from tidal.api.client import Obj
from tidal.api.meta import rfc3339
from tidal.server.inprocess import InProcessClient
from tidal.server.registry import Registry
from tidal.server.store import Store

Key = tuple[str, str, str]  # kind, namespace, name


class MetricsSource(Protocol):
    """Answers the aggregated metrics APIs (`/apis/metrics.k8s.io/...`) for `get_raw`."""

    def __call__(self, path: str, params: dict[str, str] | None) -> Any: ...


class _Objects(Mapping[Key, Obj]):
    """Read-only view of the registry's objects by (kind, namespace, name), parsed once per
    version: the store keeps each object as JSON bytes and replaces them on every write, so a
    parsed copy stays valid while the same bytes are stored (an informer's cache, fed by
    identity instead of by a watch). The objects are shared: read them, never mutate them."""

    def __init__(self, registry: Registry) -> None:
        self._store = registry.store
        self._parsed: dict[Key, tuple[bytes, Obj]] = {}

    def get(self, key: Key, default: Any = None) -> Any:  # type: ignore[override]
        raw = self._store.get_raw(key)
        if raw is None:
            self._parsed.pop(key, None)
            return default
        cached = self._parsed.get(key)
        if cached is not None and cached[0] is raw:
            return cached[1]
        obj = orjson.loads(raw)
        self._parsed[key] = (raw, obj)
        return obj

    def __getitem__(self, key: Key) -> Obj:
        obj = self.get(key)
        if obj is None:
            raise KeyError(key)
        return obj

    def __iter__(self) -> Iterator[Key]:
        return (k for k, _ in self._store.items())

    def __len__(self) -> int:
        return sum(1 for _ in self._store.items())


class SimApi(InProcessClient):
    """The `InProcessClient` over a fresh Registry on SQLite in memory, on the virtual `clock`,
    with uids `uid-1, uid-2, ...` and generated-name suffixes from a counter (deterministic).
    `items` and `objects` are the simulator's own synchronous reads (its summary and plugins);
    controllers use the ApiClient verbs."""

    def __init__(self, clock: Callable[[], float], metrics: MetricsSource | None = None) -> None:
        uids = itertools.count(1)
        names = itertools.count(1)
        registry = Registry(
            Store(":memory:"),
            clock=clock,
            new_uid=lambda: f"uid-{next(uids)}",
            name_suffix=lambda: f"{next(names):05d}",
        )
        super().__init__(registry, owns_registry=True, raw=metrics)
        self.clock = clock
        self.objects: Mapping[Key, Obj] = _Objects(registry)

    def items(self, kind: str, namespace: str | None = None) -> list[Obj]:
        """Every object of `kind` (in `namespace`), in (namespace, name) order, from the shared
        cache of `objects` (read, never mutate)."""
        objects = self.objects
        return [objects[k] for k in self.registry.store.keys(kind, namespace)]

    def ensure_namespace(self, name: str) -> None:
        if not self.registry.store.exists(("Namespace", "", name)):
            self.registry.create(
                {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
            )


def deployment_manifest(
    name: str, namespace: str, replicas: int, labels: dict[str, str], template: PodTemplate
) -> Obj:
    """A Deployment the API server admits (its pod template has the one container)."""
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "labels": dict(labels)},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": dict(labels)},
            "template": {
                "metadata": {"labels": dict(labels)},
                "spec": {"containers": [template.container()]},
            },
        },
    }


@dataclass(slots=True)
class PodTemplate:
    cpu_request_m: int = 100
    memory_request: str = "128Mi"
    startup_s: float = 0.0

    def container(self) -> Obj:
        return {
            "name": "main",
            "image": "tidal.sim/pod",
            "resources": {
                "requests": {"cpu": f"{self.cpu_request_m}m", "memory": self.memory_request}
            },
        }


@dataclass(slots=True)
class SimPod:
    """One pod the kubelet runs: its object as last written, and when it was created."""

    obj: Obj
    created: float
    ready: bool = False

    @property
    def name(self) -> str:
        return str(self.obj["metadata"]["name"])


@dataclass(slots=True)
class _Owned:
    uid: str
    labels: dict[str, str]
    pods: list[SimPod] = field(default_factory=list)  # oldest first


class Kubelet:
    """Makes each Deployment's pods follow `spec.replicas` (the deployment controller and the
    kubelet in one): new pods are Pending for `startup_s`, then Running and Ready; on scale-down
    the newest pods go first, at once. A Deployment's pods are the ones it owns
    (ownerReferences), kept here by owner as the node knows its pods."""

    def __init__(self, api: SimApi, templates: dict[str, PodTemplate]) -> None:
        self.api = api
        self.templates = templates
        self._serial: dict[str, int] = {}
        self._owned: dict[tuple[str, str], _Owned] = {}  # (namespace, deployment) -> its pods

    async def step(self) -> None:
        now = self.api.clock()
        registry = self.api.registry
        seen: set[tuple[str, str]] = set()
        for deploy in self.api.items("Deployment"):
            meta = deploy["metadata"]
            name, ns = meta["name"], meta["namespace"]
            seen.add((ns, name))
            tpl = self.templates.get(name, PodTemplate())
            owned = self._owned.get((ns, name))
            if owned is None or owned.uid != meta["uid"]:
                labels = dict(((deploy["spec"].get("selector") or {}).get("matchLabels")) or {})
                owned = self._owned[(ns, name)] = _Owned(meta["uid"], labels)
            pods = owned.pods
            want = int(deploy["spec"].get("replicas") or 0)
            for pod in pods[want:][::-1]:
                registry.delete("Pod", pod.name, ns)
            del pods[want:]
            for _ in range(want - len(pods)):
                n = self._serial.get(name, 0)
                self._serial[name] = n + 1
                obj = registry.create(self._pod(f"{name}-{n}", ns, owned, deploy, tpl))
                pods.append(SimPod(obj, now))
            for pod in pods:
                if not pod.ready and now - pod.created >= tpl.startup_s:
                    st = pod.obj.setdefault("status", {})
                    st["phase"] = "Running"
                    st["startTime"] = rfc3339(now)
                    st["conditions"] = [
                        {"type": "Ready", "status": "True", "lastTransitionTime": rfc3339(now)}
                    ]
                    pod.obj = registry.update(pod.obj, subresource="status")
                    pod.ready = True
            ready = sum(1 for p in pods if p.ready)
            status = {"replicas": len(pods), "readyReplicas": ready, "availableReplicas": ready}
            old = deploy.get("status") or {}
            if any(old.get(k) != v for k, v in status.items()):  # the KPA reads readyReplicas
                registry.update(deploy | {"status": old | status}, subresource="status")
        for gone in self._owned.keys() - seen:  # a deleted Deployment's pods went with it (GC)
            del self._owned[gone]

    @staticmethod
    def _pod(name: str, ns: str, owned: _Owned, deploy: Obj, tpl: PodTemplate) -> Obj:
        return {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": name,
                "namespace": ns,
                "labels": dict(owned.labels),
                "ownerReferences": [
                    {
                        "apiVersion": "apps/v1",
                        "kind": "Deployment",
                        "name": deploy["metadata"]["name"],
                        "uid": owned.uid,
                        "controller": True,
                    }
                ],
            },
            "spec": {"containers": [tpl.container()]},
        }

    def pods(self, deployment: str, namespace: str = "default") -> list[Obj]:
        """The Deployment's pods (Pending and Running), oldest first."""
        owned = self._owned.get((namespace, deployment))
        return [p.obj for p in owned.pods] if owned is not None else []

    def ready_pods(self, deployment: str, namespace: str = "default") -> list[Obj]:
        owned = self._owned.get((namespace, deployment))
        return [p.obj for p in owned.pods if p.ready] if owned is not None else []

    def pod_names(self, namespace: str) -> set[str]:
        """Every pod that exists in the namespace."""
        return {p.name for (ns, _), o in self._owned.items() if ns == namespace for p in o.pods}
