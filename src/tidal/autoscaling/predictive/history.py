"""The demand history a forecast reads, bounded: the recent samples (for the level and trend)
and 5-minute means over the last 15 days (for the daily and weekly patterns). At most
`RETENTION_S / BUCKET_S` = 4320 buckets plus the recent window, whatever the uptime."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

BUCKET_S = 300.0
RETENTION_S = 15 * 86400.0  # two weekly periods and a day: a weekly forecast needs one
MIN_RECENT_S = 600.0


@dataclass(frozen=True, slots=True)
class History:
    samples: tuple[tuple[float, float], ...] = ()  # (time, value), recent, in time order
    buckets: tuple[tuple[float, float, int], ...] = ()  # (bucket start, mean, samples)

    def to_dict(self) -> dict[str, Any]:
        return {
            "samples": [[round(t, 3), round(v, 4)] for t, v in self.samples],
            "buckets": [[round(t, 3), round(v, 4), n] for t, v, n in self.buckets],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> History:
        """The history stored by `to_dict`; entries of the wrong shape are dropped."""
        data = data or {}
        samples = []
        for row in data.get("samples") or ():
            if isinstance(row, list | tuple) and len(row) == 2 and _finite(*row):
                samples.append((float(row[0]), float(row[1])))
        buckets = []
        for row in data.get("buckets") or ():
            if isinstance(row, list | tuple) and len(row) == 3 and _finite(*row):
                buckets.append((float(row[0]), float(row[1]), int(row[2])))
        return cls(tuple(sorted(samples)), tuple(sorted(buckets)))


def _finite(*xs: Any) -> bool:
    return all(
        isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x) for x in xs
    )


def record(h: History, t: float, value: float, *, recent_s: float) -> History:
    """`h` with the sample (t, value): added to the recent samples and to its bucket's mean;
    samples older than `max(recent_s, 10 min)` and buckets older than 15 days are dropped. A
    sample not after the last one is ignored (a clock that went back)."""
    if h.samples and t <= h.samples[-1][0]:
        return h
    keep_from = t - max(recent_s, MIN_RECENT_S)
    samples = tuple(s for s in h.samples if s[0] >= keep_from) + ((t, value),)
    start = math.floor(t / BUCKET_S) * BUCKET_S
    buckets = list(h.buckets)
    if buckets and buckets[-1][0] == start:
        b0, mean, n = buckets[-1]
        buckets[-1] = (b0, mean + (value - mean) / (n + 1), n + 1)
    else:
        buckets.append((start, value, 1))
    cut = t - RETENTION_S
    return History(samples, tuple(b for b in buckets if b[0] + BUCKET_S > cut))


def at(h: History, t: float) -> float | None:
    """The bucket means interpolated linearly at `t` (each mean stands at its bucket's middle);
    None where the buckets do not cover `t` (before the first, after the last, or across a gap
    of missing buckets)."""
    pts = [(b0 + BUCKET_S / 2, mean) for b0, mean, _ in h.buckets]
    for (t0, v0), (t1, v1) in zip(pts, pts[1:], strict=False):
        if t0 <= t <= t1:
            if t1 - t0 > BUCKET_S + 1e-9:
                return None
            return v0 + (v1 - v0) * (t - t0) / (t1 - t0)
    for b0, mean, _ in h.buckets:  # a lone bucket covers its own interval
        if b0 <= t < b0 + BUCKET_S:
            return mean
    return None
