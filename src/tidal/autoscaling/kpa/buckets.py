"""Knative's bucketed window averages (`pkg/autoscaler/aggregation/bucketing.go`), as values.

A window is a ring of `ceil(window / granularity)` buckets. Every operation takes the instant it
happens at and returns a new `Buckets` (the ring is a tuple): the collector owns the current value
and nothing here reads a clock or mutates what it was given.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, replace

from tidal.api import gotime

# The weighted average's smallest decay multiplier and the weight sum it aims for.
MIN_EXPONENT = 0.2
WEIGHT_PRECISION = 0.9999
PRECISION = 6


def go_round(x: float) -> float:
    """Go's `math.Round`: half away from zero (Python's `round` is half to even)."""
    if not math.isfinite(x):
        return x
    t = math.trunc(x)
    if abs(x - t) >= 0.5:
        t += math.copysign(1, x)
    return float(t)


def round_to_n_digits(n: int, f: float) -> float:
    """Knative's `roundToNDigits`: round to `n` decimals, half away from zero."""
    p = 10.0**n
    return go_round(f * p) / p


def smoothing_coeff(num_buckets: float) -> float:
    """The weighted-exponential decay for a window of `num_buckets`: at least `MIN_EXPONENT`."""
    return max(1 - math.pow(1 - WEIGHT_PRECISION, 1 / num_buckets), MIN_EXPONENT)


def _bucket_count(window: int, granularity: int) -> int:
    return math.ceil(window / granularity)


@dataclass(frozen=True, slots=True)
class Buckets:
    """`TimedFloat64Buckets` (linear average) or, with `weighted`, `WeightedFloat64Buckets`."""

    window: int  # ns
    granularity: int  # ns
    buckets: tuple[float, ...]
    first_write: int = gotime.ZERO
    last_write: int = gotime.ZERO
    window_total: float = 0.0
    weighted: bool = False
    smoothing: float = 0.0

    @classmethod
    def new(cls, window: int, granularity: int, *, weighted: bool = False) -> Buckets:
        n = _bucket_count(window, granularity)
        return cls(
            window=window,
            granularity=granularity,
            buckets=(0.0,) * n,
            weighted=weighted,
            smoothing=smoothing_coeff(n) if weighted else 0.0,
        )

    def _index(self, t: int) -> int:
        """`timeToIndex`: Unix seconds over the granularity in whole seconds (Go division)."""
        return gotime.go_div(gotime.unix_seconds(t), int(self.granularity / gotime.SECOND))

    def is_empty(self, now: int) -> bool:
        """No write within the last window (`IsEmpty`)."""
        now = gotime.truncate(now, self.granularity)
        return gotime.sub(now, self.last_write) > self.window

    def record(self, now: int, value: float) -> Buckets:
        """Add `value` to the bucket of `now`; zero skipped buckets; ignore values a window old."""
        bucket_time = gotime.truncate(now, self.granularity)
        write_idx = self._index(now)
        buckets = list(self.buckets)
        n = len(buckets)
        first, last, total = self.first_write, self.last_write, self.window_total
        if last != bucket_time:
            if not bucket_time + self.window > last:
                return self  # older than a whole window before the last write
            if first == gotime.ZERO or first > bucket_time:
                first = bucket_time
            if bucket_time > last:
                if gotime.sub(bucket_time, last) >= self.window:
                    # No writes for a whole window: start over.
                    first = bucket_time
                    buckets = [0.0] * n
                    total = 0.0
                else:
                    for i in range(self._index(last) + 1, write_idx + 1):
                        total -= buckets[i % n]
                        buckets[i % n] = 0.0
                last = bucket_time
        buckets[write_idx % n] += value
        total += value
        return replace(
            self, buckets=tuple(buckets), first_write=first, last_write=last, window_total=total
        )

    def window_average(self, now: int) -> float:
        """The linear or weighted-exponential average as of `now` (see the module docstring)."""
        if self.weighted:
            return self._weighted_average(now)
        now = gotime.truncate(now, self.granularity)
        d = gotime.sub(now, self.last_write)
        valid = gotime.go_div(gotime.sub(self.last_write, self.first_write), self.granularity) + 1
        if d <= 0:
            num = min(float(valid), float(len(self.buckets)))
            return round_to_n_digits(PRECISION, self.window_total / num)
        if d < self.window:
            st, e = self._index(self.last_write), self._index(now)
            ret = self.window_total
            for i in range(st + 1, e + 1):
                ret -= self.buckets[i % len(self.buckets)]
            num = min(float(valid), float(len(self.buckets) - (e - st)))
            return round_to_n_digits(PRECISION, ret / num)
        return 0.0

    def _weighted_average(self, now: int) -> float:
        now = gotime.truncate(now, self.granularity)
        if self.is_empty(now):
            return 0.0
        total_b = num_b = len(self.buckets)
        multiplier = self.smoothing
        if now > self.last_write:
            num_z = gotime.go_div(gotime.sub(now, self.last_write), self.granularity)
            multiplier = multiplier * math.pow(1 - self.smoothing, float(num_z))
            num_b -= num_z
        start = self._index(self.last_write) + total_b
        ret = 0.0
        for i in range(num_b):
            ret += self.buckets[(start - i) % total_b] * multiplier
            multiplier *= 1 - self.smoothing
        return ret

    def resize(self, window: int, wall_now: int) -> Buckets:
        """`ResizeWindow`: keep the newest buckets that fit; `wall_now` is Go's `time.Now()`."""
        if window == self.window:
            return self
        n_new = _bucket_count(window, self.granularity)
        new = [0.0] * n_new
        new_total = 0.0
        first = self.first_write
        if gotime.sub(gotime.truncate(wall_now, self.granularity), self.last_write) <= self.window:
            n_old = len(self.buckets)
            t_idx = self._index(self.last_write)
            for _ in range(min(n_new, n_old)):
                new[t_idx % n_new] = self.buckets[t_idx % n_old]
                new_total += self.buckets[t_idx % n_old]
                t_idx -= 1
            first = self.last_write - (n_old - 1) * self.granularity
        else:
            first = gotime.ZERO
        out = replace(
            self, window=window, buckets=tuple(new), window_total=new_total, first_write=first
        )
        if self.weighted:
            out = replace(out, smoothing=smoothing_coeff(n_new))
        return out

    def each_bucket(self, now: int) -> Iterator[tuple[int, float]]:
        """(bucket time, value) newest first over the whole ring; nothing when empty at `now`."""
        if self.is_empty(now):
            return
        n = len(self.buckets)
        t_idx = self._index(self.last_write)
        for i in range(n):
            yield self.last_write - i * self.granularity, self.buckets[t_idx % n]
            t_idx -= 1
