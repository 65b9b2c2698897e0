"""Panels of a live replay (`tidal replay --plot`): per second of the run, the requests sent and
those that failed, the latency p50/p99 of the requests sent in that second, and the replicas
sampled (desired, pods, ready), each change of the desired count marked."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Protocol

from tidal.plots import Axis, Line, Marker, Panel


class Outcome(Protocol):
    arrival_s: float
    status: int
    latency_s: float


class Replicas(Protocol):
    t_s: float
    pods: int
    ready: int
    desired: int


def _quantile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank quantile of a sorted, non-empty list."""
    return sorted_values[max(0, math.ceil(q * len(sorted_values)) - 1)]


def panel(
    name: str, outcomes: Sequence[Outcome], replicas: Sequence[Replicas], elapsed_s: float
) -> Panel:
    seconds = max(1, math.ceil(elapsed_s))
    sent = [0] * seconds
    failed = [0] * seconds
    latencies: list[list[float]] = [[] for _ in range(seconds)]
    for o in outcomes:
        k = min(seconds - 1, max(0, int(o.arrival_s)))
        sent[k] += 1
        if o.status >= 400:
            failed[k] += 1
        else:
            latencies[k].append(o.latency_s * 1000)
    p50: list[float | None] = []
    p99: list[float | None] = []
    for lat in latencies:
        lat.sort()
        p50.append(_quantile(lat, 0.5) if lat else None)
        p99.append(_quantile(lat, 0.99) if lat else None)
    desired: list[int | None] = []
    pods: list[int | None] = []
    ready: list[int | None] = []
    j = -1
    for k in range(seconds):  # the last reading at or before each second, carried forward
        while j + 1 < len(replicas) and replicas[j + 1].t_s <= k + 1e-9:
            j += 1
        r = replicas[j] if j >= 0 else None
        desired.append(r.desired if r else None)
        pods.append(r.pods if r else None)
        ready.append(r.ready if r else None)
    markers = [
        Marker(
            b.t_s,
            f"desired {a.desired}→{b.desired}",
            "up" if b.desired > a.desired else "down",
            "the autoscaler changed spec.replicas",
        )
        for a, b in zip(replicas, replicas[1:], strict=False)
        if b.desired != a.desired
    ]
    return Panel(
        name,
        list(range(seconds)),
        [
            Axis("load (req/s)", [Line("sent", sent), Line("failed (4xx/5xx, no answer)", failed)]),
            Axis("latency (ms)", [Line("p50", p50), Line("p99", p99, dashed=True)]),
            Axis(
                "replicas (pods)",
                [
                    Line("desired", desired, step=True),
                    Line("pods (paid)", pods, step=True, dashed=True),
                    Line("ready", ready, step=True),
                ],
            ),
        ],
        markers,
    )
