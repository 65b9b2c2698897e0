"""Predictive scaling beside the HPA (as Alibaba's AHPA does), pure: no I/O, no clock.

- `spec`: the PredictiveHorizontalPodAutoscaler's settings with their defaults;
- `history`: the bounded history of demand (recent samples + 5-minute buckets over 15 days);
- `forecast`: demand ahead from the recent level and trend, or the daily/weekly pattern;
- `floor`: the HPA's metric as replicas needed, and the floor to set on the HPA.

docs/PREDICTIVE.md has the design and how it composes with the HPA."""

from tidal.autoscaling.predictive.floor import FloorDecision, decide_floor, needed_replicas
from tidal.autoscaling.predictive.forecast import Forecast, forecast
from tidal.autoscaling.predictive.history import History, record
from tidal.autoscaling.predictive.spec import Params, params_of

__all__ = [
    "FloorDecision",
    "Forecast",
    "History",
    "Params",
    "decide_floor",
    "forecast",
    "needed_replicas",
    "params_of",
    "record",
]
