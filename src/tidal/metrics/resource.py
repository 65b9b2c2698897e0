"""Resource metrics: per pod CPU (cores, a rate over a window) and memory (working set) of each
container's whole process tree, sampled with psutil, served as `metrics.k8s.io/v1beta1`.

The pod runner says what runs (`targets()`: namespace, name, labels, container pids); the
sampler reads each process tree every `resolution_s` (15 s by default as metrics-server's
kubelet scrape; the fast profile uses 1 s) and keeps the samples of the last `window_s`. CPU is
(CPU seconds now − CPU seconds at the window's start) / elapsed; memory is the tree's RSS at the
last sample (the cgroup working set without page cache). A container whose pid changed (a
restart) starts its window again, as a reset cAdvisor counter does.

Paths answered by `ResourceMetricsApi.get(version, path, query)` below
`/apis/metrics.k8s.io/v1beta1/`: `` (APIResourceList), `pods`, `namespaces/NS/pods`
(PodMetricsList, `labelSelector`), `namespaces/NS/pods/NAME` (PodMetrics), `nodes`,
`nodes/NAME` (NodeMetrics of this machine).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import psutil

from tidal.api import errors, gotime
from tidal.api.meta import rfc3339
from tidal.api.selectors import parse_labels

log = logging.getLogger("tidal.metrics.resource")
GROUP = "metrics.k8s.io"
VERSION = "v1beta1"
API_VERSION = f"{GROUP}/{VERSION}"
DEFAULT_RESOLUTION_S = 15.0
DEFAULT_WINDOW_S = 30.0
Obj = dict[str, Any]


class Target(Protocol):
    """A running pod as the runner describes it (`tidal.pods.runner.PodTarget`)."""

    namespace: str
    name: str
    labels: dict[str, str]
    creation_timestamp: str
    containers: list[tuple[str, int]]


@dataclass(frozen=True, slots=True)
class Sample:
    t: float
    cpu_s: float  # CPU seconds used by the tree so far
    memory: int  # bytes, RSS of the tree


@dataclass(frozen=True, slots=True)
class Usage:
    cpu_cores: float
    memory: int
    timestamp: float  # of the newest sample
    window_s: float  # the span the CPU rate was measured over


def usage(samples: Sequence[Sample], window_s: float) -> Usage | None:
    """PURE: the CPU rate over the newest `window_s` and the newest memory; None with fewer
    than two samples (metrics-server also needs two scrapes)."""
    if len(samples) < 2:
        return None
    last = samples[-1]
    first = samples[0]
    for s in samples:  # the oldest sample still inside the window
        if s.t >= last.t - window_s - 1e-9:
            first = s
            break
    if first is last:
        first = samples[-2]
    span = last.t - first.t
    if span <= 0:
        return None
    cores = max(0.0, (last.cpu_s - first.cpu_s) / span)
    return Usage(cores, last.memory, last.t, span)


def go_duration(seconds: float) -> str:
    """PodMetrics' `window`: Go's `Duration.String` of the span, to the millisecond as
    metrics-server reports it (`15s`, `1.5s`, `1m0s`)."""
    return gotime.format_duration(round(seconds * 1000) * gotime.MS)


def cpu_quantity(cores: float) -> str:
    return f"{round(cores * 1e9)}n"  # metrics-server's nanocores


def memory_quantity(b: int) -> str:
    return f"{b // 1024}Ki"


def read_tree(pid: int) -> tuple[float, int] | None:
    """(CPU seconds, RSS bytes) of a process and its descendants; None when it is gone.
    Reaped children's CPU counts through `children_user/system` of their parent."""
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return None
    cpu = 0.0
    rss = 0
    for p in procs:
        try:
            with p.oneshot():
                t = p.cpu_times()
                cpu += t.user + t.system + t.children_user + t.children_system
                rss += p.memory_info().rss
        except psutil.Error:
            continue
    return cpu, rss


class ResourceSampler:
    """Samples every target's containers and answers usage per pod."""

    def __init__(
        self,
        targets: Callable[[], Sequence[Target]],
        *,
        resolution_s: float = DEFAULT_RESOLUTION_S,
        window_s: float = DEFAULT_WINDOW_S,
        clock: Callable[[], float] = time.time,
        reader: Callable[[int], tuple[float, int] | None] = read_tree,
    ) -> None:
        if resolution_s <= 0 or window_s <= 0:
            raise ValueError("resolution_s and window_s must be positive")
        self.targets = targets
        self.resolution_s = resolution_s
        self.window_s = window_s
        self.clock = clock
        self.reader = reader
        # (ns, pod, container) -> (pid, samples)
        self._series: dict[tuple[str, str, str], tuple[int, deque[Sample]]] = {}
        self._pods: dict[tuple[str, str], Target] = {}
        # (namespace, label, value) -> pods: a list by selector reads only the pods carrying
        # one of its `=`/`in` labels (one HPA's pods, not every pod)
        self._by_label: dict[tuple[str, str, str], list[tuple[str, str]]] = {}

    def read(self, targets: Sequence[Target]) -> dict[tuple[str, str, str], tuple[int, float, int]]:
        """Read every container's tree: (ns, pod, container) -> (pid, CPU s, RSS). Blocking
        (psutil); runs in a worker thread and touches no state."""
        out: dict[tuple[str, str, str], tuple[int, float, int]] = {}
        for t in targets:
            for cname, pid in t.containers:
                got = self.reader(pid)
                if got is not None:
                    out[(t.namespace, t.name, cname)] = (pid, got[0], got[1])
        return out

    def record(
        self,
        now: float,
        targets: Sequence[Target],
        readings: dict[tuple[str, str, str], tuple[int, float, int]],
    ) -> None:
        """Add one round of readings taken at `now` (on the event loop: the only writer)."""
        for key, (pid, cpu_s, rss) in readings.items():
            old = self._series.get(key)
            if old is None or old[0] != pid:  # new, or restarted: a new window
                old = (pid, deque())
                self._series[key] = old
            samples = old[1]
            samples.append(Sample(now, cpu_s, rss))
            while len(samples) > 2 and samples[1].t <= now - self.window_s - self.resolution_s:
                samples.popleft()
        for key in [k for k in self._series if k not in readings]:
            del self._series[key]
        self._pods = {(t.namespace, t.name): t for t in targets}
        self._by_label = {}
        for key, t in self._pods.items():
            for label, value in (t.labels or {}).items():
                self._by_label.setdefault((key[0], label, value), []).append(key)

    def sample(self) -> None:
        """One sampling round over every running pod (synchronously)."""
        targets = list(self.targets())
        self.record(self.clock(), targets, self.read(targets))

    async def run(self) -> None:
        while True:
            try:
                targets = list(self.targets())
                now = self.clock()
                readings = await asyncio.to_thread(self.read, targets)
                self.record(now, targets, readings)
            except Exception:  # a sampling error must not stop the plane's metrics
                log.exception("resource sampling failed")
            await asyncio.sleep(self.resolution_s)

    def pod_usage(self, namespace: str, name: str) -> dict[str, Usage] | None:
        """Usage per container; None until every container has two samples."""
        t = self._pods.get((namespace, name))
        if t is None or not t.containers:
            return None
        out: dict[str, Usage] = {}
        for cname, _ in t.containers:
            series = self._series.get((namespace, name, cname))
            u = usage(list(series[1]), self.window_s) if series else None
            if u is None:
                return None
            out[cname] = u
        return out

    # --- metrics.k8s.io shapes ----------------------------------------------------------
    def pod_metrics(self, namespace: str, name: str) -> Obj | None:
        t = self._pods.get((namespace, name))
        u = self.pod_usage(namespace, name)
        if t is None or u is None:
            return None
        newest = max(x.timestamp for x in u.values())
        window = max(x.window_s for x in u.values())
        meta: Obj = {
            "name": name,
            "namespace": namespace,
            "creationTimestamp": t.creation_timestamp,
        }
        if t.labels:
            meta["labels"] = dict(t.labels)
        return {
            "kind": "PodMetrics",
            "apiVersion": API_VERSION,
            "metadata": meta,
            "timestamp": rfc3339(newest),
            "window": go_duration(window),
            "containers": [
                {
                    "name": c,
                    "usage": {
                        "cpu": cpu_quantity(x.cpu_cores),
                        "memory": memory_quantity(x.memory),
                    },
                }
                for c, x in u.items()
            ],
        }

    def pod_metrics_list(self, namespace: str | None, label_selector: str | None = None) -> Obj:
        """PodMetricsList of the pods (all namespaces when None) matching the selector."""
        try:
            sel = parse_labels(label_selector)
        except ValueError as exc:
            raise errors.BadRequest(f"unable to parse requirement: {exc}") from exc
        items = []
        keys: Iterable[tuple[str, str]] = self._pods
        terms = [r for r in sel.requirements if r.op in ("=", "in")]
        if namespace and terms:
            keys = min(
                (
                    [k for v in r.values for k in self._by_label.get((namespace, r.key, v), ())]
                    for r in terms
                ),
                key=len,
            )
        for ns, name in sorted(keys):
            t = self._pods[(ns, name)]
            if namespace and ns != namespace:
                continue
            if not sel.matches(t.labels):
                continue
            m = self.pod_metrics(ns, name)
            if m is not None:
                items.append(m)
        return {"kind": "PodMetricsList", "apiVersion": API_VERSION, "metadata": {}, "items": items}


def node_metrics(node: str, now: float, window_s: float) -> Obj:
    """This machine's usage as a NodeMetrics (psutil's system-wide numbers)."""
    cores = psutil.cpu_percent(interval=None) / 100.0 * (psutil.cpu_count() or 1)
    vm = psutil.virtual_memory()
    return {
        "kind": "NodeMetrics",
        "apiVersion": API_VERSION,
        "metadata": {"name": node, "labels": {"kubernetes.io/hostname": node}},
        "timestamp": rfc3339(now),
        "window": go_duration(window_s),
        "usage": {"cpu": cpu_quantity(cores), "memory": memory_quantity(vm.total - vm.available)},
    }


def resource_list() -> Obj:
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": API_VERSION,
        "resources": [
            {
                "name": "nodes",
                "singularName": "",
                "namespaced": False,
                "kind": "NodeMetrics",
                "verbs": ["get", "list"],
            },
            {
                "name": "pods",
                "singularName": "",
                "namespaced": True,
                "kind": "PodMetrics",
                "verbs": ["get", "list"],
            },
        ],
    }


class ResourceMetricsApi:
    """The `metrics.k8s.io` provider the API server mounts (same shape as the custom API's)."""

    def __init__(self, sampler: ResourceSampler, node_name: str = "tidal-node") -> None:
        self.sampler = sampler
        self.node_name = node_name
        with contextlib.suppress(Exception):  # prime psutil's system CPU counter (node metrics)
            psutil.cpu_percent(interval=None)

    def resources(self) -> list[Obj]:
        """`ApiProvider` (tidal.server.app): the APIResource entries discovery lists."""
        return resource_list()["resources"]

    async def handle(self, path: str, params: dict[str, str]) -> Obj:
        """`ApiProvider` (tidal.server.app): a GET below `/apis/metrics.k8s.io/v1beta1`."""
        return await self.get(VERSION, path, params)

    async def get(self, version: str, path: str, query: Mapping[str, str]) -> Obj:
        if version != VERSION:
            raise errors.NotFound(
                f'the server could not find the requested resource (version "{version}")'
            )
        parts = [p for p in path.strip("/").split("/") if p]
        s = self.sampler
        sel = query.get("labelSelector")
        if not parts:
            return resource_list()
        if parts == ["pods"]:
            return s.pod_metrics_list(None, sel)
        if len(parts) == 3 and parts[0] == "namespaces" and parts[2] == "pods":
            return s.pod_metrics_list(parts[1], sel)
        if len(parts) == 4 and parts[0] == "namespaces" and parts[2] == "pods":
            m = s.pod_metrics(parts[1], parts[3])
            if m is None:
                raise errors.NotFound(
                    f'podmetrics.metrics.k8s.io "{parts[3]}" not found',
                    details={"name": parts[3], "group": GROUP, "kind": "pods"},
                )
            return m
        if parts[0] == "nodes" and len(parts) <= 2:
            node = node_metrics(self.node_name, s.clock(), s.window_s)
            if len(parts) == 1:
                return {
                    "kind": "NodeMetricsList",
                    "apiVersion": API_VERSION,
                    "metadata": {},
                    "items": [node],
                }
            if parts[1] != self.node_name:
                raise errors.NotFound(f'nodemetrics.metrics.k8s.io "{parts[1]}" not found')
            return node
        raise errors.NotFound(f"the server could not find the requested resource ({path})")
