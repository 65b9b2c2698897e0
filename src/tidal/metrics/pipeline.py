"""The plane's metrics pipeline: what the HPA reads beyond CPU and memory.

It scrapes every ready pod at the metrics resolution, samples GPUs through NVML (or the named
fake), polls the router's request stats, serves the GPU exporter and Prometheus service discovery,
optionally supervises a Prometheus, and answers `custom.metrics.k8s.io` and
`external.metrics.k8s.io` for the API server. The plane builds one and runs `run()`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tidal.api import errors
from tidal.api.client import ApiClient
from tidal.api.events import make_event
from tidal.metrics import exporter
from tidal.metrics.custom_api import VERSIONS as CUSTOM_VERSIONS
from tidal.metrics.custom_api import CustomMetricsApi, resource_list
from tidal.metrics.external_api import ExternalMetricsApi, load_rules
from tidal.metrics.gpu import GpuCollector, NvmlBackend, open_backend
from tidal.metrics.prometheus import PrometheusProcess, is_url
from tidal.metrics.router_values import RouterValues
from tidal.metrics.scrape import PodScraper, scrape_target
from tidal.metrics.sources import GpuValues, ScrapedValues

log = logging.getLogger("tidal.metrics")
Obj = dict[str, Any]


@dataclass(slots=True)
class MetricsSettings:
    resolution_s: float = 15.0  # Kubernetes' metrics-server default; the fast profile uses 1 s
    window_s: float = 60.0
    fake_gpus: int | None = None
    exporter_port: int = 0  # 0: pick a free port
    router_admin_url: str | None = None
    prometheus: str | None = None  # a URL, or a path/name of the prometheus binary
    prometheus_port: int = 9090
    prometheus_rules: str | None = None  # prometheus-adapter style config with externalRules
    token: str | None = None  # the plane's token: the router's admin port and /sd, /metrics need it


def is_ready(pod: Obj) -> bool:
    for c in (pod.get("status") or {}).get("conditions") or []:
        if c.get("type") == "Ready":
            return c.get("status") == "True"
    return False


class MetricsPipeline:
    def __init__(
        self,
        client: ApiClient,
        home: Path,
        settings: MetricsSettings,
        *,
        pod_roots: Callable[[], Mapping[tuple[str, str], int]] = dict,
        gpu_backend: NvmlBackend | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self.home = home
        self.settings = settings
        self.clock = clock
        self.scraper = PodScraper(settings.window_s)
        self.pods: list[Obj] = []
        backend = gpu_backend if gpu_backend is not None else open_backend(settings.fake_gpus)
        self.gpu = GpuCollector(backend, pod_roots, self._pods_on_gpu) if backend else None
        self.router = RouterValues(settings.router_admin_url, settings.window_s, settings.token)
        sources = [ScrapedValues(self.scraper)] + ([GpuValues(self.gpu)] if self.gpu else [])
        sources.append(self.router)
        self.custom = CustomMetricsApi(
            sources,
            self.router,
            self._list_pods,
            self._get_object,
            clock=clock,
            window_s=settings.window_s,
        )
        rules: list = []
        if settings.prometheus_rules:
            rules = load_rules(yaml.safe_load(Path(settings.prometheus_rules).read_text()))
        self.prometheus: PrometheusProcess | None = None
        prom_url = None
        if settings.prometheus and is_url(settings.prometheus):
            prom_url = settings.prometheus
        self.external = ExternalMetricsApi(
            prometheus_url=prom_url, rules=rules, get_object=self._get_object, clock=clock
        )
        self.exporter_server = exporter.server(
            exporter.build_app(self._exporter_text, lambda: self.pods, token=settings.token),
            "127.0.0.1",
            settings.exporter_port,
        )

    def providers(self) -> dict[str, Any]:
        """The aggregated APIs to mount on the API server (`register_api(gv, provider)`)."""
        out: dict[str, Any] = {
            f"custom.metrics.k8s.io/{v}": _CustomProvider(self.custom, v) for v in CUSTOM_VERSIONS
        }
        out["external.metrics.k8s.io/v1beta1"] = _ExternalProvider(self.external)
        return out

    # -- API data ---------------------------------------------------------------------------
    async def _list_pods(self, namespace: str, selector: str) -> list[Obj]:
        lst = await self.client.list("Pod", namespace, label_selector=selector or None)
        return [p for p in lst.get("items", []) if not p["metadata"].get("deletionTimestamp")]

    async def _get_object(self, kind: str, namespace: str, name: str) -> Obj:
        return await self.client.get(kind, name, namespace)

    def _pods_on_gpu(self) -> set[tuple[str, str]]:
        out = set()
        for p in self.pods:
            for c in (p.get("spec") or {}).get("containers") or []:
                limits = ((c.get("resources") or {}).get("limits")) or {}
                requests = ((c.get("resources") or {}).get("requests")) or {}
                if limits.get("nvidia.com/gpu") or requests.get("nvidia.com/gpu"):
                    out.add((p["metadata"]["namespace"], p["metadata"]["name"]))
        return out

    def _exporter_text(self) -> str:
        return self.gpu.exporter_text() if self.gpu else ""

    # -- loops ------------------------------------------------------------------------------
    async def tick(self) -> None:
        """One collection at the resolution: pods, scrapes, GPUs, router stats."""
        now = self.clock()
        try:
            lst = await self.client.list("Pod")
        except errors.ApiError as exc:  # the API is ours and in-process: log, try next tick
            log.warning("metrics: cannot list pods: %s", exc)
            return
        self.pods = [p for p in lst.get("items", []) if (p.get("status") or {}).get("podIP")]
        targets = [t for p in self.pods if is_ready(p) and (t := scrape_target(p))]
        before = dict(self.scraper.errors)
        await self.scraper.scrape(targets, now)
        await self._report_scrape_failures(before, targets, now)
        if self.gpu is not None:
            await asyncio.to_thread(self.gpu.collect)
        await self.router.refresh(now)

    async def _report_scrape_failures(self, before: dict, targets: list, now: float) -> None:
        """A pod whose scrape starts failing gets one Warning event (not one per tick)."""
        by_key = {(t.namespace, t.pod): t for t in targets}
        for key, error in self.scraper.errors.items():
            if key in before or key not in by_key:
                continue
            pod = next(
                (
                    p
                    for p in self.pods
                    if (p["metadata"]["namespace"], p["metadata"]["name"]) == key
                ),
                None,
            )
            if pod is None:
                continue
            event = make_event(
                pod,
                "FailedScrape",
                f"scraping {by_key[key].url} failed: {error}",
                now=now,
                component="tidal-metrics",
                type_="Warning",
            )
            try:
                await self.client.create(event)
            except errors.ApiError as exc:
                log.warning("metrics: cannot record scrape failure: %s", exc)

    async def run(self) -> None:
        tasks = [asyncio.create_task(self.exporter_server.serve(), name="metrics-exporter")]
        try:
            while not self.exporter_server.started:
                await asyncio.sleep(0.02)
            if self.settings.prometheus and not is_url(self.settings.prometheus):
                port = self.exporter_port
                self.prometheus = PrometheusProcess(
                    binary=PrometheusProcess.find_binary(self.settings.prometheus),
                    home=self.home,
                    port=_prometheus_port(self.settings.prometheus_port),
                    sd_url=f"http://127.0.0.1:{port}/sd",
                    exporter_target=f"127.0.0.1:{port}",
                    scrape_interval_s=self.settings.resolution_s,
                    token_file=self.home / "token" if self.settings.token else None,
                )
                self.external.prometheus_url = self.prometheus.url
                tasks.append(asyncio.create_task(self.prometheus.supervise(), name="prometheus"))
            while True:
                started = time.monotonic()
                try:
                    await self.tick()
                except Exception:  # a broken source must never stop the pipeline
                    log.exception("metrics tick failed")
                await asyncio.sleep(
                    max(0.0, self.settings.resolution_s - (time.monotonic() - started))
                )
        finally:
            self.exporter_server.should_exit = True
            for t in tasks:
                t.cancel()
            for t in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await t
            await self.scraper.aclose()
            await self.external.aclose()
            await self.router.aclose()

    @property
    def exporter_port(self) -> int:
        for server in self.exporter_server.servers:
            for sock in server.sockets:
                return sock.getsockname()[1]
        return self.settings.exporter_port


def _prometheus_port(wanted: int) -> int:
    """The port for the Prometheus tidal runs: `wanted` (9090 by default) when it is free, else
    a free one, so a second plane (or a Prometheus the user runs) does not make ours crash-loop.
    The chosen URL is written to `$TIDAL_HOME/prometheus/url`."""
    if wanted:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", wanted))
                return wanted
            except OSError:
                pass
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _CustomProvider:
    """`custom.metrics.k8s.io/<version>` as the API server's aggregated-API provider."""

    def __init__(self, api: CustomMetricsApi, version: str) -> None:
        self.api, self.version = api, version

    def resources(self) -> list[Obj]:
        services = self.api.services.service_names() if self.api.services else set()
        return resource_list(self.version, self.api.names(), services)["resources"]

    async def handle(self, path: str, params: dict[str, str]) -> Obj:
        return await self.api.get(self.version, path, params)


class _ExternalProvider:
    def __init__(self, api: ExternalMetricsApi) -> None:
        self.api = api

    def resources(self) -> list[Obj]:
        return self.api.resource_list()["resources"]

    async def handle(self, path: str, params: dict[str, str]) -> Obj:
        return await self.api.get(path, params)
