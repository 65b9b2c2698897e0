"""`tidal controllers`: tidal's controllers as a process of their own against any Kubernetes API,
reached through a kubeconfig only (as kube-controller-manager runs beside an API server).

It campaigns for a `coordination.k8s.io/v1` Lease and runs the controllers only while it leads;
a lost lease stops them and ends the process with exit 1 (as kube-controller-manager does, so its
Deployment restarts it), SIGTERM/SIGINT stops them and releases the lease, so a standby takes over
at once. `/healthz` (200 while the process runs: a lost lease ends it) and `/metrics`
(Prometheus text: `leader_election_master_status` as client-go names it) serve a probe.

The composition root of this process, as `tidal.plane` is of the plane's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
from dataclasses import dataclass
from typing import Any

import uvicorn
from prometheus_client import CollectorRegistry, Gauge, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from tidal.api.client import ApiClient
from tidal.controllers.election import Timing
from tidal.controllers.elector import LeaderElector
from tidal.controllers.manager import Manager, Settings

log = logging.getLogger("tidal.controllers")

LEASE_NAME = "tidal-controllers"


@dataclass(frozen=True, slots=True)
class Options:
    names: tuple[str, ...]
    settings: Settings
    leader_elect: bool = True
    lease_name: str = LEASE_NAME
    lease_namespace: str = "kube-system"
    identity: str = ""
    timing: Timing = Timing()
    health_host: str = "127.0.0.1"
    health_port: int = 10258  # beside kube-controller-manager's 10257


def default_identity() -> str:
    """client-go's habit: the host name plus a unique suffix."""
    return f"{socket.gethostname()}_{os.getpid()}"


class Health:
    """What `/healthz` and `/metrics` report."""

    def __init__(self, opts: Options, elector: LeaderElector | None) -> None:
        self.opts = opts
        self.elector = elector
        self.registry = CollectorRegistry()
        self.leader = Gauge(
            "leader_election_master_status",
            "Whether this process leads (1) or stands by (0), as client-go reports it.",
            ["name"],
            registry=self.registry,
        )
        self.running = Gauge(
            "tidal_controller_running",
            "Whether this process runs the controller now.",
            ["controller"],
            registry=self.registry,
        )

    def app(self) -> Starlette:
        async def healthz(_: Request) -> Response:
            return PlainTextResponse("ok")

        async def metrics(_: Request) -> Response:
            leading = self.elector.is_leader if self.elector else True
            self.leader.labels(self.opts.lease_name).set(1 if leading else 0)
            return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)

        return Starlette(routes=[Route("/healthz", healthz), Route("/metrics", metrics)])


async def serve(client: ApiClient, opts: Options, stop: asyncio.Event) -> int:
    """Run until `stop` (0) or until leadership is lost (1)."""
    elector = None
    if opts.leader_elect:
        elector = LeaderElector(
            client,
            name=opts.lease_name,
            namespace=opts.lease_namespace,
            identity=opts.identity or default_identity(),
            timing=opts.timing,
        )
    health = Health(opts, elector)
    server = uvicorn.Server(
        uvicorn.Config(
            health.app(),
            host=opts.health_host,
            port=opts.health_port,
            log_level="warning",
            lifespan="off",
        )
    )
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    http = asyncio.create_task(server.serve())

    async def lead(lost: asyncio.Event) -> None:
        manager = Manager(client, opts.names, opts.settings)
        await manager.start()
        for name in opts.names:
            health.running.labels(name).set(1)
        try:
            await lost.wait()
        finally:
            await manager.stop()
            for name in opts.names:
                health.running.labels(name).set(0)

    try:
        if elector is None:
            await lead(stop)
            return 0
        graceful = await elector.run(lead, stop)
        return 0 if graceful else 1
    finally:
        server.should_exit = True
        with contextlib.suppress(Exception):
            await http


def run(client_factory: Any, opts: Options) -> int:
    """Blocking entry: signals set up, the client made on the loop, closed at the end."""

    async def main() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        client = client_factory()
        try:
            return await serve(client, opts, stop)
        finally:
            await client.close()

    return asyncio.run(main())
