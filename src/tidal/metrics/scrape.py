"""Scraping pods' Prometheus endpoints: which URL (the `prometheus.io/*` annotations), parsing
(prometheus-client's parser, not our own), and the per-pod windows the custom metrics API reads."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tidal.metrics.window import ScrapedSample, SeriesWindow

SCRAPE_ANNOTATION = "prometheus.io/scrape"
PORT_ANNOTATION = "prometheus.io/port"
PATH_ANNOTATION = "prometheus.io/path"


@dataclass(frozen=True, slots=True)
class Target:
    namespace: str
    pod: str
    address: str  # ip:port
    path: str

    @property
    def url(self) -> str:
        return f"http://{self.address}{self.path}"


def scrape_target(pod: Mapping[str, Any]) -> Target | None:
    """Where to scrape a pod, or None (not running, no IP, or `prometheus.io/scrape: "false"`).

    Default: the first container port's `/metrics`; the annotations override port and path."""
    meta = pod.get("metadata", {})
    ann = meta.get("annotations") or {}
    if str(ann.get(SCRAPE_ANNOTATION, "true")).lower() == "false":
        return None
    ip = (pod.get("status") or {}).get("podIP")
    if not ip or meta.get("deletionTimestamp"):
        return None
    port = ann.get(PORT_ANNOTATION)
    if not port:
        for c in (pod.get("spec") or {}).get("containers", []):
            for p in c.get("ports") or []:
                if p.get("containerPort"):
                    port = p["containerPort"]
                    break
            if port:
                break
    if not port:
        return None
    path = ann.get(PATH_ANNOTATION) or "/metrics"
    if not path.startswith("/"):
        path = "/" + path
    return Target(meta.get("namespace", "default"), meta["name"], f"{ip}:{port}", path)


def parse(text: str) -> list[ScrapedSample]:
    """Prometheus text format to samples; `_created` series (timestamps, not values) dropped."""
    out: list[ScrapedSample] = []
    for family in text_string_to_metric_families(text):
        counter = family.type == "counter"
        for s in family.samples:
            if s.name.endswith("_created"):
                continue
            out.append(
                ScrapedSample(
                    s.name, s.labels, float(s.value), counter=counter or s.name.endswith("_total")
                )
            )
    return out


class PodScraper:
    """Keeps one `SeriesWindow` per pod and refreshes them concurrently."""

    def __init__(self, window_s: float, timeout_s: float = 2.0) -> None:
        self.window_s = window_s
        self.windows: dict[tuple[str, str], SeriesWindow] = {}
        self.errors: dict[tuple[str, str], str] = {}
        self._http = httpx.AsyncClient(timeout=timeout_s, trust_env=False)

    async def scrape(self, targets: Iterable[Target], now: float) -> None:
        targets = list(targets)
        wanted = {(t.namespace, t.pod) for t in targets}
        for key in [k for k in self.windows if k not in wanted]:
            del self.windows[key]
            self.errors.pop(key, None)
        await asyncio.gather(*(self._scrape_one(t, now) for t in targets))

    async def _scrape_one(self, t: Target, now: float) -> None:
        key = (t.namespace, t.pod)
        try:
            resp = await self._http.get(t.url)
            resp.raise_for_status()
            samples = parse(resp.text)
        except (httpx.HTTPError, ValueError) as exc:
            # no sample for this pod: the HPA's missing-metric rules apply
            self.errors[key] = f"{type(exc).__name__}: {exc}"
            window = self.windows.get(key)
            if window:
                window.expire(now)
            return
        self.errors.pop(key, None)
        window = self.windows.get(key)
        if window is None:
            window = self.windows[key] = SeriesWindow(self.window_s)
        window.add(samples, now)

    async def aclose(self) -> None:
        await self._http.aclose()
