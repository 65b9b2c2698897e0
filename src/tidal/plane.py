"""The local control plane, one asyncio (uvloop) process: `python -m tidal.plane --home DIR`.

It composes the API server (HTTPS on loopback, `tidal.server.serve`), the controllers
(InferenceService, Deployment, Endpoints, HPA, CronHPA, KPA) on the
in-process client, the pod runner, the metrics (resource sampler, custom/external metrics
pipeline), and supervises the router, a separate process in its own session (started, or adopted
when a live one from an earlier plane is found: pid + process start time in `router.pid`).

Settings persist in `$home/config.yaml`: a later `tidal up` without flags reuses the same ports, so
a router and pods that outlived a killed plane stay reachable. Readiness is announced by writing
`$home/plane.ready` (JSON: pid, api url, ports) once everything listens.

SIGTERM/SIGINT (`tidal down`) stops everything the plane runs: controllers, the router and the
pods' processes; the objects stay in SQLite. A kill -9 stops only the plane: the router and pods
keep serving, and the next plane adopts them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import psutil

from tidal.api import errors
from tidal.api.client import ApiClient
from tidal.autoscaling import profiles
from tidal.client.kubeconfig import write_kubeconfig
from tidal.controllers.inferenceservice import install_builtin_runtimes
from tidal.controllers.manager import CONTROLLERS, Manager, Settings, parse_names
from tidal.home import (
    FAILED,
    PLANE_PID,
    READY,
    ROUTER_PID,
    PlaneConfig,
    add_plane_flags,
    alive,
    config_from,
    pid_record,
    read_json,
    save_config,
    write_json,
)
from tidal.metrics.gpu import open_backend
from tidal.metrics.pipeline import MetricsPipeline, MetricsSettings
from tidal.metrics.requests import RouterRequestStats
from tidal.metrics.resource import ResourceMetricsApi, ResourceSampler
from tidal.pods import backoff
from tidal.pods.process import terminate
from tidal.pods.runner import PodRunner, RunnerSettings
from tidal.server.inprocess import InProcessClient
from tidal.server.registry import Registry
from tidal.server.serve import start_api

log = logging.getLogger("tidal.plane")
# The home's files, pid records and the plane's settings (config.yaml, flags): tidal.home.


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


# ---- the router process ---------------------------------------------------------------------------
ROUTER_PORTS = "router.ports"


class PortInUse(Exception):
    """A port the plane needs is held by another process (the message names both)."""


def port_owner(port: int) -> str:
    """`pid 123 (nginx)` for the process listening on `port`, when this user may see it."""
    try:
        for c in psutil.net_connections(kind="tcp"):
            if c.laddr and c.laddr.port == port and c.status == psutil.CONN_LISTEN and c.pid:
                with contextlib.suppress(psutil.Error):
                    return f"pid {c.pid} ({psutil.Process(c.pid).name()})"
                return f"pid {c.pid}"
    except (psutil.Error, OSError):
        pass
    return "another process"


def port_taken(port: int, what: str, flag: str) -> PortInUse:
    return PortInUse(
        f"the {what} port {port} is in use by {port_owner(port)}; stop it, or choose another "
        f"port with `tidal up {flag} N`"
    )


def bind_listener(port: int, what: str, flag: str, host: str = "127.0.0.1") -> socket.socket:
    """A listening socket on host:port, or `PortInUse` naming the port and its holder."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(1024)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise port_taken(port, what, flag) from exc
        raise
    return sock


class RouterSupervisor:
    """Runs the router in its own session, or adopts a live one that answers as ours, and
    restarts it at once when it dies (with back-off when it keeps dying:
    `tidal.pods.backoff.supervised_restart`).

    The plane binds the ingress and admin ports itself and passes the listening sockets to the
    router: a port held by someone else is a clear start-up error, and while the router restarts
    the kernel queues new connections instead of refusing them. Its exit is noticed through a
    pidfd (no polling), and a spare router (`--standby`: started, imports done, waiting on its
    stdin) takes over at once, so a killed router routes again in tens of milliseconds rather
    than a Python start-up; a new spare is started after it. A spare whose plane dies sees end
    of file on its stdin and exits.
    """

    def __init__(self, home: Path, cfg: PlaneConfig) -> None:
        self.home = home
        self.cfg = cfg
        self.proc: subprocess.Popen[bytes] | None = None
        self.spare: subprocess.Popen[bytes] | None = None
        self.record: dict[str, Any] | None = None
        self.socks: list[socket.socket] = []
        self.failures = 0
        self.started_at = time.monotonic()
        self.restarts = 0

    def _matches(self, rec: dict[str, Any]) -> bool:
        return (
            rec.get("port") == self.cfg.ingress_port
            and rec.get("admin_port") == self.cfg.admin_port
        )

    def _token(self) -> str:
        try:
            return (self.home / "token").read_text().strip()
        except OSError:
            return ""

    def answers_as_ours(self, rec: dict[str, Any]) -> bool:
        """The router on the admin port says it is the recorded process on our ports (an
        identifying request with the plane's token, not just an open port)."""
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.cfg.admin_port}/healthz",
            headers={"Authorization": f"Bearer {self._token()}"},
        )
        try:
            opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
            with opener.open(req, timeout=3) as resp:
                doc = json.loads(resp.read())
        except (OSError, ValueError):
            return False
        return (
            doc.get("pid") == rec.get("pid")
            and doc.get("port") == self.cfg.ingress_port
            and doc.get("admin_port") == self.cfg.admin_port
        )

    def claim(self) -> None:
        """At plane start: adopt a live router of ours, else bind its ports (`PortInUse`)."""
        rec = read_json(self.home / ROUTER_PID)
        if alive(rec) and rec is not None:
            if self._matches(rec) and self.answers_as_ours(rec):
                log.info("adopted router pid %s", rec["pid"])
                self.record = rec
                return
            log.info("router pid %s has other ports or does not answer; replacing it", rec["pid"])
            self._kill(rec)
        self._bind()

    def _bind(self) -> None:
        if not self.socks:
            ingress = bind_listener(self.cfg.ingress_port, "ingress", "--ingress-port")
            try:
                admin = bind_listener(self.cfg.admin_port, "router admin", "--admin-port")
            except Exception:
                ingress.close()
                raise
            self.socks = [ingress, admin]

    def ensure(self) -> None:
        """Start the router unless one (adopted or ours) runs."""
        if alive(self.record):
            return
        self._bind()
        self._start()

    def _argv(self, standby: bool) -> list[str]:
        ingress, admin = self.socks
        return [
            sys.executable,
            "-m",
            "tidal.router",
            "--kubeconfig",
            str(self.home / "kubeconfig"),
            "--port",
            str(self.cfg.ingress_port),
            "--admin-port",
            str(self.cfg.admin_port),
            "--listen-fd",
            str(ingress.fileno()),
            "--admin-fd",
            str(admin.fileno()),
            "--admin-token-file",
            str(self.home / "token"),
            "--state-file",
            str(self.home / "router-state.json"),
            "--ports-file",
            str(self.home / ROUTER_PORTS),
            *(["--standby"] if standby else []),
        ]

    def _spawn(self, standby: bool) -> subprocess.Popen[bytes]:
        log_file = open(self.home / "router.log", "ab")
        try:
            return subprocess.Popen(
                self._argv(standby),
                stdin=subprocess.PIPE if standby else subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                close_fds=True,
                pass_fds=tuple(s.fileno() for s in self.socks),
            )
        finally:
            log_file.close()

    def _promote_spare(self) -> subprocess.Popen[bytes] | None:
        spare, self.spare = self.spare, None
        if spare is None or spare.poll() is not None or spare.stdin is None:
            return None
        try:
            spare.stdin.write(b"g")
            spare.stdin.flush()
        except OSError:
            return None
        return spare

    def refill(self) -> None:
        """Keep one spare router waiting (when this plane owns the sockets)."""
        if self.socks and (self.spare is None or self.spare.poll() is not None):
            self.spare = self._spawn(standby=True)

    def _start(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            (self.home / ROUTER_PORTS).unlink()
        self.proc = self._promote_spare() or self._spawn(standby=False)
        self.started_at = time.monotonic()
        rec = pid_record(self.proc.pid)
        rec.update(port=self.cfg.ingress_port, admin_port=self.cfg.admin_port)
        write_json(self.home / ROUTER_PID, rec)
        self.record = rec
        log.info("started router pid %s on :%s", self.proc.pid, self.cfg.ingress_port)

    async def wait_ready(self, timeout_s: float = 30.0) -> None:
        """The router we started wrote its ports file (it listens and routes), or the adopted
        one runs; else an error naming what happened (from router.log)."""
        if self.proc is None:
            if alive(self.record):
                return
            raise RuntimeError("the adopted router is gone")
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            ports = read_json(self.home / ROUTER_PORTS)
            if ports and ports.get("pid") == self.proc.pid:
                return
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"the router exited (code {self.proc.returncode}) at start-up; "
                    f"{self.home / 'router.log'} ends with: {_last_line(self.home / 'router.log')}"
                )
            await asyncio.sleep(0.02)
        raise RuntimeError(f"the router did not start in {timeout_s:.0f}s (see router.log)")

    def _kill(self, rec: dict[str, Any], grace_s: float = 5.0) -> None:
        try:
            p = psutil.Process(int(rec["pid"]))
            os.killpg(p.pid, signal.SIGTERM)
            p.wait(grace_s)
        except psutil.TimeoutExpired:
            with contextlib.suppress(OSError):
                os.killpg(int(rec["pid"]), signal.SIGKILL)
        except (psutil.Error, OSError):
            pass
        if self.proc is not None:
            with contextlib.suppress(Exception):
                self.proc.wait(1)

    def _stop_spare(self) -> None:
        spare, self.spare = self.spare, None
        if spare is not None:
            with contextlib.suppress(OSError):
                if spare.stdin is not None:
                    spare.stdin.close()  # end of file: the spare exits by itself
            try:
                spare.wait(5)
            except subprocess.TimeoutExpired:
                spare.kill()
                spare.wait(5)

    def stop(self) -> None:
        self._stop_spare()
        if self.record and alive(self.record):
            self._kill(self.record)
        for s in self.socks:
            s.close()
        self.socks = []
        for name in (ROUTER_PID, ROUTER_PORTS):
            with contextlib.suppress(FileNotFoundError):
                (self.home / name).unlink()

    def abandon(self) -> None:
        """A failed plane start: stop the router this plane started and close its sockets; an
        adopted router keeps serving (as after a kill -9 of the plane)."""
        self._stop_spare()
        if self.proc is not None and self.record and alive(self.record):
            self._kill(self.record)
        for s in self.socks:
            s.close()
        self.socks = []

    async def _exited(self) -> None:
        """Returns when the recorded router process has exited (pidfd; polling as a fallback)."""
        rec = self.record
        if not alive(rec) or rec is None:
            return
        loop = asyncio.get_running_loop()
        try:
            fd = os.pidfd_open(int(rec["pid"]))
        except (OSError, AttributeError):
            while alive(rec):
                await asyncio.sleep(0.05)
            return
        try:
            if not alive(rec):  # gone between the check and the pidfd (or a reused pid)
                return
            done = loop.create_future()
            loop.add_reader(fd, lambda: done.done() or done.set_result(None))
            try:
                await done
            finally:
                loop.remove_reader(fd)
        finally:
            os.close(fd)

    async def supervise(self) -> None:
        while True:
            try:
                self.refill()
            except OSError as exc:
                log.warning("cannot start a spare router: %s", exc)
            await self._exited()
            if self.proc is not None:
                self.proc.poll()  # reap our child
            ran = time.monotonic() - self.started_at
            self.failures, wait = backoff.supervised_restart(self.failures, ran)
            log.warning(
                "router pid %s exited; restarting it%s",
                (self.record or {}).get("pid"),
                f" in {wait:g}s ({self.failures} quick exits in a row)" if wait else "",
            )
            if wait:
                await asyncio.sleep(wait)
            try:
                self.record = None
                self.ensure()
                self.restarts += 1
            except PortInUse as exc:  # an adopted router's port taken meanwhile
                log.error("cannot restart the router: %s", exc)
                self.started_at = time.monotonic()
            except Exception:
                log.exception("router supervision")
                self.started_at = time.monotonic()


def _last_line(path: Path) -> str:
    try:
        lines = [x for x in path.read_text(errors="replace").splitlines() if x.strip()]
    except OSError:
        return ""
    return lines[-1] if lines else ""


INGRESS_NAMESPACE = "kube-system"
INGRESS_SERVICE = "nginx-ingress-lb"


async def ensure_ingress_service(client: ApiClient, port: int) -> None:
    """The seed finds its ingress with `kubectl -n kube-system get svc nginx-ingress-lb
    -ojsonpath='{.status.loadBalancer.ingress[0].ip}'`: the router answers that Service's role
    here, so it exists with the router's address and port."""
    svc = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": INGRESS_SERVICE,
            "namespace": INGRESS_NAMESPACE,
            "labels": {"app": "tidal-router"},
        },
        "spec": {
            "type": "LoadBalancer",
            "ports": [{"name": "http", "port": port, "targetPort": port, "protocol": "TCP"}],
        },
    }
    try:
        current = await client.get("Service", INGRESS_SERVICE, INGRESS_NAMESPACE)
    except errors.NotFound:
        current = await client.create(svc)
    else:
        if current["spec"].get("ports") != svc["spec"]["ports"]:
            current["spec"]["ports"] = svc["spec"]["ports"]
            current = await client.update(current)
    status = {"loadBalancer": {"ingress": [{"ip": "127.0.0.1"}]}}
    if current.get("status") != status:
        current["status"] = status
        await client.update(current, subresource="status")


# ---- the plane ------------------------------------------------------------------------------------
class Plane:
    def __init__(self, home: Path, cfg: PlaneConfig) -> None:
        self.home = home
        self.cfg = cfg
        self.tasks: list[asyncio.Task[Any]] = []
        self.controllers: Manager | None = None
        self.stoppers: list[Callable[[], Awaitable[None]]] = []
        self.stop_event = asyncio.Event()
        self.router = RouterSupervisor(home, cfg)
        self.runner: Any = None
        self.api: Any = None
        self.registry: Any = None
        self.router_listening = False
        self.sampler: Any = None
        self.dashboard: Any = None

    def spawn(self, coro: Awaitable[Any], name: str) -> None:
        async def guarded() -> None:
            try:
                await coro
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("component %s crashed", name)

        self.tasks.append(asyncio.create_task(guarded(), name=name))

    async def start(self) -> None:
        cfg, home = self.cfg, self.home
        self.router.claim()  # the ingress/admin ports are ours (or our live router's) first
        self.registry = Registry.open(home)
        try:
            self.api = await start_api(self.registry, home, port=cfg.api_port)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise port_taken(cfg.api_port, "API", "--api-port") from exc
            raise
        write_kubeconfig(home, self.api.url, self.api.ca_pem, self.api.token)
        client = InProcessClient(self.registry, raw=self.api.app.get_raw)
        self.client = client
        await ensure_ingress_service(client, cfg.ingress_port)
        await install_builtin_runtimes(client)  # KServe's ClusterServingRuntimes (docs/RUNTIMES.md)

        profile = profiles.get(cfg.hpa_profile)
        gpu_backend = open_backend(cfg.fake_gpus)
        gpus = [str(d.index) for d in gpu_backend.devices()] if gpu_backend else []
        # pods first: the runner adopts what still runs before controllers act
        settings = RunnerSettings(enforce_capacity=cfg.enforce_capacity)
        self.runner = PodRunner(client, home, gpus=gpus, settings=settings)
        self.spawn(self.runner.run(), "pod-runner")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.runner.started.wait(), 30)

        admin_url = f"http://127.0.0.1:{cfg.admin_port}"
        settings = Settings(
            domain=cfg.domain,
            hpa_profile=profile.name,
            router_stats=RouterRequestStats(admin_url, token=self.api.token),
            resync_s=cfg.resync_s,
        )
        names = parse_names(cfg.controllers, tuple(CONTROLLERS))
        self.controllers = Manager(client, names, settings)
        await self.controllers.start()

        self._start_metrics(client, profile, gpu_backend)
        self.router.ensure()
        await self.router.wait_ready()
        self.router_listening = True
        self.spawn(self.router.supervise(), "router-supervisor")
        if cfg.dashboard:
            await self._start_dashboard()

    async def _start_dashboard(self) -> None:
        """The live dashboard (tidal.dashboard): loopback only, behind the plane's token."""
        from tidal.dashboard.plane import start

        try:
            self.dashboard = await start(self)
        except Exception:  # the plane serves without its dashboard rather than not at all
            log.exception("the dashboard failed to start")

    def _start_metrics(self, client: Any, profile: profiles.Profile, gpu_backend: Any) -> None:
        resolution = self.cfg.metrics_resolution_s or profile.metric_resolution_s
        window = self.cfg.metrics_window_s or profile.metric_window_s
        sampler = ResourceSampler(self.runner.pod_targets, resolution_s=resolution, window_s=window)
        self.sampler = sampler
        self.api.app.register_api("metrics.k8s.io/v1beta1", ResourceMetricsApi(sampler))
        self.spawn(sampler.run(), "resource-metrics")
        settings = MetricsSettings(
            resolution_s=resolution,
            window_s=max(window, resolution * 2),
            fake_gpus=self.cfg.fake_gpus,
            router_admin_url=f"http://127.0.0.1:{self.cfg.admin_port}",
            token=self.api.token,
            prometheus=self.cfg.prometheus,
            prometheus_rules=self.cfg.prometheus_rules,
        )
        pipeline = MetricsPipeline(
            client, self.home, settings, pod_roots=self._pod_roots, gpu_backend=gpu_backend
        )
        for group_version, provider in pipeline.providers().items():
            self.api.app.register_api(group_version, provider)
        self.spawn(pipeline.run(), "metrics-pipeline")

    def _pod_roots(self) -> dict[tuple[str, str], int]:
        if self.runner is None:
            return {}
        out: dict[tuple[str, str], int] = {}
        for t in self.runner.pod_targets():
            if t.containers:
                out[(t.namespace, t.name)] = t.containers[0][1]
        return out

    async def stop(self, *, everything: bool) -> None:
        """Stop the plane; with `everything` (tidal down) also the router and the pods."""
        self.stop_event.set()
        if self.controllers is not None:
            await self.controllers.stop()
        if everything:
            await self._delete_controlled_pods()
        for t in self.tasks:
            t.cancel()
        for t in self.tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        if everything:
            self.router.stop()
            await self._stop_pods()
        elif self.runner is not None:
            with contextlib.suppress(Exception):
                await self.runner.stop()
        if self.dashboard is not None:
            await self.dashboard.stop()
        if self.api is not None:
            await self.api.stop()
        if self.registry is not None:
            self.registry.close()

    async def _delete_controlled_pods(self, timeout_s: float = 40.0) -> None:
        """`tidal down`: pods a controller owns (a Deployment's ReplicaSet's) are deleted through
        the API, so the runner drains and stops them as Kubernetes does, and the next `tidal up`
        makes fresh ones (not crash-loop restarts). Controllers (the replicaset controller among
        them) are already stopped, so none is replaced."""
        if self.runner is None:
            return
        try:
            pods = (await self.client.list("Pod")).get("items", [])
        except Exception:
            log.exception("listing pods to stop them")
            return
        owned = [
            p
            for p in pods
            if any(r.get("controller") for r in p["metadata"].get("ownerReferences") or [])
        ]
        log.info("deleting %d pods owned by controllers", len(owned))
        for p in owned:
            try:
                await self.client.delete("Pod", p["metadata"]["name"], p["metadata"]["namespace"])
            except Exception as exc:
                log.warning("deleting pod %s: %s", p["metadata"]["name"], exc)
        uids = {p["metadata"].get("uid") for p in owned}
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and uids & set(self.runner.workers):
            await asyncio.sleep(0.1)

    async def _stop_pods(self) -> None:
        if self.runner is None:
            return
        refs = [
            ref for w in list(self.runner.workers.values()) for (_, ref) in list(w.refs.values())
        ]
        with contextlib.suppress(Exception):
            await self.runner.stop()
        await asyncio.gather(*(terminate(ref, None, 10.0) for ref in refs), return_exceptions=True)


async def amain(home: Path, cfg: PlaneConfig) -> int:
    home.mkdir(parents=True, exist_ok=True)
    os.chmod(home, 0o700)
    other = read_json(home / PLANE_PID)
    if alive(other) and other is not None and other.get("pid") != os.getpid():
        print(f"tidal: a plane already runs for {home} (pid {other['pid']})", file=sys.stderr)
        return 1
    with contextlib.suppress(FileNotFoundError):
        (home / READY).unlink()
    if not cfg.api_port:
        cfg.api_port = free_port()
    if not cfg.admin_port:
        cfg.admin_port = free_port()
    if not cfg.ingress_port:
        cfg.ingress_port = free_port()
    if not cfg.dashboard_port:
        cfg.dashboard_port = free_port()
    save_config(home, cfg)
    write_json(home / PLANE_PID, pid_record(os.getpid()))

    plane = Plane(home, cfg)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    with contextlib.suppress(FileNotFoundError):
        (home / FAILED).unlink()
    try:
        await plane.start()
    except Exception as exc:
        if isinstance(exc, PortInUse):
            log.error("the plane cannot start: %s", exc)
        else:
            log.exception("the plane failed to start")
        write_json(home / FAILED, {"pid": os.getpid(), "error": str(exc) or repr(exc)})
        await plane.stop(everything=False)
        plane.router.abandon()
        with contextlib.suppress(FileNotFoundError):
            (home / PLANE_PID).unlink()
        return 2 if isinstance(exc, PortInUse) else 1
    write_json(
        home / READY,
        {
            "pid": os.getpid(),
            "api": plane.api.url,
            "ingress_port": cfg.ingress_port,
            "admin_port": cfg.admin_port,
            "kubeconfig": str(home / "kubeconfig"),
            "router_listening": plane.router_listening,
            "dashboard": plane.dashboard.login_url if plane.dashboard is not None else None,
        },
    )
    log.info("plane ready: api %s, ingress :%s", plane.api.url, cfg.ingress_port)
    await stop.wait()
    log.info("stopping")
    with contextlib.suppress(FileNotFoundError):
        (home / READY).unlink()
    await plane.stop(everything=True)
    with contextlib.suppress(FileNotFoundError):
        (home / PLANE_PID).unlink()
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tidal.plane")
    p.add_argument("--home", required=True)
    add_plane_flags(p)
    args = p.parse_args(argv)
    logging.basicConfig(
        level=os.environ.get("TIDAL_LOG_LEVEL", "INFO"),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for noisy in ("httpx", "httpcore"):  # one line per scrape otherwise
        logging.getLogger(noisy).setLevel(logging.WARNING)
    home = Path(args.home).expanduser().resolve()
    home.mkdir(parents=True, exist_ok=True)
    cfg = config_from(home, args)
    # Pods inherit this environment: `python` in a pod's command is the plane's Python (the
    # venv tidal is installed in), as a container image would bring its own.
    bindir = str(Path(sys.executable).parent)
    path = os.environ.get("PATH", "")
    if path.split(os.pathsep)[0] != bindir:
        os.environ["PATH"] = os.pathsep.join([bindir, path]) if path else bindir
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    return asyncio.run(amain(home, cfg))


if __name__ == "__main__":
    sys.exit(main())
