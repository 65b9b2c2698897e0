"""The dashboard inside the plane: its collector reads the plane's own parts (in-process API,
resource sampler, router admin port, the KPA's settings) and its server listens on loopback
with the plane's token."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from tidal.dashboard.collector import Collector
from tidal.dashboard.server import DashboardHandle, start_dashboard


@dataclass
class Running:
    handle: DashboardHandle
    collector: Collector
    task: asyncio.Task[None]

    @property
    def login_url(self) -> str:
        return self.handle.login_url

    async def stop(self) -> None:
        self.task.cancel()
        try:
            await self.task
        except (asyncio.CancelledError, Exception):
            pass
        await self.handle.stop()


def _usage(plane: Any):  # type: ignore[no-untyped-def]
    def usage(ns: str, pod: str) -> tuple[float, int] | None:
        if plane.sampler is None:
            return None
        u = plane.sampler.pod_usage(ns, pod)
        if not u:
            return None
        return sum(x.cpu_cores for x in u.values()), sum(x.memory for x in u.values())

    return usage


def _kpa_target(plane: Any):  # type: ignore[no-untyped-def]
    """(metric, per-pod target) of a PodAutoscaler, as the KPA computes it (the plane's KPA
    runs with the default config-autoscaler settings unless it carries its own)."""
    from tidal.autoscaling.kpa.config import Config
    from tidal.autoscaling.kpa.decider import make_decider
    from tidal.autoscaling.kpa.podautoscaler import from_object

    def target(pa: dict[str, Any]) -> tuple[str, float]:
        config = getattr(getattr(plane, "kpa", None), "config", None) or Config()
        spec = make_decider(from_object(pa), config)
        return str(spec.scaling_metric), float(spec.total_value)

    return target


async def start(plane: Any) -> Running:
    token = plane.api.token
    collector = Collector(
        plane.client,
        f"http://127.0.0.1:{plane.cfg.admin_port}",
        token=token,
        usage=_usage(plane),
        kpa_target=_kpa_target(plane),
    )

    async def logs(ns: str, pod: str, lines: int) -> str:
        body = await plane.api.app.get_raw(
            f"/api/v1/namespaces/{ns}/pods/{pod}/log", params={"tailLines": str(lines)}
        )
        return body.decode(errors="replace") if isinstance(body, bytes) else str(body)

    handle = await start_dashboard(collector, token, port=plane.cfg.dashboard_port, logs=logs)
    task = asyncio.create_task(collector.run(), name="dashboard-collector")
    return Running(handle, collector, task)
