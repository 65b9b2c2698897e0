"""The latency and cost report of a run, PURE: the same rows for a simulated run (`tidal simulate`,
`tidal tune`) and a live one (`tidal replay`), so the two can be compared line by line.

Inputs are plain records, whatever produced them:

- `RequestRecord(arrival_s, latency_s, status, held_s=0, queued_s=0, service_s=None)`: one per
  request: when it arrived (seconds since the start of the run), how long until it was answered
  (for a 503, until the 503), its status, how long the router held it while the Service had no
  ready pod (the cold-start wait), how long it queued behind other requests, and its service
  time on an idle-enough pod (None when unknown: `demand_from_requests` then uses the latency);
- `ReplicaSample(t_s, pods, ready, demand)`: one per tick: pods that exist (what is paid for),
  ready pods, and the demand: requests that would be in service over that tick (on average)
  if every request started on arrival (no queue, no cold start): `demand_from_requests`.

`report(name, requests, samples, tick_s=..., capacity=..., slo=...)` returns one `ReportRow`;
`lines(rows)` prints rows as a table. Latency percentiles are over the answered requests (status < 400). The **lower bound** of replica-seconds is the cost of a
perfect autoscaler with instant pods: every tick exactly `ceil(demand / capacity)` pods, where
`capacity` is what one pod serves at once (`maxConcurrency`). `ratio` = replica-seconds / bound.
A request is **over the SLO** when its latency exceeds `slo.latency_s` or it was not answered
with a success (a 503 or other error counts as over); the SLO is **met** when the share over it
is at most `1 - percentile/100` (i.e. the `percentile`-th latency is within the objective).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Slo:
    """`slo: {latency: 2s, percentile: 99}`: `percentile` % of requests answered within
    `latency_s`; with `metric: ttft`, their first token within it (an LLM's usual objective)."""

    latency_s: float
    percentile: float = 99.0
    metric: str = "latency"  # latency | ttft

    @property
    def allowed_share(self) -> float:
        """The share of requests that may be over the objective."""
        return max(0.0, 1.0 - self.percentile / 100.0)


@dataclass(frozen=True, slots=True)
class RequestRecord:
    arrival_s: float
    latency_s: float
    status: int = 200
    held_s: float = 0.0  # held by the router at zero ready pods (cold start)
    queued_s: float = 0.0  # waited behind other requests (router or pod queue)
    service_s: float | None = None  # served alone-enough; None: unknown
    ttft_s: float | None = None  # arrival to the first output token (an LLM); None: unknown

    def slo_value(self, metric: str) -> float:
        """The value an SLO on `metric` judges (the latency when the TTFT is unknown)."""
        if metric == "ttft" and self.ttft_s is not None:
            return self.ttft_s
        return self.latency_s


@dataclass(frozen=True, slots=True)
class ReplicaSample:
    t_s: float
    pods: int  # existing pods (Pending, Ready or draining): what is paid for
    ready: int
    demand: float  # requests in service now under a perfect, instant autoscaler


@dataclass(frozen=True, slots=True)
class ReportRow:
    name: str
    requests: int
    ok: int  # answered with a success
    errors_503: int
    p50_s: float
    p95_s: float
    p99_s: float
    ttft_p99_s: float | None  # None when no request has a TTFT
    over_slo: int  # requests over the SLO (0 without an SLO)
    over_slo_share: float
    slo_met: bool | None  # None without an SLO
    cold_start_waits: int  # requests held at zero ready pods
    max_cold_start_wait_s: float
    replica_seconds: float
    bound_replica_seconds: float
    max_replicas: int

    @property
    def ratio(self) -> float:
        """Replica-seconds over the lower bound (inf when the bound is 0 but pods ran)."""
        if self.bound_replica_seconds > 0:
            return self.replica_seconds / self.bound_replica_seconds
        return 1.0 if self.replica_seconds == 0 else math.inf


def percentile(values: Sequence[float], p: float) -> float:
    """The nearest-rank percentile of sorted `values` (0 for none): the smallest value with at
    least p % of the values at or below it, so p99 of 100 values is the 99th."""
    if not values:
        return 0.0
    k = max(1, math.ceil(p / 100.0 * len(values) - 1e-9))
    return values[min(k, len(values)) - 1]


def lower_bound(samples: Iterable[ReplicaSample], tick_s: float, capacity: float) -> float:
    """Replica-seconds of a perfect autoscaler: `ceil(demand / capacity)` pods every tick."""
    if capacity <= 0:
        raise ValueError("capacity must be > 0")
    return sum(math.ceil(s.demand / capacity - 1e-9) for s in samples) * tick_s


def demand_from_requests(
    requests: Iterable[RequestRecord], start_s: float, tick_s: float, ticks: int
) -> list[float]:
    """The demand of each tick [start + k·tick, start + (k+1)·tick): requests in service on
    average over it if each started on arrival and took its `service_s` (its latency less queue
    and hold when unknown; never-served requests without a service time are skipped). What a
    live replay, which cannot know it otherwise, passes as `ReplicaSample.demand`."""
    busy = [0.0] * ticks
    end_s = start_s + tick_s * ticks
    for r in requests:
        s = r.service_s
        if s is None:
            if r.status >= 400:
                continue
            s = max(0.0, r.latency_s - r.queued_s - r.held_s)
        a, b = max(r.arrival_s, start_s), min(r.arrival_s + s, end_s)
        if b <= a:
            continue
        k = int((a - start_s) // tick_s)
        while k < ticks and a < b:
            edge = start_s + (k + 1) * tick_s
            busy[k] += min(b, edge) - a
            a = edge
            k += 1
    return [v / tick_s for v in busy]


def report(
    name: str,
    requests: Sequence[RequestRecord],
    samples: Sequence[ReplicaSample],
    *,
    tick_s: float,
    capacity: float,
    slo: Slo | None = None,
) -> ReportRow:
    """One deployment's row. `samples` are one per tick of `tick_s` seconds."""
    latencies = sorted(r.latency_s for r in requests if r.status < 400)
    ok = len(latencies)
    n503 = sum(1 for r in requests if r.status == 503)
    held = [r.held_s for r in requests if r.held_s > 0]
    over = 0
    if slo is not None:
        over = sum(
            1 for r in requests if r.status >= 400 or r.slo_value(slo.metric) > slo.latency_s + 1e-9
        )
    ttfts = sorted(r.ttft_s for r in requests if r.status < 400 and r.ttft_s is not None)
    share = over / len(requests) if requests else 0.0
    return ReportRow(
        name=name,
        requests=len(requests),
        ok=ok,
        errors_503=n503,
        p50_s=percentile(latencies, 50),
        p95_s=percentile(latencies, 95),
        p99_s=percentile(latencies, 99),
        ttft_p99_s=percentile(ttfts, 99) if ttfts else None,
        over_slo=over,
        over_slo_share=share,
        slo_met=None if slo is None else share <= slo.allowed_share + 1e-12,
        cold_start_waits=len(held),
        max_cold_start_wait_s=max(held, default=0.0),
        replica_seconds=sum(s.pods for s in samples) * tick_s,
        bound_replica_seconds=lower_bound(samples, tick_s, capacity),
        max_replicas=max((s.pods for s in samples), default=0),
    )


def lines(rows: Sequence[ReportRow], slo: Slo | None = None) -> list[str]:
    """The report as text: one line per deployment."""
    what = "" if slo is None or slo.metric == "latency" else f"{slo.metric} "
    head = "latency report" + (
        f" (SLO: {what}p{slo.percentile:g} <= {slo.latency_s:g}s)" if slo is not None else ""
    )
    ttft = any(r.ttft_p99_s is not None for r in rows)
    out = [head + ":"]
    out.append(
        f"  {'deployment':<24} {'requests':>8} {'p50':>7} {'p95':>7} {'p99':>7}"
        + (f" {'ttft p99':>8}" if ttft else "")
        + f" {'over SLO':>9}"
        f" {'cold waits':>10} {'503s':>5} {'replica-s':>10} {'bound':>9} {'ratio':>6}"
    )
    for r in rows:
        over = "-" if r.slo_met is None else f"{100 * r.over_slo_share:.2f}%"
        out.append(
            f"  {r.name:<24} {r.requests:>8} {r.p50_s:>6.2f}s {r.p95_s:>6.2f}s {r.p99_s:>6.2f}s"
            + (f" {r.ttft_p99_s or 0:>7.2f}s" if ttft else "")
            + f" {over:>9}"
            f" {r.cold_start_waits:>10} {r.errors_503:>5} {r.replica_seconds:>10g}"
            f" {r.bound_replica_seconds:>9g} {r.ratio:>5.2f}x"
        )
    return out
