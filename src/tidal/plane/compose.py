"""`Plane`: the composition of the parts in one process (API server, pod runner, controllers,
metrics, the router's supervisor, the dashboard), started in dependency order and stopped."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from tidal.autoscaling import profiles
from tidal.client.kubeconfig import write_kubeconfig
from tidal.controllers.inferenceservice import install_builtin_runtimes
from tidal.controllers.manager import CONTROLLERS, Manager, Settings, parse_names
from tidal.home import PlaneConfig
from tidal.metrics.gpu import open_backend
from tidal.metrics.pipeline import MetricsPipeline, MetricsSettings
from tidal.metrics.requests import RouterRequestStats
from tidal.metrics.resource import ResourceMetricsApi, ResourceSampler
from tidal.plane.ingress import ensure_ingress_service
from tidal.plane.ports import port_taken
from tidal.plane.supervisor import RouterSupervisor
from tidal.pods.process import terminate
from tidal.pods.runner import PodRunner, RunnerSettings
from tidal.server.inprocess import InProcessClient
from tidal.server.registry import Registry
from tidal.server.serve import start_api

log = logging.getLogger("tidal.plane")


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
