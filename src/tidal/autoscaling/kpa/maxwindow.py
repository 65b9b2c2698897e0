"""Knative's sliding maximum (`pkg/autoscaler/aggregation/max`): the scale-down delay keeps the
largest desired count recorded in the last `delay` (2 s slots). Values, not objects: `record`
returns a new window."""

from __future__ import annotations

import math
from dataclasses import dataclass

from tidal.api import gotime


@dataclass(frozen=True, slots=True)
class MaxWindow:
    """A descending-maxima ring of `size` slots, indexed by a monotonically increasing index."""

    size: int
    entries: tuple[tuple[int, float], ...] = ()  # (index, value), oldest first, values descending

    def record(self, index: int, value: float) -> MaxWindow:
        entries = list(self.entries)
        # A smaller older value can never be the maximum again.
        while entries and not value < entries[-1][1]:
            entries.pop()
        # Drop what fell out of the window.
        while entries and index - entries[0][0] >= self.size:
            entries.pop(0)
        # Same index twice: keep the larger.
        if entries and entries[-1][0] == index:
            value = max(value, entries[-1][1])
            entries.pop()
        entries.append((index, value))
        return MaxWindow(self.size, tuple(entries))

    def current(self) -> float:
        return self.entries[0][1] if self.entries else 0.0


@dataclass(frozen=True, slots=True)
class TimeWindow:
    """`max.TimeWindow`: a MaxWindow whose index is Unix seconds over the granularity."""

    granularity: int  # ns
    window: MaxWindow

    @classmethod
    def new(cls, duration: int, granularity: int) -> TimeWindow:
        return cls(granularity, MaxWindow(math.ceil(duration / granularity)))

    def record(self, now: int, value: float) -> TimeWindow:
        index = gotime.go_div(gotime.unix_seconds(now), int(self.granularity / gotime.SECOND))
        return TimeWindow(self.granularity, self.window.record(index, value))

    def current(self) -> float:
        return self.window.current()
