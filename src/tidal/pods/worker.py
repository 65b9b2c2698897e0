"""One pod's life on this node (`PodWorker`): schedule it, bind it, run each container with
restarts and back-off, probe readiness, write its status and events, terminate it.

The runner (`runner.py`) creates a worker per Pod and feeds it the watch's updates; the
environment (`env.py`), mounts and sandbox (`mounts.py`), saved state (`state.py`) and a
container's exits and readiness (`lifecycle.py`) are decided apart. Over 400 lines (about
520): the container loop is one sequence (adopt or start, back-off, config, spawn, wait,
restart) over the worker's events, status and saved state, and reads best whole beside them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import socket
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tidal.api.client import Obj
from tidal.api.errors import NotFound, TidalError
from tidal.api.events import make_event
from tidal.pods import backoff, config, ips, lifecycle, logs, mounts, probes, sandbox
from tidal.pods import env as env_
from tidal.pods import process as procs
from tidal.pods import state as saved
from tidal.pods.schedule import Requests, pod_requests, schedule
from tidal.pods.status import ContainerState, PodState, pod_status, qos_class, terminated

if TYPE_CHECKING:
    from tidal.pods.runner import PodRunner

log = logging.getLogger("tidal.pods")


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
        rec = saved.record(
            self.uid, self.ns, self.name, self.state, self.gpus, self.containers, self.refs
        )
        saved.write(self.dir, rec)

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
                ref = saved.process_ref(record, c.name) if adopted and record else None
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
        self.gpus = saved.restore(rec, self.pod, self.state, self.containers, self.runner.clock)
        try:
            self.requests = pod_requests(self.pod)
        except ValueError:
            self.requests = Requests()

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
        """The container's environment (`env.container_env`); writes the service account's
        files first."""
        runner = self.runner
        api = mounts.service_account(self.pod, self.dir, runner.api_access(), runner.clock)
        return env_.container_env(
            self.pod,
            spec,
            objects or {},
            start=env_.plane_env(os.environ, runner.home)
            if runner.settings.inherit_env
            else {"PATH": os.environ.get("PATH", "")},
            pod_ip=self.state.pod_ip,
            host_ip=self.state.host_ip,
            node_name=runner.node.name,
            work=self.work,
            api=api,
            gpus=self.gpus,
            node_has_gpus=bool(runner.node.gpus),
        )

    async def _fetch_config(self, spec: Obj) -> config.Objects:
        """The ConfigMaps and Secrets the container and the pod's volumes name (None: missing)."""
        out: config.Objects = {}
        for kind, name in sorted(config.references(self.pod, spec)):
            try:
                out[(kind, name)] = await self.runner.client.get(kind, name, self.ns)
            except NotFound:
                out[(kind, name)] = None
        return out

    async def refresh_volumes(self) -> None:
        """Update mounted ConfigMaps/Secrets in place (the kubelet's periodic sync)."""
        if not self.refs or not mounts.has_config_volumes(self.pod):
            return
        objects = await self._fetch_config({})
        mounts.write_volumes(self.pod, self.dir, objects, strict=False)

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

    def _binds(self, spec: Obj) -> list[sandbox.Bind]:
        return mounts.binds(self.pod, spec, self.dir, self.work, self.runner.home)

    def _sandbox(self, spec: Obj, cwd: Path) -> list[str]:
        """bwrap and its arguments for this container; [] where pods are not isolated."""
        runner = self.runner
        if runner.isolation_problem is not None:
            return []
        return mounts.wrapper(self.pod, spec, self.dir, self.work, runner.home, cwd, self.name)

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
                prober = asyncio.create_task(self._probe(c, probes.from_container(spec)))
                fresh = False  # adopted: its events were told by the runner that started it
            else:
                if ref is not None:  # it ended while no runner watched it
                    self._exited(c, None, runner.clock())
                    ref = None
                    if not lifecycle.restart(c, policy):
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
                    mounts.write_volumes(self.pod, self.dir, objects)
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
                argv = env_.argv(spec, env)
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
                    if not lifecycle.restart(c, policy):
                        await self.write_status()
                        return
                    continue
                self.refs[c.name] = (proc, ref)
                c.state, c.reason, c.message, c.pid = "running", "", "", ref.pid
                c.started_at = runner.clock()
                # probe at once; the bookkeeping below runs while the process starts up
                prober = asyncio.create_task(self._probe(c, probes.from_container(spec)))
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
            if not lifecycle.restart(c, policy):
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
        message = self._fallback_message(c.name) if code else ""
        lifecycle.exited(c, code, now, self.runner.settings.backoff_max_s, message)

    def _fallback_message(self, name: str) -> str:
        for index, spec in enumerate(self._specs()):
            if spec.get("name") == name:
                return lifecycle.fallback_message(spec, self._log_path(index, name))
        return ""

    async def _probe(self, c: ContainerState, probe: probes.Probe) -> None:
        await lifecycle.keep_ready(c, probe, self.state, None, self.write_status)

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
        grace_s = lifecycle.grace_seconds(self.pod)
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
