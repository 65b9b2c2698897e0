"""The collector's side of the KPA (Knative's `metrics/collector.go`, `sample_size.go`): one
second-bucketed stable and panic window per metric, fed with per-second observations, read back
as (stable, panic) averages. Values in, values out."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from tidal.autoscaling.kpa import annotations as ann
from tidal.autoscaling.kpa.autoscaler import Observed
from tidal.autoscaling.kpa.buckets import Buckets
from tidal.autoscaling.kpa.config import BUCKET_SIZE
from tidal.autoscaling.kpa.decider import MetricSpec

# 95 % confidence, 5 % margin of error, population std-dev 10 (Knative's sample_size.go).
_SAMPLE_X = 1.96 * 1.96 * 100 / (5 * 5)


def sample_size(population: int) -> int:
    """Pods to scrape out of `population` ready ones: all up to 3, then ceil(N·X/(N+X−1))."""
    if population < 0:
        return 0
    if population <= 3:
        return population
    n = float(population)
    return math.ceil(n * _SAMPLE_X / (n + _SAMPLE_X - 1))


@dataclass(frozen=True, slots=True)
class Stat:
    """One second of one service as the router saw it (Knative's `metrics.Stat`)."""

    at: int  # ns
    concurrency: float  # time-averaged in-flight requests over the second
    requests: float  # requests started in the second
    proxied_concurrency: float = 0.0  # already counted by the activator: subtracted
    proxied_requests: float = 0.0


@dataclass(frozen=True, slots=True)
class Windows:
    """The four windows of one revision: stable/panic × concurrency/rps."""

    stable_concurrency: Buckets
    panic_concurrency: Buckets
    stable_rps: Buckets
    panic_rps: Buckets
    scrape_target: str = ""

    @classmethod
    def new(cls, metric: MetricSpec) -> Windows:
        weighted = metric.aggregation_algorithm in (
            ann.WEIGHTED_EXPONENTIAL,
            ann.WEIGHTED_EXPONENTIAL_ALT,
        )

        def b(w: int) -> Buckets:
            return Buckets.new(w, BUCKET_SIZE, weighted=weighted)

        return cls(
            b(metric.stable_window),
            b(metric.panic_window),
            b(metric.stable_window),
            b(metric.panic_window),
            metric.scrape_target,
        )

    def record(self, stat: Stat) -> Windows:
        c = stat.concurrency - stat.proxied_concurrency
        r = stat.requests - stat.proxied_requests
        return replace(
            self,
            stable_concurrency=self.stable_concurrency.record(stat.at, c),
            panic_concurrency=self.panic_concurrency.record(stat.at, c),
            stable_rps=self.stable_rps.record(stat.at, r),
            panic_rps=self.panic_rps.record(stat.at, r),
        )

    def observed(self, metric: str, now: int) -> Observed | None:
        """(stable, panic) averages of `metric`; None (no data) when nothing was recorded in the
        stable window and there is a scrape target (Knative's ErrNoData)."""
        if metric == ann.RPS:
            stable, panic = self.stable_rps, self.panic_rps
        else:
            stable, panic = self.stable_concurrency, self.panic_concurrency
        if stable.is_empty(now) and self.scrape_target:
            return None
        return Observed(stable.window_average(now), panic.window_average(now))
