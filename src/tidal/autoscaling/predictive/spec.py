"""The PredictiveHorizontalPodAutoscaler's spec read as the controller uses it, defaults filled.
The names follow Alibaba's AHPA where it has one (`scaleStrategy`, `prediction.quantile`,
`prediction.scaleUpForward`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

GROUP = "autoscaling.tidal.dev"
VERSION = "v1alpha1"
KIND = "PredictiveHorizontalPodAutoscaler"

STRATEGIES = ("auto", "observer")  # auto: set the HPA's floor; observer: forecast only
SEASONS = {"daily": 86400.0, "weekly": 604800.0}

DEFAULT_QUANTILE = 90.0  # percent: the forecast's upper bound the floor covers
DEFAULT_SCALE_UP_FORWARD_S = 30  # how far ahead: the pod's cold start
DEFAULT_TREND_WINDOW_S = 300  # the recent samples the level and trend are fitted on
DEFAULT_SEASONS = ("daily", "weekly")


@dataclass(frozen=True, slots=True)
class Params:
    hpa: str  # the HorizontalPodAutoscaler's name (same namespace)
    strategy: str = "auto"
    min_replicas: int | None = None  # the floor without prediction; None: the HPA's own min
    quantile: float = DEFAULT_QUANTILE
    scale_up_forward_s: float = DEFAULT_SCALE_UP_FORWARD_S
    trend_window_s: float = DEFAULT_TREND_WINDOW_S
    seasons: tuple[str, ...] = DEFAULT_SEASONS

    @property
    def periods(self) -> tuple[tuple[str, float], ...]:
        return tuple((s, SEASONS[s]) for s in self.seasons)


def default_prediction() -> dict[str, Any]:
    return {
        "quantile": DEFAULT_QUANTILE,
        "scaleUpForward": DEFAULT_SCALE_UP_FORWARD_S,
        "trendWindow": DEFAULT_TREND_WINDOW_S,
        "seasons": list(DEFAULT_SEASONS),
    }


def params_of(spec: Mapping[str, Any]) -> Params:
    """Params from a validated spec (absent fields take their defaults)."""
    pred = dict(default_prediction())
    pred.update({k: v for k, v in (spec.get("prediction") or {}).items() if v is not None})
    mn = spec.get("minReplicas")
    return Params(
        hpa=str((spec.get("hpaRef") or {}).get("name") or ""),
        strategy=str(spec.get("scaleStrategy") or "auto"),
        min_replicas=None if mn is None else int(mn),
        quantile=float(pred["quantile"]),
        scale_up_forward_s=float(pred["scaleUpForward"]),
        trend_window_s=float(pred["trendWindow"]),
        seasons=tuple(pred["seasons"]),
    )
