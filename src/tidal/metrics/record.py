"""A service's recorded history turned into a trace that `tidal simulate`, `tune` and `replay`
read: a series (a CSV with a `t` column in seconds from the start, and one column per variable),
or requests (one row per request, as the router logged them).

From Prometheus: a PromQL range query (`/api/v1/query_range`), every returned series summed at
each step (a user's `sum(rate(...))` returns one anyway). Missing steps stay missing rather than
being read as zero, as Prometheus' staleness means "no sample", not "no load"."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Sequence

import httpx

from tidal.api import errors
from tidal.metrics.external_api import prometheus_data

Point = tuple[float, float]


async def range_query(
    http: httpx.AsyncClient, server: str, query: str, *, start: float, end: float, step_s: float
) -> list[Point]:
    """(unix time, value summed over the series) for every step Prometheus has a sample."""
    params = {"query": query, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step_s}"}
    data = await prometheus_data(http, server, "/api/v1/query_range", params)
    if data.get("resultType") != "matrix":
        raise errors.BadRequest(f"query {query!r} returned {data.get('resultType')}, not a matrix")
    return sum_series(s.get("values") or [] for s in data.get("result") or [])


def sum_series(series: Iterable[Sequence[Sequence[object]]]) -> list[Point]:
    """PURE: Prometheus' `[[t, "v"], ...]` lists added up by timestamp; NaN/Inf samples skipped."""
    total: dict[float, float] = {}
    for values in series:
        for t, v in values:
            x = float(str(v))
            if math.isfinite(x):
                total[float(str(t))] = total.get(float(str(t)), 0.0) + x
    return sorted(total.items())


def trace_csv(points: Sequence[Point], column: str = "rps", *, start: float | None = None) -> str:
    """PURE: the trace file: `t` in seconds since `start` (default: the first point)."""
    if not points:
        raise ValueError("no samples in the range: nothing to record")
    origin = points[0][0] if start is None else start
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["t", column])
    for t, v in points:
        w.writerow([_num(t - origin), _num(v)])
    return out.getvalue()


def requests_csv(rows: Sequence[tuple[float, int, float]]) -> str:
    """PURE: a request-level trace (one row per request, by arrival): `TIMESTAMP` (unix seconds,
    which the simulator's request traces read), `LatencySeconds` and `Status` as answered."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["TIMESTAMP", "LatencySeconds", "Status"])
    for t, code, latency in sorted(rows):
        w.writerow([f"{t:.6f}", _num(round(latency, 6)), code])
    return out.getvalue()


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:.6f}".rstrip("0").rstrip(".")
