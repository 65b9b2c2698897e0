"""Adapters that let the custom metrics API read each source the same way (`PodValues`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from tidal.metrics.gpu import GpuCollector
from tidal.metrics.scrape import PodScraper

Labels = Mapping[str, str]
SM_UTIL = "DCGM_CUSTOM_PROCESS_SM_UTIL"
MEM_USED = "DCGM_CUSTOM_PROCESS_MEM_USED"


class ScrapedValues:
    """Values from the pods' own /metrics endpoints."""

    def __init__(self, scraper: PodScraper) -> None:
        self.scraper = scraper

    def names(self) -> set[str]:
        out: set[str] = set()
        for w in self.scraper.windows.values():
            out |= w.names()
        return out

    def pod_value(
        self, namespace: str, pod: str, metric: str, matches: Callable[[Labels], bool]
    ) -> float | None:
        w = self.scraper.windows.get((namespace, pod))
        return w.value(metric, matches) if w else None


class GpuValues:
    """Per-pod GPU values (NVML) with ACK's custom DCGM names."""

    def __init__(self, collector: GpuCollector) -> None:
        self.collector = collector

    def names(self) -> set[str]:
        return {SM_UTIL, MEM_USED}

    def pod_value(
        self, namespace: str, pod: str, metric: str, matches: Callable[[Labels], bool]
    ) -> float | None:
        snap = self.collector.snapshot
        if metric == SM_UTIL:
            return snap.pod_sm_util.get((namespace, pod))
        if metric == MEM_USED:
            return snap.pod_mem_mib.get((namespace, pod))
        return None
