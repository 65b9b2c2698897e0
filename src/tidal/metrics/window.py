"""Scraped series over a sliding window, and the values the custom metrics API serves from them.

PURE: no I/O, no clock reads; `now` comes from the caller. The conventions are prometheus-adapter's:
a gauge is served as it is (its newest sample in the window); a counter `X_total` is served as
`X_total` and also as `X_per_second`, its rate over the window with counter resets handled as
Prometheus' `rate()` does. A pod's value for a metric is the sum over its series that match the
HPA's `metric.selector` (the adapter's `sum(...) by (pod)`).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

Labels = frozenset[tuple[str, str]]
PER_SECOND_SUFFIX = "_per_second"
TOTAL_SUFFIX = "_total"


@dataclass(frozen=True, slots=True)
class ScrapedSample:
    """One sample of one series, as the Prometheus text parser yields it."""

    name: str
    labels: Mapping[str, str]
    value: float
    counter: bool = False


@dataclass(slots=True)
class Series:
    counter: bool
    points: deque[tuple[float, float]] = field(default_factory=deque)


def rate(points: Iterable[tuple[float, float]]) -> float | None:
    """Per-second increase over the points (oldest first); resets count from zero, as `rate()`."""
    pts = list(points)
    if len(pts) < 2:
        return None
    increase = 0.0
    for (_, prev), (_, cur) in zip(pts, pts[1:], strict=False):
        increase += cur - prev if cur >= prev else cur
    span = pts[-1][0] - pts[0][0]
    return increase / span if span > 0 else None


class SeriesWindow:
    """The samples of one scrape target (a pod) kept for `window_s` seconds."""

    def __init__(self, window_s: float) -> None:
        self.window_s = window_s
        self.series: dict[tuple[str, Labels], Series] = {}
        self.last_scrape_at: float | None = None

    def add(self, samples: Iterable[ScrapedSample], now: float) -> None:
        seen: set[tuple[str, Labels]] = set()
        for s in samples:
            key = (s.name, frozenset(s.labels.items()))
            seen.add(key)
            series = self.series.get(key)
            if series is None:
                series = self.series[key] = Series(counter=s.counter)
            series.points.append((now, s.value))
        self.last_scrape_at = now
        self.expire(now)
        for key in [k for k in self.series if k not in seen and not self.series[k].points]:
            del self.series[key]

    def expire(self, now: float) -> None:
        horizon = now - self.window_s
        for series in self.series.values():
            # keep one point older than the window so a rate spans the whole window
            while len(series.points) > 2 and series.points[1][0] <= horizon:
                series.points.popleft()
            if series.points and series.points[-1][0] < horizon:
                series.points.clear()

    def names(self) -> set[str]:
        """Metric names this target can answer, counters also as `_per_second`."""
        out: set[str] = set()
        for (name, _), series in self.series.items():
            if not series.points:
                continue
            out.add(name)
            if series.counter and name.endswith(TOTAL_SUFFIX):
                out.add(name[: -len(TOTAL_SUFFIX)] + PER_SECOND_SUFFIX)
        return out

    def value(
        self, metric: str, matches: Callable[[Mapping[str, str]], bool] = lambda _labels: True
    ) -> float | None:
        """The pod's value of `metric`: summed over matching series; None when there is none."""
        wanted, as_rate = metric, False
        if metric.endswith(PER_SECOND_SUFFIX):
            base = metric[: -len(PER_SECOND_SUFFIX)] + TOTAL_SUFFIX
            if any(name == base for name, _ in self.series):
                wanted, as_rate = base, True
        total: float | None = None
        for (name, labels), series in self.series.items():
            if name != wanted or not series.points or not matches(dict(labels)):
                continue
            if as_rate:
                r = rate(series.points)
                if r is None:
                    continue
                v = r
            else:
                v = series.points[-1][1]
            total = v if total is None else total + v
        return total
