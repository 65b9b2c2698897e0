"""Request metrics measured at the router, served as custom metrics per pod and per Service.

Names (documented in docs/METRICS.md):
- `router_requests_per_second`: requests started per second, averaged over the window;
- `router_concurrency`: in-flight requests, time-averaged over the window (Knative's measure);
- `router_in_flight`: in-flight requests now;
- `router_held_requests` (Service only): requests the router holds while the Service has no
  ready endpoint, the Object metric that lets an HPA with `minReplicas: 0` scale from zero.
The numbers come from the router's admin `/stats` (1 s buckets; docs/ARCHITECTURE.md).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import httpx

Labels = Mapping[str, str]
RPS = "router_requests_per_second"
CONCURRENCY = "router_concurrency"
IN_FLIGHT = "router_in_flight"
HELD = "router_held_requests"
POD_METRICS = (RPS, CONCURRENCY, IN_FLIGHT)
SERVICE_METRICS = (*POD_METRICS, HELD)


def summarize(entry: Mapping[str, Any], now: float, window_s: float) -> dict[str, float]:
    """PURE: one `/stats` entry (a service or a pod) as the metric values over the window."""
    horizon = now - window_s
    requests = concurrency = 0.0
    for b in entry.get("buckets") or []:
        if horizon <= b["t"] and b["t"] + 1 <= now:
            requests += b.get("requests", 0)
            concurrency += b.get("concurrency", 0.0)
    return {
        RPS: requests / window_s,
        CONCURRENCY: concurrency / window_s,
        IN_FLIGHT: float(entry.get("in_flight", 0)),
        HELD: float(entry.get("held", 0)),
    }


class RouterValues:
    """Polls the router's `/stats`; serves per-pod and per-service values (keys `ns/name`)."""

    def __init__(self, admin_url: str | None, window_s: float, token: str | None = None) -> None:
        self.admin_url = admin_url
        self.window_s = window_s
        self.pods: dict[str, dict[str, float]] = {}
        self.services: dict[str, dict[str, float]] = {}
        headers = {"Authorization": f"Bearer {token}"} if token else None
        self._http = httpx.AsyncClient(timeout=2.0, trust_env=False, headers=headers)

    def load(self, doc: Mapping[str, Any]) -> None:
        now = float(doc.get("now", 0.0))
        self.services = {
            k: summarize(v, now, self.window_s) for k, v in doc.get("services", {}).items()
        }
        self.pods = {k: summarize(v, now, self.window_s) for k, v in doc.get("pods", {}).items()}

    async def refresh(self, now: float) -> None:
        if not self.admin_url:
            return
        try:
            resp = await self._http.get(
                self.admin_url.rstrip("/") + "/stats",
                params={"since": str(now - self.window_s - 1)},
            )
            resp.raise_for_status()
            self.load(resp.json())
        except (httpx.HTTPError, ValueError):
            # the router is restarting: no values (the HPA's missing-metric rules apply)
            self.pods, self.services = {}, {}

    # PodValues
    def names(self) -> set[str]:
        return set(POD_METRICS) if self.pods else set()

    def pod_value(
        self, namespace: str, pod: str, metric: str, matches: Callable[[Labels], bool]
    ) -> float | None:
        if metric not in POD_METRICS:
            return None
        values = self.pods.get(f"{namespace}/{pod}")
        return values.get(metric) if values else None

    # ServiceValues
    def service_names(self) -> set[str]:
        return set(SERVICE_METRICS) if self.services else set()

    def service_value(self, namespace: str, service: str, metric: str) -> float | None:
        if metric not in SERVICE_METRICS:
            return None
        values = self.services.get(f"{namespace}/{service}")
        if values is None:
            return 0.0 if metric in (HELD, IN_FLIGHT) and self.admin_url else None
        return values.get(metric)

    async def aclose(self) -> None:
        await self._http.aclose()
