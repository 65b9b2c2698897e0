"""The pod runner ("kubelet"): Pods in the API become process groups on this machine.

It watches every Pod, schedules each (`schedule.py`: GPUs against the node's, CPU/memory only
when capacity is enforced), gives it an IP in 127/8 (`ips.py`), runs each container's command
in its own session with the pod's env and working folder, probes readiness (`probes.py`),
restarts with the kubelet's back-off (`backoff.py`), and on deletion takes the pod out of
Endpoints (Ready false), waits a beat, SIGTERMs, waits the grace period and SIGKILLs.

Processes outlive the plane. Each pod's folder holds `state.json` (uid, IP, GPUs, per container
pid + process start time, restart counts); a restarted runner adopts the processes that still
match and kills the ones whose pod is gone, so none is orphaned. Status is written as Kubernetes
shapes it (`status.py`) and Events carry the kubelet's and the scheduler's messages.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import os
import re
import shutil
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psutil
import yaml

from tidal.api.client import ApiClient, Obj
from tidal.api.errors import ApiError, Gone, NotFound, TidalError
from tidal.api.events import make_event
from tidal.api.meta import parse_time
from tidal.pods import backoff, config, ips, logs, probes, sandbox, serviceaccount
from tidal.pods import process as procs
from tidal.pods.nodestatus import NodeHeartbeat
from tidal.pods.schedule import Node, Requests, pod_requests, schedule
from tidal.pods.status import (
    ContainerState,
    PodState,
    pod_status,
    qos_class,
    terminated,
)

log = logging.getLogger("tidal.pods")

DNS1123 = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
FAST_PROBE_S = 0.02  # probe period until the first success: pods become Ready without lag
VAR_REF = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)|\$\$")


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


def expand(text: str, env: dict[str, str]) -> str:
    """Kubernetes' `$(VAR)` expansion; `$$` escapes; unknown references stay as written."""

    def sub(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        return env.get(m.group(1), m.group(0))

    return VAR_REF.sub(sub, text)


def _field_ref(pod: Obj, path: str, pod_ip: str, node: str, host_ip: str) -> str:
    meta = pod.get("metadata") or {}
    simple = {
        "metadata.name": meta.get("name", ""),
        "metadata.namespace": meta.get("namespace", ""),
        "metadata.uid": meta.get("uid", ""),
        "spec.nodeName": node,
        "spec.serviceAccountName": (pod.get("spec") or {}).get("serviceAccountName", "default"),
        "status.podIP": pod_ip,
        "status.hostIP": host_ip,
    }
    if path in simple:
        return simple[path]
    m = re.match(r"^metadata\.(labels|annotations)\['(.+)'\]$", path)
    if m:
        return (meta.get(m.group(1)) or {}).get(m.group(2), "")
    return ""


def plane_env(environ: Any, home: Path) -> dict[str, str]:
    """The plane's environment without what leads to its credentials: `TIDAL_HOME`,
    `KUBECONFIG`, and any variable whose value names the home."""
    homes = {str(home).rstrip("/"), str(home.resolve()).rstrip("/")}
    names = re.compile(
        "|".join(rf"(?:^|(?<=[:=,;\s'\"])){re.escape(h)}(?=$|[/:,;\s'\"])" for h in homes if h)
    )
    return {
        k: v
        for k, v in environ.items()
        if k not in ("TIDAL_HOME", "KUBECONFIG") and not names.search(v)
    }


def ports_free(ip: str, ports: list[int]) -> bool:
    """Nothing listens on these ports of `ip` yet (another plane's pod, a stray server)."""
    for port in ports:
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind((ip, port))
            except OSError:
                return False
    return True


class PodWorker:
    """One pod's life on this node: schedule, run its containers, terminate."""

    def __init__(self, runner: PodRunner, pod: Obj) -> None:
        self.runner = runner
        self.pod = pod
        meta = pod["metadata"]
        self.uid: str = meta.get("uid", "")
        self.ns: str = meta.get("namespace") or "default"
        self.name: str = meta["name"]
        self.dir = runner.home / "pods" / self.ns / self.name  # the runner's: state, logs
        self.work = self.dir / "work"  # the pod's own folder: its working directory
        self.state = PodState(qos_class=qos_class(pod))
        self.containers = [
            ContainerState(name=c.get("name", f"c{i}"), image=c.get("image", ""))
            for i, c in enumerate(self._specs())
        ]
        self.refs: dict[str, tuple[Any, procs.ProcessRef]] = {}  # container -> (Popen|None, ref)
        self.requests = Requests()
        self.gpus: tuple[str, ...] = ()
        self.wake = asyncio.Event()
        self.stop = asyncio.Event()
        self.announced = asyncio.Event()  # bound and Scheduled: container events may follow
        self.deleted = False
        self._warned = False
        self._config_told: dict[str, str] = {}
        self._last_written: Any = None
        self._write_lock = asyncio.Lock()
        self._tasks: list[asyncio.Task[None]] = []
        self.task: asyncio.Task[None] | None = None

    # --- inputs from the watch ----------------------------------------------------------
    def _specs(self) -> list[Obj]:
        return list((self.pod.get("spec") or {}).get("containers") or [])

    def update(self, pod: Obj) -> None:
        self.pod = pod
        if (pod.get("metadata") or {}).get("deletionTimestamp"):
            self.stop.set()
        self.wake.set()

    def mark_deleted(self) -> None:
        self.deleted = True
        self.stop.set()
        self.wake.set()

    # --- plumbing: events, status, state file -------------------------------------------
    async def event(
        self,
        reason: str,
        message: str,
        *,
        type_: str = "Normal",
        component: str = "kubelet",
        container: str | None = None,
    ) -> None:
        ev = make_event(
            self.pod, reason, message, now=self.runner.clock(), component=component, type_=type_
        )
        ev["involvedObject"]["apiVersion"] = "v1"
        ev["involvedObject"]["kind"] = "Pod"
        if container:
            ev["involvedObject"]["fieldPath"] = f"spec.containers{{{container}}}"
        if component == "kubelet":
            ev["source"]["host"] = self.runner.node.name
            ev["reportingInstance"] = self.runner.node.name
        try:
            await self.runner.client.create(ev, namespace=self.ns)
        except (TidalError, OSError) as exc:
            log.warning("event %s for %s/%s: %s", reason, self.ns, self.name, exc)

    def render(self) -> Obj:
        policy = (self.pod.get("spec") or {}).get("restartPolicy") or "Always"
        return pod_status(self.state, self.containers, policy, self.runner.clock())

    async def write_status(self) -> None:
        if self.deleted:
            return
        async with self._write_lock:
            status = self.render()
            if status == self._last_written:
                return
            patch = {"status": status}
            try:
                self.pod = await self.runner.client.patch(
                    "Pod", self.name, patch, self.ns, subresource="status"
                )
                self._last_written = status
            except NotFound:
                self.mark_deleted()
            except (TidalError, OSError) as exc:
                log.warning("status of %s/%s: %s", self.ns, self.name, exc)

    def save(self) -> None:
        """Persist what a restarted runner needs to adopt this pod's processes."""
        rec = {
            "uid": self.uid,
            "namespace": self.ns,
            "name": self.name,
            "podIP": self.state.pod_ip,
            "gpus": list(self.gpus),
            "startTime": self.state.start_time,
            "containers": {
                c.name: {
                    "pid": self.refs[c.name][1].pid if c.name in self.refs else 0,
                    "createTime": self.refs[c.name][1].create_time if c.name in self.refs else 0.0,
                    "pgid": self.refs[c.name][1].pgid if c.name in self.refs else 0,
                    "startedAt": c.started_at,
                    "restartCount": c.restart_count,
                    "failures": c.failures,
                    "lastTerminated": c.last_terminated,
                }
                for c in self.containers
            },
        }
        self.dir.mkdir(parents=True, exist_ok=True)
        tmp = self.dir / "state.json.tmp"
        tmp.write_text(json.dumps(rec))
        os.replace(tmp, self.dir / "state.json")

    # --- the pod's life -----------------------------------------------------------------
    async def main(self, record: Obj | None) -> None:
        try:
            adopted = record is not None and record.get("uid") == self.uid
            if adopted:
                self._restore(record)  # type: ignore[arg-type]
            elif not await self._schedule():
                if self.stop.is_set():  # deleted before it ran: nothing to stop, confirm
                    await self._confirm_deletion()
                return
            self.save()
            for i, c in enumerate(self.containers):
                ref = None
                if adopted:
                    r = (record or {}).get("containers", {}).get(c.name) or {}
                    if r.get("pid"):
                        ref = procs.ProcessRef(
                            int(r["pid"]), float(r.get("createTime") or 0), int(r.get("pgid") or 0)
                        )
                self._tasks.append(asyncio.create_task(self._run_container(i, c, ref)))
            if adopted:
                self.announced.set()
            else:
                await self._announce()
            await self.stop.wait()
            await self._terminate()
        except asyncio.CancelledError:  # the plane is stopping: leave the processes running
            for t in self._tasks:
                t.cancel()
            raise
        except Exception:
            log.exception("pod %s/%s", self.ns, self.name)
        finally:
            self.runner.forget(self)

    def _restore(self, rec: Obj) -> None:
        st = self.state
        st.scheduled = True
        st.pod_ip = rec.get("podIP") or ""
        st.start_time = float(rec.get("startTime") or 0) or self.runner.clock()
        self.gpus = tuple(rec.get("gpus") or ())
        try:
            self.requests = pod_requests(self.pod)
        except ValueError:
            self.requests = Requests()
        # keep the transition times the API already shows
        for cond in ((self.pod.get("status") or {}).get("conditions")) or []:
            at = parse_time(cond.get("lastTransitionTime"))
            if at is not None:
                st.transitions[cond.get("type", "")] = (cond.get("status", ""), at)
        for c in self.containers:
            r = (rec.get("containers") or {}).get(c.name) or {}
            c.restart_count = int(r.get("restartCount") or 0)
            c.failures = int(r.get("failures") or 0)
            c.last_terminated = r.get("lastTerminated")
            c.started_at = float(r.get("startedAt") or 0)

    async def _schedule(self) -> bool:
        runner = self.runner
        try:
            self.requests = pod_requests(self.pod)
        except ValueError as exc:
            self.state.unschedulable_message = f"invalid resource request: {exc}"
            await self.write_status()
            await self.stop.wait()
            return False
        told = ""
        while not self.stop.is_set():
            others = [w for w in runner.workers.values() if w is not self and w.state.scheduled]
            placement = schedule(
                self.requests,
                runner.node,
                [w.requests for w in others],
                [g for w in others for g in w.gpus],
            )
            if placement.fits:
                self.gpus = placement.gpus
                break
            if placement.message != told:
                told = placement.message
                self.state.unschedulable_message = told
                await self.event(
                    "FailedScheduling", told, type_="Warning", component="default-scheduler"
                )
                await self.write_status()
            self.wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), runner.settings.unschedulable_retry_s)
        if self.stop.is_set():
            return False
        st = self.state
        st.scheduled = True
        st.start_time = runner.clock()
        st.pod_ip = self._pick_ip((self.pod.get("status") or {}).get("podIP") or None)
        return True

    async def _announce(self) -> None:
        """Bind the pod, tell the scheduler's event, write status: done while the containers
        start (their own events wait for this, so `describe` lists them in order)."""
        runner = self.runner
        try:  # the binding: a bound pod is deleted gracefully (the runner confirms)
            self.pod = await runner.client.patch(
                "Pod", self.name, {"spec": {"nodeName": runner.node.name}}, self.ns
            )
        except NotFound:
            self.mark_deleted()
        except (TidalError, OSError) as exc:
            log.warning("binding %s/%s: %s", self.ns, self.name, exc)
        await self.event(
            "Scheduled",
            f"Successfully assigned {self.ns}/{self.name} to {runner.node.name}",
            component="default-scheduler",
        )
        self.announced.set()
        await self.write_status()

    def _pick_ip(self, wanted: str | None) -> str:
        """A free pod IP (the one the pod had, if still free) whose ports nobody listens on."""
        runner = self.runner
        ports = [
            int(p["containerPort"])
            for c in self._specs()
            for p in c.get("ports") or []
            if p.get("containerPort")
        ]
        taken = runner.ips_in_use(exclude=self)
        if wanted and wanted not in taken and ports_free(wanted, ports):
            return wanted
        ip = ips.allocate(taken, runner.ip_start)
        for _ in range(256):
            if ports_free(ip, ports):
                return ip
            taken.add(ip)
            ip = ips.allocate(taken, runner.ip_start)
        return ip

    def _env(self, spec: Obj, objects: config.Objects | None = None) -> dict[str, str]:
        """The container's environment; ConfigError when a ConfigMap/Secret it names is
        missing (the kubelet's CreateContainerConfigError)."""
        runner = self.runner
        objects = objects or {}
        env: dict[str, str] = (
            plane_env(os.environ, runner.home)
            if runner.settings.inherit_env
            else {"PATH": os.environ.get("PATH", "")}
        )
        base = {
            "POD_IP": self.state.pod_ip,
            "POD_NAME": self.name,
            "POD_NAMESPACE": self.ns,
            "NODE_NAME": runner.node.name,
            "HOSTNAME": self.name,
            "TIDAL_POD_DIR": str(self.work),
        }
        env.update(base)
        api = self._service_account()
        if api is not None:
            host, port = api
            base.update(
                KUBERNETES_SERVICE_HOST=host,
                KUBERNETES_SERVICE_PORT=port,
                KUBERNETES_SERVICE_PORT_HTTPS=port,
                KUBERNETES_PORT=f"tcp://{host}:{port}",
            )
            env.update(base)
        if self.gpus:
            env["CUDA_VISIBLE_DEVICES"] = ",".join(self.gpus)
        elif runner.node.gpus:
            env["CUDA_VISIBLE_DEVICES"] = ""  # no nvidia.com/gpu request: no GPU, as on a cluster
        own: dict[str, str] = dict(base)
        from_sources = config.env_from(spec.get("envFrom") or [], objects)
        own.update(from_sources)
        env.update(from_sources)
        for e in spec.get("env") or []:
            name = e.get("name")
            if not name:
                continue
            vf = e.get("valueFrom") or {}
            value: str | None
            if "value" in e:
                value = expand(str(e.get("value") or ""), own)
            elif vf.get("configMapKeyRef"):
                value = config.key_ref("ConfigMap", vf["configMapKeyRef"], self.ns, objects)
            elif vf.get("secretKeyRef"):
                value = config.key_ref("Secret", vf["secretKeyRef"], self.ns, objects)
            else:
                ref = (vf.get("fieldRef") or {}).get("fieldPath")
                value = (
                    _field_ref(
                        self.pod, ref, self.state.pod_ip, runner.node.name, self.state.host_ip
                    )
                    if ref
                    else ""
                )
            if value is None:  # an optional reference to what is missing: no variable
                continue
            own[name] = value
            env[name] = value
        return env

    async def _fetch_config(self, spec: Obj) -> config.Objects:
        """The ConfigMaps and Secrets the container and the pod's volumes name (None: missing)."""
        out: config.Objects = {}
        for kind, name in sorted(config.references(self.pod, spec)):
            try:
                out[(kind, name)] = await self.runner.client.get(kind, name, self.ns)
            except NotFound:
                out[(kind, name)] = None
        return out

    def _write_volumes(self, objects: config.Objects, *, strict: bool = True) -> None:
        """Each configMap/secret volume's files under `volumes/<name>` (atomically, when they
        changed). `strict`: a missing object raises ConfigError (FailedMount); else the files
        there stay, as the kubelet keeps them."""
        for v in (self.pod.get("spec") or {}).get("volumes") or []:
            try:
                files = config.volume_files(v, objects)
            except config.ConfigError as exc:
                if strict:
                    raise config.ConfigError(
                        f'MountVolume.SetUp failed for volume "{v.get("name")}" : {exc}'
                    ) from None
                continue
            if files is not None and DNS1123.match(str(v.get("name") or "")):
                config.write_volume(self.dir / "volumes" / v["name"], files)

    async def refresh_volumes(self) -> None:
        """Update mounted ConfigMaps/Secrets in place (the kubelet's periodic sync)."""
        if not self.refs or not any(
            v.get("configMap") is not None or v.get("secret") is not None
            for v in (self.pod.get("spec") or {}).get("volumes") or []
        ):
            return
        objects = await self._fetch_config({})
        self._write_volumes(objects, strict=False)

    async def _config_error(self, c: ContainerState, reason: str, event: str, msg: str) -> None:
        """A missing ConfigMap/Secret: the container waits with `reason`; the event once per
        message, as the kubelet's (it retries at each sync)."""
        c.state, c.reason, c.message = "waiting", reason, "" if event == "FailedMount" else msg
        await self.announced.wait()
        await self.write_status()
        if self._config_told.get(c.name) != msg:
            self._config_told[c.name] = msg
            if event == "FailedMount":
                await self.event("FailedMount", msg, type_="Warning")
            else:
                await self.event("Failed", f"Error: {msg}", type_="Warning", container=c.name)

    def _argv(self, spec: Obj, env: dict[str, str]) -> list[str]:
        command = spec.get("command") or []
        args = spec.get("args") or []
        if isinstance(command, str):
            command = ["sh", "-c", command]
        if isinstance(args, str):
            args = [args]
        return [expand(str(a), env) for a in [*command, *args]]

    def _service_account(self) -> tuple[str, str] | None:
        """Write the pod's own token, CA and namespace (once) for the service-account mount;
        the API's (host, port), or None where the pod gets none (isolation unavailable: such
        a pod could read the plane's token anyway; `automountServiceAccountToken: false`)."""
        spec = self.pod.get("spec") or {}
        access = self.runner.api_access()
        if access is None or spec.get("automountServiceAccountToken") is False:
            return None
        host, port, ca_pem, key = access
        folder = self.dir / "serviceaccount"
        if not (folder / "token").exists():
            claims = serviceaccount.Claims(
                self.ns, spec.get("serviceAccountName") or "default", self.name, self.uid
            )
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "ca.crt").write_bytes(ca_pem)
            (folder / "namespace").write_text(self.ns)
            tmp = folder / "token.tmp"
            tmp.write_text(serviceaccount.issue(key, claims, self.runner.clock()))
            os.replace(tmp, folder / "token")
        return host, port

    def _binds(self, spec: Obj) -> list[sandbox.Bind]:
        """The pod's folder, then its volumes at their mount paths (hostPath: arena's
        `--data SRC:DST` is a real bind mount here)."""
        binds = [sandbox.Bind(str(self.work), str(self.work))]
        if (self.dir / "serviceaccount" / "token").exists():
            folder = str(self.dir / "serviceaccount")
            binds.append(sandbox.Bind(folder, serviceaccount.MOUNT_PATH, read_only=True))
        volumes = {v.get("name"): v for v in (self.pod.get("spec") or {}).get("volumes") or []}
        for m in spec.get("volumeMounts") or []:
            vol = volumes.get(m.get("name")) or {}
            dst = str(m.get("mountPath") or "")
            if vol.get("configMap") is not None or vol.get("secret") is not None:
                folder = self.dir / "volumes" / str(vol.get("name"))
                if dst.startswith("/") and folder.is_dir():
                    sub = str(m.get("subPath") or "")
                    src_path = folder / sub if sub and ".." not in sub.split("/") else folder
                    binds.append(sandbox.Bind(str(src_path), dst, read_only=True))
                continue
            src = (vol.get("hostPath") or {}).get("path")
            if not dst.startswith("/") or not src:
                continue
            if m.get("subPath"):
                src = os.path.join(src, m["subPath"])
            home = str(self.runner.home.resolve())
            if sandbox.within(os.path.realpath(src), home):
                raise OSError(f"hostPath {src} is inside the plane's home, which pods cannot see")
            binds.append(sandbox.Bind(src, dst, bool(m.get("readOnly"))))
        return binds

    def _sandbox(self, spec: Obj, cwd: Path) -> list[str]:
        """bwrap and its arguments for this container; [] where pods are not isolated."""
        runner = self.runner
        if runner.isolation_problem is not None:
            return []
        args = sandbox.plan(
            sandbox.RealHost(),
            hidden=[str(runner.home.resolve())],
            binds=self._binds(spec),
            read_only=sandbox.software_paths(),
            cwd=str(cwd),
            hostname=self.name,
            as_root=os.geteuid() == 0,
        )
        return [*sandbox.launcher(), *args]

    async def _warn_unisolated(self) -> None:
        problem = self.runner.isolation_problem
        if problem is not None and not self._warned:
            self._warned = True
            await self.event(
                "IsolationUnavailable", sandbox.isolation_warning(problem), type_="Warning"
            )

    def _log_path(self, index: int, name: str) -> Path:
        return logs.log_file(self.dir, [c.name for c in self.containers], name)

    def log_paths(self) -> list[Path]:
        """The logs of the containers running now (the log clock's input)."""
        return [
            self._log_path(i, c.name) for i, c in enumerate(self.containers) if c.name in self.refs
        ]

    async def _run_container(
        self, index: int, c: ContainerState, ref: procs.ProcessRef | None
    ) -> None:
        runner = self.runner
        policy = (self.pod.get("spec") or {}).get("restartPolicy") or "Always"
        settings = runner.settings
        while not self.stop.is_set():
            spec = self._specs()[index]
            proc = None
            if ref is not None and procs.is_alive(ref):
                c.state, c.reason, c.message, c.pid = "running", "", "", ref.pid
                c.started_at = c.started_at or runner.clock()
                prober = asyncio.create_task(self._probe(c, probes.from_container(spec), None))
                fresh = False  # adopted: its events were told by the runner that started it
            else:
                if ref is not None:  # it ended while no runner watched it
                    self._exited(c, None, runner.clock())
                    ref = None
                    if not self._restart(c, policy):
                        await self.write_status()
                        return
                wait = backoff.delay(c.failures, settings.backoff_initial_s, settings.backoff_max_s)
                if wait > 0:
                    c.state, c.reason = "waiting", "CrashLoopBackOff"
                    c.message = f"back-off {backoff.human(wait)} restarting failed container={c.name} pod={self.name}_{self.ns}({self.uid})"
                    await self.write_status()
                    await self.event(
                        "BackOff",
                        f"Back-off restarting failed container {c.name} in pod {self.name}_{self.ns}({self.uid})",
                        type_="Warning",
                        container=c.name,
                    )
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self.stop.wait(), wait)
                    if self.stop.is_set():
                        return
                try:
                    objects = await self._fetch_config(spec)
                    self._write_volumes(objects)
                    env = self._env(spec, objects)
                except (config.ConfigError, TidalError, OSError) as exc:
                    if not isinstance(exc, config.ConfigError):
                        log.warning("config of %s/%s: %s", self.ns, self.name, exc)
                    mount = str(exc).startswith("MountVolume")
                    await self._config_error(
                        c,
                        "ContainerCreating" if mount else "CreateContainerConfigError",
                        "FailedMount" if mount else "Failed",
                        str(exc),
                    )
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self.stop.wait(), settings.config_retry_s)
                    continue
                self._config_told.pop(c.name, None)
                argv = self._argv(spec, env)
                self.work.mkdir(parents=True, exist_ok=True)
                cwd = Path(spec["workingDir"]) if spec.get("workingDir") else self.work
                try:
                    if not argv:
                        raise OSError(
                            "no command: tidal runs the container's command on the host, not its image"
                        )
                    if runner.isolation_problem is not None:  # no mounts: name the files
                        moved = [b for b in self._binds(spec)[1:] if b.src != b.dst]
                        argv = [sandbox.rewrite_paths(a, moved) for a in argv]
                        for e in spec.get("env") or []:
                            if e.get("name") in env:
                                env[e["name"]] = sandbox.rewrite_paths(env[e["name"]], moved)
                    wrapper = self._sandbox(spec, cwd)
                    await self._warn_unisolated()
                    if c.restart_count > 0:  # keep the last instance's log for --previous
                        logs.rotate(self._log_path(index, c.name))
                        runner.log_clock.seen.pop(self._log_path(index, c.name), None)
                    outer = self.work if wrapper else cwd  # workingDir may exist inside only
                    proc, ref = await asyncio.to_thread(
                        procs.spawn, argv, env, outer, self._log_path(index, c.name), wrapper
                    )
                except OSError as exc:
                    now = runner.clock()
                    msg = f"failed to start container {c.name!r}: {exc}"
                    await self.announced.wait()
                    await self._pulled(c)
                    await self.event("Failed", f"Error: {msg}", type_="Warning", container=c.name)
                    c.exit_code, c.reason = 128, "StartError"
                    c.failures += 1
                    c.last_terminated = terminated(128, "StartError", 0, now, msg)
                    if not self._restart(c, policy):
                        await self.write_status()
                        return
                    continue
                self.refs[c.name] = (proc, ref)
                c.state, c.reason, c.message, c.pid = "running", "", "", ref.pid
                c.started_at = runner.clock()
                # probe at once; the bookkeeping below runs while the process starts up
                prober = asyncio.create_task(self._probe(c, probes.from_container(spec), None))
                fresh = True
            self.refs[c.name] = (proc, ref)
            try:
                if fresh:
                    self.save()
                    await self.announced.wait()
                    await self._pulled(c)
                    await self.event("Created", f"Created container: {c.name}", container=c.name)
                    await self.event("Started", f"Started container {c.name}", container=c.name)
                await self.write_status()
                code = await procs.wait_exit(ref, proc)
            finally:
                prober.cancel()
            runner.log_clock.tick([self._log_path(index, c.name)], prune=False)
            if self.stop.is_set():
                return  # termination owns the rest
            procs.kill_leftovers(ref)
            self._exited(c, code, runner.clock())
            ref = None
            self.refs.pop(c.name, None)
            if not self._restart(c, policy):
                c.state = "terminated"
                self.save()
                await self.write_status()
                return
            self.save()
            await self.write_status()

    async def _pulled(self, c: ContainerState) -> None:
        if c.image:
            await self.event(
                "Pulled",
                f'Container image "{c.image}" already present on machine',
                container=c.name,
            )

    def _exited(self, c: ContainerState, code: int | None, now: float) -> None:
        if code is None:  # adopted process: its exit code could not be read
            c.exit_code, c.reason = 137, "ContainerStatusUnknown"
            msg = "The container exited while the control plane was down; its exit code is unknown"
        else:
            c.exit_code, c.reason, msg = code, ("Completed" if code == 0 else "Error"), ""
            if code:
                msg = self._fallback_message(c.name)
        c.finished_at = now
        c.ready = False
        c.last_terminated = terminated(c.exit_code, c.reason, c.started_at, now, msg, c.pid)
        c.failures = backoff.failures_after_exit(
            c.failures, now - c.started_at, self.runner.settings.backoff_max_s
        )

    def _fallback_message(self, name: str) -> str:
        """`terminationMessagePolicy: FallbackToLogsOnError`: a failed container's termination
        message is the end of its log (as the kubelet: 80 lines, 2048 bytes at most)."""
        for index, spec in enumerate(self._specs()):
            if spec.get("name") == name:
                if spec.get("terminationMessagePolicy") != "FallbackToLogsOnError":
                    return ""
                try:
                    with open(self._log_path(index, name), "rb") as f:
                        f.seek(0, os.SEEK_END)
                        f.seek(max(f.tell() - 2048, 0))
                        tail = f.read().decode(errors="replace")
                except OSError:
                    return ""
                return "\n".join(tail.splitlines()[-80:]).strip()
        return ""

    def _restart(self, c: ContainerState, policy: str) -> bool:
        """Whether the container starts again (and count the restart)."""
        if policy == "Never" or (policy == "OnFailure" and c.exit_code == 0):
            c.state = "terminated"
            return False
        c.restart_count += 1
        c.state, c.reason, c.message = "waiting", "ContainerCreating", ""
        return True

    async def _probe(
        self, c: ContainerState, probe: probes.Probe, env: dict[str, str] | None
    ) -> None:
        if probe.kind == "none":
            c.ready = True
            await self.write_status()
            return
        if probe.initial_delay_s:
            await asyncio.sleep(probe.initial_delay_s)
        ok_n = bad_n = 0
        while True:
            ok = await probes.check(probe, self.state.pod_ip, env)
            if ok:
                ok_n, bad_n = ok_n + 1, 0
                if not c.ready and ok_n >= probe.success_threshold and not self.state.terminating:
                    c.ready = True
                    await self.write_status()
            else:
                ok_n, bad_n = 0, bad_n + 1
                if c.ready and bad_n >= probe.failure_threshold:
                    c.ready = False
                    await self.write_status()
            await asyncio.sleep(probe.period_s if c.ready else min(probe.period_s, FAST_PROBE_S))

    async def _terminate(self) -> None:
        """Out of Endpoints (Ready false), a beat, SIGTERM, grace period, SIGKILL."""
        runner = self.runner
        self.state.terminating = True
        for c in self.containers:
            c.ready = False
        if not self.deleted:
            await self.write_status()
        if any(procs.is_alive(ref) for _, ref in self.refs.values()):
            await asyncio.sleep(runner.settings.endpoint_drain_s)
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        meta = self.pod.get("metadata") or {}
        grace = meta.get("deletionGracePeriodSeconds")
        if grace is None:
            grace = (self.pod.get("spec") or {}).get("terminationGracePeriodSeconds")
        grace_s = 30.0 if grace is None else float(grace)
        live = [(name, p, ref) for name, (p, ref) in self.refs.items() if procs.is_alive(ref)]
        for name, _, _ in live:
            await self.event("Killing", f"Stopping container {name}", container=name)
        await asyncio.gather(*(procs.terminate(ref, p, grace_s) for _, p, ref in live))
        shutil.rmtree(self.dir, ignore_errors=True)
        await self._confirm_deletion()

    async def _confirm_deletion(self) -> None:
        """Graceful deletion: the kubelet confirms with the final delete (grace 0)."""
        runner = self.runner
        if not self.deleted:
            with contextlib.suppress(NotFound, TidalError, OSError):
                try:
                    await runner.client.delete("Pod", self.name, self.ns, grace_period_seconds=0)  # type: ignore[call-arg]
                except TypeError:  # a client without the parameter
                    await runner.client.delete("Pod", self.name, self.ns)


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
    def _records(self) -> dict[str, Obj]:
        out: dict[str, Obj] = {}
        root = self.home / "pods"
        for f in root.glob("*/*/state.json"):
            try:
                rec = json.loads(f.read_text())
            except (OSError, ValueError):
                continue
            rec["_dir"] = str(f.parent)
            out[rec.get("uid", "")] = rec
        return out

    def _sweep_orphans(self, records: dict[str, Obj], live_uids: set[str]) -> None:
        """Kill the processes of pods that no longer exist (deleted while no runner ran)."""
        for uid, rec in records.items():
            if uid in live_uids:
                continue
            for c in (rec.get("containers") or {}).values():
                if c.get("pid"):
                    ref = procs.ProcessRef(
                        int(c["pid"]), float(c.get("createTime") or 0), int(c.get("pgid") or 0)
                    )
                    if procs.is_alive(ref):
                        log.info(
                            "killing orphan pid %d of gone pod %s/%s",
                            ref.pid,
                            rec.get("namespace"),
                            rec.get("name"),
                        )
                        procs.signal_tree(ref, 9)
            shutil.rmtree(rec["_dir"], ignore_errors=True)

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
                    records = self._records()
                    live = {(p.get("metadata") or {}).get("uid", "") for p in items}
                    self._sweep_orphans(records, live)
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
