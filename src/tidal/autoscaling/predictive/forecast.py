"""Demand ahead, pure and deterministic. Three estimates, all from the service's own history:

- the **level** now and the recent **trend**: a least-squares line through the samples of the
  trend window, read at `now` (level) and with its slope (trend);
- the **daily and weekly patterns** (seasonal naive with drift): how demand changed between
  `now - P` and `now + ahead - P` one period P earlier, added to today's level; used for each
  period the 5-minute buckets cover, in place of the linear trend;
- the **margin**: the residuals' standard deviation times the normal quantile the spec asks for,
  so the floor covers the forecast's upper bound, not its middle.

No library: the series is short and the method small enough to read (docs/PREDICTIVE.md says
why statsmodels' Holt-Winters does not fit: minutes of history, irregular samples)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

from tidal.autoscaling.predictive.history import History, at


@dataclass(frozen=True, slots=True)
class Forecast:
    value: float  # the upper bound at now + ahead (>= 0)
    point: float  # the middle of the forecast
    level: float
    trend_per_s: float
    seasonal: tuple[tuple[str, float], ...]  # (season, change it predicts over `ahead`)
    margin: float
    ahead_s: float
    samples: int
    method: str  # "level", "level+trend" or "level+daily", "level+daily+weekly"

    def explain(self) -> str:
        parts = [f"level {self.level:.3g}"]
        if self.seasonal:
            parts += [f"{s} {d:+.3g}" for s, d in self.seasonal]
        else:
            parts.append(f"trend {self.trend_per_s * 60:+.3g}/min")
        parts.append(f"margin {self.margin:.3g}")
        return f"forecast {self.value:.3g} at +{self.ahead_s:g}s ({', '.join(parts)})"


def fit_line(points: list[tuple[float, float]]) -> tuple[float, float, float]:
    """(value at the last point's time, slope, residual standard deviation) of the least-squares
    line; a flat line through the mean when the points span no time."""
    n = len(points)
    t_last = points[-1][0]
    xs = [t - t_last for t, _ in points]
    ys = [v for _, v in points]
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    slope = (
        0.0
        if n < 3 or sxx <= 1e-12
        else sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx
    )
    level = my - slope * mx  # at x = 0, the last sample's time
    resid = [y - (level + slope * x) for x, y in zip(xs, ys, strict=True)]
    dof = max(n - 2, 1) if slope else max(n - 1, 1)
    sd = math.sqrt(sum(r * r for r in resid) / dof) if n > 1 else 0.0
    return level, slope, sd


def forecast(
    h: History,
    now: float,
    ahead_s: float,
    *,
    trend_window_s: float,
    quantile: float,
    periods: tuple[tuple[str, float], ...] = (),
) -> Forecast | None:
    """The demand at `now + ahead_s` (same unit as the samples); None without samples in the
    trend window."""
    recent = [(t, v) for t, v in h.samples if now - trend_window_s <= t <= now]
    if not recent:
        return None
    # the level stays at the last sample: no extrapolation over a gap without samples (the HPA
    # reports no metrics on a sync that only lifts it to its floor), or the floor would feed on
    # its own trend
    level, slope, sd = fit_line(recent)
    if len(recent) < 4 or recent[-1][0] - recent[0][0] < trend_window_s / 2:
        slope = 0.0  # a trend from a few samples at the start would be noise, extrapolated
    seasonal = []
    for name, period in periods:
        then, ahead = at(h, now - period), at(h, now + ahead_s - period)
        if then is not None and ahead is not None:
            seasonal.append((name, ahead - then))
    if seasonal:
        change = sum(d for _, d in seasonal) / len(seasonal)
        method = "level+" + "+".join(n for n, _ in seasonal)
    else:
        change = slope * ahead_s
        method = "level+trend" if slope else "level"
    point = level + change
    z = max(NormalDist().inv_cdf(min(max(quantile, 50.0), 99.99) / 100.0), 0.0)
    margin = z * sd
    return Forecast(
        value=max(point + margin, 0.0),
        point=point,
        level=level,
        trend_per_s=slope,
        seasonal=tuple(seasonal),
        margin=margin,
        ahead_s=ahead_s,
        samples=len(recent),
        method=method,
    )
