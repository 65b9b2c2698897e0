"""What `tidal simulate` returns: per-Deployment series per tick (for plots) and the `Summary`
(replica-seconds, time above target, requests, the latency report) with its printed lines."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tidal.sim import report as rep
from tidal.sim.requests import FlowTotals


@dataclass(slots=True)
class Series:
    """One Deployment over time, one entry per tick (for plots): arrivals per second, requests
    in flight (time-averaged), replicas asked for (`spec.replicas`), pods that exist (with
    draining ones), ready pods, and the mean and max latency of the requests that ended in the
    tick (None without a capacity model or when none ended)."""

    t: list[float] = field(default_factory=list)
    rps: list[float] = field(default_factory=list)
    concurrency: list[float] = field(default_factory=list)
    desired: list[int] = field(default_factory=list)
    pods: list[int] = field(default_factory=list)
    ready: list[int] = field(default_factory=list)
    latency_mean: list[float | None] = field(default_factory=list)
    latency_max: list[float | None] = field(default_factory=list)


@dataclass(slots=True)
class Summary:
    replica_seconds: dict[str, float] = field(default_factory=dict)  # per deployment
    above_target_s: dict[str, float] = field(default_factory=dict)  # per HPA
    max_replicas: dict[str, int] = field(default_factory=dict)
    rescales: int = 0
    first_scale_up_s: float | None = None
    requests: dict[str, FlowTotals] = field(default_factory=dict)  # per deployment with requests
    kpa_above_target_s: dict[str, float] = field(default_factory=dict)  # per PodAutoscaler
    report: list[rep.ReportRow] = field(default_factory=list)  # per Deployment with a capacity
    slo: rep.Slo | None = None
    series: dict[str, Series] = field(default_factory=dict)  # per Deployment, per tick
    request_records: dict[str, list[rep.RequestRecord]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """The summary for `-o json`: every field but the per-tick series and the per-request
        records (kept on the object for plots and reports), each report row with its ratio."""
        from dataclasses import asdict, replace

        out = asdict(replace(self, series={}, request_records={}))
        del out["series"], out["request_records"]
        out["report"] = [asdict(r) | {"ratio": r.ratio} for r in self.report]
        return out

    def lines(self) -> list[str]:
        out = ["summary:"]
        for name, rs in sorted(self.replica_seconds.items()):
            out.append(
                f"  deployment {name}: replica-seconds {rs:g}, max replicas {self.max_replicas.get(name, 0)}"
            )
        for name, r in sorted(self.requests.items()):
            out.append(
                f"  requests {name}: {r.requests} total, {r.held} held, waited {r.waited_s:g}s"
                f" (max {r.max_wait_s:g}s), {r.timed_out} timed out"
            )
        for name, s in sorted(self.above_target_s.items()):
            out.append(f"  hpa {name}: time above target {s:g}s")
        for name, s in sorted(self.kpa_above_target_s.items()):
            out.append(f"  kpa {name}: time above target {s:g}s")
        first = "never" if self.first_scale_up_s is None else f"{self.first_scale_up_s:g}s"
        out.append(f"  rescales {self.rescales}, first scale-up at {first}")
        if self.report:
            out.extend(rep.lines(self.report, self.slo))
        return out
