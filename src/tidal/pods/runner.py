"""The pod runner ("kubelet"): Pods in the API become process groups on this machine.

It watches every Pod and gives each a `PodWorker` (`worker.py`) that schedules it (`schedule.py`:
GPUs against the node's, CPU/memory only when capacity is enforced), gives it an IP in 127/8
(`ips.py`), runs each container's command in its own session with the pod's env (`env.py`) and
mounts (`mounts.py`), probes readiness (`probes.py`), restarts with the kubelet's back-off
(`backoff.py`, `lifecycle.py`), and on deletion takes the pod out of Endpoints (Ready false),
waits a beat, SIGTERMs, waits the grace period and SIGKILLs.

Processes outlive the plane. Each pod's folder holds `state.json` (`state.py`: uid, IP, GPUs, per
container pid + process start time, restart counts); a restarted runner adopts the processes that
still match and kills the ones whose pod is gone, so none is orphaned. Status is written as
Kubernetes shapes it (`status.py`) and Events carry the kubelet's and the scheduler's messages.
The runner also registers the Node and posts its status (`nodestatus.py`).
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from urllib.parse import urlsplit

import psutil
import yaml

from tidal.api.client import ApiClient, Obj
from tidal.api.errors import ApiError, Gone, TidalError
from tidal.pods import backoff, ips, logs, sandbox, serviceaccount, state
from tidal.pods import process as procs
from tidal.pods.nodestatus import NodeHeartbeat
from tidal.pods.schedule import Node
from tidal.pods.state import DNS1123
from tidal.pods.worker import PodWorker

log = logging.getLogger("tidal.pods")


@dataclass
class RunnerSettings:
    """Knobs of the runner; defaults are Kubernetes' (docs/PODS.md)."""

    enforce_capacity: bool = False  # check CPU/memory requests against the node (off: record only)
    node_cpu: float | None = None  # cores; default: this machine's
    node_memory: int | None = None  # bytes; default: this machine's
    backoff_initial_s: float = backoff.INITIAL_S
    backoff_max_s: float = backoff.MAX_S
    endpoint_drain_s: float = 1.0  # between leaving Endpoints and SIGTERM
    unschedulable_retry_s: float = 5.0
    host_ip: str = "127.0.0.1"
    inherit_env: bool = True  # start from the plane's env (PATH, venv) before the pod's
    isolation: str = "auto"  # "auto": each pod in a bwrap namespace where possible; "off": never
    config_retry_s: float = 2.0  # retry of a container whose ConfigMap/Secret is missing
    config_sync_s: float = 10.0  # how often mounted ConfigMaps/Secrets are brought up to date


@dataclass
class PodTarget:
    """What the resource sampler needs to know about a running pod."""

    namespace: str
    name: str
    labels: dict[str, str]
    creation_timestamp: str
    containers: list[tuple[str, int]] = field(default_factory=list)  # (container, pid)


class PodRunner:
    """Runs the Pods of the API on this machine (node `node_name`)."""

    def __init__(
        self,
        client: ApiClient,
        home: Path | str,
        node_name: str = "tidal-node",
        gpus: Sequence[str] = (),
        *,
        settings: RunnerSettings | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self.home = Path(home)
        self.settings = settings or RunnerSettings()
        s = self.settings
        self.node = Node(
            name=node_name,
            gpus=tuple(str(g) for g in gpus),
            cpu=Fraction(str(s.node_cpu))
            if s.node_cpu is not None
            else Fraction(os.cpu_count() or 1),
            memory=Fraction(s.node_memory)
            if s.node_memory is not None
            else Fraction(psutil.virtual_memory().total),
            enforce_capacity=s.enforce_capacity,
        )
        self.clock = clock
        self.ip_start = ips.block_start(str(self.home.resolve()))
        self.workers: dict[str, PodWorker] = {}  # uid -> worker
        self._api_access: tuple[str, str, bytes, bytes] | None = None
        self.log_clock = logs.LogClock(clock)
        self._clock_task: asyncio.Task[None] | None = None
        self._node_task: asyncio.Task[None] | None = None
        self.isolation_problem: str | None = (
            "turned off (isolation: off)" if self.settings.isolation == "off" else None
        )
        self.started = asyncio.Event()

    def api_access(self) -> tuple[str, str, bytes, bytes] | None:
        """(host, port, CA PEM, token signing key) of the plane's API for pods' service
        accounts, from the home's kubeconfig and token; None without isolation or a plane."""
        if self.isolation_problem is not None:
            return None
        if self._api_access is None:
            try:
                cfg = yaml.safe_load((self.home / "kubeconfig").read_text()) or {}
                cluster = cfg["clusters"][0]["cluster"]
                url = urlsplit(cluster["server"])
                ca = base64.b64decode(cluster["certificate-authority-data"])
                token = (self.home / "token").read_text().strip()
            except (OSError, ValueError, KeyError, IndexError, TypeError, yaml.YAMLError):
                return None
            if not token or not url.hostname:
                return None
            key = serviceaccount.signing_key(token)
            self._api_access = (url.hostname, str(url.port or 443), ca, key)
        return self._api_access

    # --- what other parts read ----------------------------------------------------------
    def ips_in_use(self, exclude: PodWorker | None = None) -> set[str]:
        return {
            w.state.pod_ip for w in self.workers.values() if w is not exclude and w.state.pod_ip
        }

    def pod_targets(self) -> list[PodTarget]:
        """Running pods and their container pids (the resource sampler's input)."""
        out = []
        for w in self.workers.values():
            meta = w.pod.get("metadata") or {}
            pids = [(name, procs.workload_pid(ref)) for name, (_, ref) in w.refs.items()]
            if pids:
                out.append(
                    PodTarget(
                        w.ns,
                        w.name,
                        dict(meta.get("labels") or {}),
                        meta.get("creationTimestamp") or "",
                        pids,
                    )
                )
        return out

    def forget(self, worker: PodWorker) -> None:
        if self.workers.get(worker.uid) is worker:
            del self.workers[worker.uid]
        for w in self.workers.values():  # a freed GPU or IP may let a Pending pod in
            if not w.state.scheduled:
                w.wake.set()

    # --- the loop -----------------------------------------------------------------------
    def _add(self, pod: Obj, record: Obj | None = None) -> None:
        uid = (pod.get("metadata") or {}).get("uid", "")
        name = (pod.get("metadata") or {}).get("name", "")
        ns = (pod.get("metadata") or {}).get("namespace") or "default"
        if not uid or not DNS1123.match(name) or not DNS1123.match(ns):
            log.warning("ignoring pod %r/%r: bad name or no uid", ns, name)
            return
        node = (pod.get("spec") or {}).get("nodeName")
        if node and node != self.node.name:
            return
        phase = (pod.get("status") or {}).get("phase")
        if phase in ("Succeeded", "Failed") and record is None:
            return
        w = PodWorker(self, pod)
        self.workers[uid] = w
        w.task = asyncio.create_task(w.main(record))
        if (pod.get("metadata") or {}).get("deletionTimestamp"):
            w.stop.set()

    async def run(self) -> None:
        """List, adopt or replace what runs, sweep orphans, then follow the watch forever."""
        first = True
        delay = 0.2
        if self.isolation_problem is None:
            self.isolation_problem = await asyncio.to_thread(sandbox.probe)
        if self.isolation_problem is not None:
            log.warning("%s", sandbox.isolation_warning(self.isolation_problem))
        if self._clock_task is None:
            self._clock_task = asyncio.create_task(self._clock_logs())
        if self._node_task is None:  # the kubelet registers its Node and posts its status
            self._node_task = asyncio.create_task(NodeHeartbeat(self.client, self.node).run())
        while True:
            try:
                listed = await self.client.list("Pod")
                items = listed.get("items") or []
                if first:
                    records = state.read_all(self.home)
                    live = {(p.get("metadata") or {}).get("uid", "") for p in items}
                    state.sweep_orphans(records, live)
                    for pod in items:
                        uid = pod["metadata"].get("uid", "")
                        if uid not in self.workers:
                            self._add(pod, records.get(uid))
                    first = False
                    self.started.set()
                else:
                    self._resync(items)
                delay = 0.2
                rv = (listed.get("metadata") or {}).get("resourceVersion")
                async for typ, pod in self.client.watch("Pod", resource_version=rv):
                    self._on_event(typ, pod)
                continue
            except Gone:
                continue
            except asyncio.CancelledError:
                raise
            except (ApiError, TidalError, OSError) as exc:
                log.warning("pod watch: %s; retrying in %.1fs", exc, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)

    def _resync(self, items: list[Obj]) -> None:
        seen = set()
        for pod in items:
            uid = pod["metadata"].get("uid", "")
            seen.add(uid)
            self._on_event("MODIFIED", pod)
        for uid, w in list(self.workers.items()):
            if uid not in seen:
                w.mark_deleted()

    def _on_event(self, typ: str, pod: Obj) -> None:
        uid = (pod.get("metadata") or {}).get("uid", "")
        w = self.workers.get(uid)
        if typ == "DELETED":
            if w is not None:
                w.mark_deleted()
            return
        if typ not in ("ADDED", "MODIFIED"):
            return
        if w is None:
            self._add(pod)
        else:
            w.update(pod)

    async def _clock_logs(self) -> None:
        """Note log sizes for line times; every `config_sync_s`, refresh mounted ConfigMaps."""
        last_sync = self.clock()
        while True:
            self.log_clock.tick(p for w in list(self.workers.values()) for p in w.log_paths())
            if self.clock() - last_sync >= self.settings.config_sync_s:
                last_sync = self.clock()
                for w in list(self.workers.values()):
                    try:
                        await w.refresh_volumes()
                    except (TidalError, OSError) as exc:
                        log.warning("volumes of %s/%s: %s", w.ns, w.name, exc)
            await asyncio.sleep(logs.CLOCK_S)

    async def stop(self) -> None:
        """Stop watching; pods keep running (the next runner adopts them)."""
        tasks = [w.task for w in self.workers.values() if w.task is not None]
        if self._clock_task is not None:
            tasks.append(self._clock_task)
            self._clock_task = None
        if self._node_task is not None:
            tasks.append(self._node_task)
            self._node_task = None
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
