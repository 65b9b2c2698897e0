"""Panels of a live run from the dashboard's `/history` (what the plane measured once a second):
per service, requests/s and non-2xx/s, latency p50/p99, replicas desired and ready with the
autoscaler's bounds, and its decisions (the Events) as markers. `tidal dashboard --plot` and
`make demo` draw their load test with it."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from tidal.plots import Axis, Line, Marker, Panel

_SIZE = re.compile(r"New size: (\d+)")


def _marker(d: Mapping[str, Any], t0: float, desired: Sequence[tuple[float, Any]]) -> Marker:
    """A decision; `desired` ((t, replicas) in time order) tells a scale-up from a scale-down."""
    t = float(d["t"]) - t0
    size = _SIZE.search(d.get("message") or "")
    if d.get("type") == "Warning":
        return Marker(t, "", "warning", d.get("message", ""))
    if not size:
        return Marker(t, str(d.get("reason", "")), "other", d.get("message", ""))
    before = [v for at, v in desired if at < t and v is not None]
    new = int(size.group(1))
    kind = "other" if not before else ("up" if new > before[-1] else "down")
    label = f"{d.get('kind', '')} {before[-1]}→{new}" if before else f"{d.get('kind', '')} →{new}"
    return Marker(t, label, kind, d.get("message", ""))


def panels(
    history: Mapping[str, Any], services: Sequence[str] = (), since: float | None = None
) -> list[Panel]:
    """One panel per service key (`namespace/name`; all that have data when empty), times in
    seconds from the first frame at or after `since` (Unix seconds)."""
    frames = [f for f in history.get("frames") or [] if since is None or f["t"] >= since]
    if not frames:
        return []
    t0 = frames[0]["t"]
    keys = list(services) or sorted({k for f in frames for k in f["services"]})
    out = []
    for key in keys:
        rows = [(f["t"] - t0, f["services"][key]) for f in frames if key in f["services"]]
        if not rows:
            continue
        times = [t for t, _ in rows]

        def col(field: str, rows: list = rows) -> list[float | None]:
            return [r.get(field) for _, r in rows]

        axes = [
            Axis(
                "load (req/s)", [Line("requests/s", col("rps")), Line("non-2xx/s", col("errors"))]
            ),
            Axis("latency (ms)", [Line("p50", col("p50")), Line("p99", col("p99"), dashed=True)]),
            Axis(
                "replicas (pods)",
                [
                    Line("desired", col("desired"), step=True),
                    Line("ready", col("ready"), step=True),
                    *([Line("max", col("max"), dashed=True)] if any(col("max")) else []),
                ],
            ),
        ]
        desired = list(zip(times, col("desired"), strict=True))
        marks = [
            _marker(d, t0, desired)
            for d in history.get("decisions") or []
            if d.get("service") == key and d.get("t") is not None and d["t"] >= t0
        ]
        out.append(Panel(key, times, axes, marks))
    return out
