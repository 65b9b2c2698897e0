"""The local control plane, one asyncio (uvloop) process: `python -m tidal.plane --home DIR`.

It composes the API server (HTTPS on loopback, `tidal.server.serve`), the controllers
(InferenceService, Deployment, Endpoints; HPA, CronHPA and KPA when their modules exist) on the
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
import importlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import psutil
import yaml

log = logging.getLogger("tidal.plane")

CONFIG = "config.yaml"
PLANE_PID = "plane.pid"
ROUTER_PID = "router.pid"
READY = "plane.ready"


@dataclass
class PlaneConfig:
    """What `tidal up` sets; persisted in config.yaml (ports chosen once are kept)."""

    api_port: int = 0
    ingress_port: int = 8080
    admin_port: int = 0
    domain: str = "example.com"
    hpa_profile: str | None = None
    fake_gpus: int | None = None
    prometheus: str | None = None
    prometheus_rules: str | None = None
    enforce_capacity: bool = False
    resync_s: float = 10.0
    metrics_resolution_s: float | None = None
    metrics_window_s: float | None = None


# ---- small pure helpers ---------------------------------------------------------------------------
def load_config(home: Path) -> PlaneConfig:
    try:
        raw = yaml.safe_load((home / CONFIG).read_text()) or {}
    except FileNotFoundError:
        raw = {}
    known = {f.name for f in fields(PlaneConfig)}
    return PlaneConfig(**{k: v for k, v in raw.items() if k in known})


def save_config(home: Path, cfg: PlaneConfig) -> None:
    tmp = home / (CONFIG + ".tmp")
    tmp.write_text(yaml.safe_dump(asdict(cfg), sort_keys=True))
    tmp.replace(home / CONFIG)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data))
    tmp.replace(path)


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def pid_record(pid: int) -> dict[str, Any]:
    return {"pid": pid, "create_time": psutil.Process(pid).create_time()}


def alive(record: dict[str, Any] | None) -> bool:
    """The recorded process (pid and start time) still runs."""
    if not record or not record.get("pid"):
        return False
    try:
        p = psutil.Process(int(record["pid"]))
        return (
            abs(p.create_time() - float(record.get("create_time", 0))) < 0.05
            and p.status() != psutil.STATUS_ZOMBIE
        )
    except psutil.Error:
        return False


def optional(module: str) -> Any | None:
    """Import a component another part of tidal provides; None when it does not exist (yet)."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name and module.startswith(exc.name):
            return None
        raise


class ProviderAdapter:
    """Mounts a metrics provider (`get([version,] path, query)`) as the API server's
    `ApiProvider` (`resources()`, `handle(path, params)`); the resource list is refreshed from
    the provider's own discovery answer, since custom metrics come and go."""

    def __init__(self, provider: Any, version: str) -> None:
        import inspect

        self.provider = provider
        self.version = version
        self._takes_version = len(inspect.signature(provider.get).parameters) >= 3
        self._cached: list[dict[str, Any]] = []

    def resources(self) -> list[dict[str, Any]]:
        return self._cached

    async def handle(self, path: str, params: dict[str, str]) -> Any:
        if self._takes_version:
            return await self.provider.get(self.version, path, params)
        return await self.provider.get(path, params)

    async def refresh(self) -> None:
        try:
            doc = await self.handle("", {})
        except Exception:
            log.debug("discovery of %s failed", self.version, exc_info=True)
            return
        if isinstance(doc, dict):
            self._cached = list(doc.get("resources") or [])

    async def keep_fresh(self, period_s: float = 5.0) -> None:
        while True:
            await asyncio.sleep(period_s)
            await self.refresh()


# ---- the router process ---------------------------------------------------------------------------
class RouterSupervisor:
    """Starts the router in its own session, or adopts a live one, and restarts it if it dies."""

    def __init__(self, home: Path, cfg: PlaneConfig) -> None:
        self.home = home
        self.cfg = cfg
        self.proc: subprocess.Popen[bytes] | None = None
        self.record: dict[str, Any] | None = None

    def _matches(self, rec: dict[str, Any]) -> bool:
        return (
            rec.get("port") == self.cfg.ingress_port
            and rec.get("admin_port") == self.cfg.admin_port
        )

    def ensure(self) -> None:
        rec = read_json(self.home / ROUTER_PID)
        if alive(rec) and rec is not None:
            if self._matches(rec):
                if self.record is None:
                    log.info("adopted router pid %s", rec["pid"])
                self.record = rec
                return
            log.info("router pid %s has other ports; replacing it", rec["pid"])
            self._kill(rec)
        elif self.record is not None:
            log.warning("router pid %s is gone; starting a new one", self.record.get("pid"))
        self._start()

    def _start(self) -> None:
        log_file = open(self.home / "router.log", "ab")
        argv = [
            sys.executable,
            "-m",
            "tidal.router",
            "--kubeconfig",
            str(self.home / "kubeconfig"),
            "--port",
            str(self.cfg.ingress_port),
            "--admin-port",
            str(self.cfg.admin_port),
            "--state-file",
            str(self.home / "router-state.json"),
        ]
        self.proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
        )
        log_file.close()
        rec = pid_record(self.proc.pid)
        rec.update(port=self.cfg.ingress_port, admin_port=self.cfg.admin_port)
        write_json(self.home / ROUTER_PID, rec)
        self.record = rec
        log.info("started router pid %s on :%s", self.proc.pid, self.cfg.ingress_port)

    def reap(self) -> None:
        if self.proc is not None:
            self.proc.poll()

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

    def stop(self) -> None:
        if self.record and alive(self.record):
            self._kill(self.record)
        with contextlib.suppress(FileNotFoundError):
            (self.home / ROUTER_PID).unlink()

    async def supervise(self) -> None:
        while True:
            await asyncio.sleep(0.5)
            self.reap()
            try:
                if not alive(self.record):
                    self.ensure()
            except Exception:
                log.exception("router supervision")


async def wait_listening(port: int, timeout_s: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            _, w = await asyncio.open_connection("127.0.0.1", port)
            w.close()
            return True
        except OSError:
            await asyncio.sleep(0.05)
    return False


# ---- the plane ------------------------------------------------------------------------------------
class Plane:
    def __init__(self, home: Path, cfg: PlaneConfig) -> None:
        self.home = home
        self.cfg = cfg
        self.tasks: list[asyncio.Task[Any]] = []
        self.loops: list[Any] = []
        self.stoppers: list[Callable[[], Awaitable[None]]] = []
        self.stop_event = asyncio.Event()
        self.router = RouterSupervisor(home, cfg)
        self.runner: Any = None
        self.api: Any = None
        self.registry: Any = None
        self.router_listening = False
        self.kpa: Any = None

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
        from tidal.client.kubeconfig import write_kubeconfig
        from tidal.controllers.deployment import DeploymentController
        from tidal.controllers.endpoints import EndpointsController
        from tidal.controllers.inferenceservice import InferenceServiceController
        from tidal.controllers.loop import Loop
        from tidal.server.inprocess import InProcessClient
        from tidal.server.registry import Registry
        from tidal.server.serve import start_api

        cfg, home = self.cfg, self.home
        self.registry = Registry.open(home)
        self.api = await start_api(self.registry, home, port=cfg.api_port)
        write_kubeconfig(home, self.api.url, self.api.ca_pem, self.api.token)
        client = InProcessClient(self.registry, raw=self.api.app.get_raw)
        self.client = client

        profile = self._profile()
        # pods first: the runner adopts what still runs before controllers act
        gpus = self._gpus()
        pods_mod = optional("tidal.pods.runner")
        if pods_mod is not None:
            settings = pods_mod.RunnerSettings(enforce_capacity=cfg.enforce_capacity)
            self.runner = pods_mod.PodRunner(client, home, gpus=gpus, settings=settings)
            self.spawn(self.runner.run(), "pod-runner")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.runner.started.wait(), 30)

        for reconciler in (
            InferenceServiceController(client, domain=cfg.domain),
            DeploymentController(client),
            EndpointsController(client),
        ):
            self.loops.append(Loop(client, reconciler, resync_s=cfg.resync_s))
        cron = optional("tidal.controllers.cronhpa")
        if cron is not None:
            self.loops.append(Loop(client, cron.CronHPAController(client), resync_s=cfg.resync_s))
        for lp in self.loops:
            await lp.start()

        hpa = optional("tidal.controllers.hpa")
        if hpa is not None:
            self.spawn(hpa.run(client, profile=cfg.hpa_profile, stop=self.stop_event), "hpa")
        kpa = optional("tidal.controllers.kpa")
        requests = optional("tidal.metrics.requests")
        if kpa is not None and hasattr(kpa, "run"):
            self.spawn(self._call_run(kpa.run, client), "kpa")
        elif kpa is not None and requests is not None and hasattr(kpa, "KpaController"):
            stats = requests.RouterRequestStats(f"http://127.0.0.1:{cfg.admin_port}")
            self.kpa = kpa.KpaController(client, stats)
            kpa_loop = Loop(client, self.kpa, resync_s=cfg.resync_s)
            await kpa_loop.start()
            self.loops.append(kpa_loop)

        self._start_metrics(client, profile)
        self.router.ensure()
        self.spawn(self.router.supervise(), "router-supervisor")
        self.router_listening = await wait_listening(cfg.ingress_port)
        if not self.router_listening:
            log.error("the router does not listen on :%s (see router.log)", cfg.ingress_port)

    async def _call_run(self, fn: Callable[..., Awaitable[Any]], client: Any) -> None:
        """Optional controllers' `run(client, ...)`: pass what they accept."""
        import inspect

        params = inspect.signature(fn).parameters
        kwargs: dict[str, Any] = {}
        if "stop" in params:
            kwargs["stop"] = self.stop_event
        if "router_admin_url" in params:
            kwargs["router_admin_url"] = f"http://127.0.0.1:{self.cfg.admin_port}"
        if "home" in params:
            kwargs["home"] = self.home
        await fn(client, **kwargs)

    def _profile(self) -> Any:
        profiles = optional("tidal.autoscaling.profiles")
        if profiles is None:
            return None
        name = self.cfg.hpa_profile or profiles.DEFAULT_PROFILE
        return profiles.PROFILES.get(name)

    def _gpus(self) -> list[str]:
        gpu = optional("tidal.metrics.gpu")
        if gpu is None:
            return []
        try:
            backend = gpu.open_backend(self.cfg.fake_gpus)
            return [str(d.index) for d in backend.devices()] if backend else []
        except Exception:
            log.exception("GPU discovery")
            return []

    def _start_metrics(self, client: Any, profile: Any) -> None:
        resolution = self.cfg.metrics_resolution_s or (
            profile.metric_resolution_s if profile else 15.0
        )
        window = self.cfg.metrics_window_s or (profile.metric_window_s if profile else 15.0)
        resource = optional("tidal.metrics.resource")
        if resource is not None and self.runner is not None:
            try:
                sampler = resource.ResourceSampler(
                    self.runner.pod_targets, resolution_s=resolution, window_s=window
                )
                self._mount("metrics.k8s.io/v1beta1", resource.ResourceMetricsApi(sampler))
                self.spawn(sampler.run(), "resource-metrics")
            except Exception:
                log.exception("resource metrics not started")
        pipeline = optional("tidal.metrics.pipeline")
        if pipeline is not None:
            try:
                settings = pipeline.MetricsSettings(
                    resolution_s=resolution,
                    window_s=max(window, resolution * 2),
                    fake_gpus=self.cfg.fake_gpus,
                    router_admin_url=f"http://127.0.0.1:{self.cfg.admin_port}",
                    prometheus=self.cfg.prometheus,
                    prometheus_rules=self.cfg.prometheus_rules,
                )
                roots = self._pod_roots
                p = pipeline.MetricsPipeline(client, self.home, settings, pod_roots=roots)
                for gv in ("custom.metrics.k8s.io/v1beta2", "custom.metrics.k8s.io/v1beta1"):
                    self._mount(gv, p.custom)
                self._mount("external.metrics.k8s.io/v1beta1", p.external)
                self.spawn(p.run(), "metrics-pipeline")
            except Exception:
                log.exception("metrics pipeline not started")

    def _mount(self, group_version: str, provider: Any) -> None:
        """Register a provider; ones already shaped as the server's ApiProvider go as they are."""
        if hasattr(provider, "handle") and hasattr(provider, "resources"):
            self.api.app.register_api(group_version, provider)
            return
        adapter = ProviderAdapter(provider, group_version.split("/", 1)[1])
        self.api.app.register_api(group_version, adapter)
        self.spawn(self._fresh(adapter), f"discovery-{group_version}")

    async def _fresh(self, adapter: ProviderAdapter) -> None:
        await adapter.refresh()
        await adapter.keep_fresh()

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
        for lp in self.loops:
            await lp.stop()
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
        if self.api is not None:
            await self.api.stop()
        if self.registry is not None:
            self.registry.close()

    async def _delete_controlled_pods(self, timeout_s: float = 40.0) -> None:
        """`tidal down`: pods a Deployment owns are deleted through the API, so the runner
        drains and stops them as Kubernetes does, and the next `tidal up` makes fresh ones
        (not crash-loop restarts). Controllers are already stopped, so none is replaced."""
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
        procs = optional("tidal.pods.process")
        refs = [
            ref for w in list(self.runner.workers.values()) for (_, ref) in list(w.refs.values())
        ]
        with contextlib.suppress(Exception):
            await self.runner.stop()
        if procs is None:
            return
        await asyncio.gather(
            *(procs.terminate(ref, None, 10.0) for ref in refs), return_exceptions=True
        )


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
    save_config(home, cfg)
    write_json(home / PLANE_PID, pid_record(os.getpid()))

    plane = Plane(home, cfg)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await plane.start()
    except Exception:
        log.exception("the plane failed to start")
        await plane.stop(everything=False)
        return 1
    write_json(
        home / READY,
        {
            "pid": os.getpid(),
            "api": plane.api.url,
            "ingress_port": cfg.ingress_port,
            "admin_port": cfg.admin_port,
            "kubeconfig": str(home / "kubeconfig"),
            "router_listening": plane.router_listening,
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


def add_plane_flags(p: argparse.ArgumentParser) -> None:
    """The flags `tidal up` and `python -m tidal.plane` share (None: keep config.yaml's)."""
    p.add_argument("--api-port", type=int, help="API server port (default: a free port, kept)")
    p.add_argument("--ingress-port", type=int, help="router port (default 8080)")
    p.add_argument("--admin-port", type=int, help="router admin port (default: free, kept)")
    p.add_argument("--domain", help="ingress domain of service URLs (default example.com)")
    p.add_argument("--hpa-profile", help="HPA profile: fast (default) or kubernetes")
    p.add_argument("--fake-gpus", type=int, help="pretend this many GPUs exist (CI only)")
    p.add_argument("--prometheus", help="a Prometheus URL, or the binary to run")
    p.add_argument("--prometheus-rules", help="prometheus-adapter style externalRules file")
    p.add_argument(
        "--enforce-capacity",
        action="store_const",
        const=True,
        help="refuse pods whose CPU/memory requests exceed the machine",
    )
    p.add_argument("--resync", dest="resync_s", type=float, help=argparse.SUPPRESS)
    p.add_argument("--metrics-resolution", dest="metrics_resolution_s", type=float)
    p.add_argument("--metrics-window", dest="metrics_window_s", type=float)


def config_from(home: Path, args: argparse.Namespace) -> PlaneConfig:
    cfg = load_config(home)
    for f in fields(PlaneConfig):
        v = getattr(args, f.name, None)
        if v is not None:
            setattr(cfg, f.name, v)
    return cfg


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
