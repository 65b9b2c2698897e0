"""From a PodAutoscaler and the `config-autoscaler` Config to the decider's spec: the target and
total values, the windows, the panic threshold, TBC, delays (Knative's `ResolveMetricTarget`,
`MakeMetric`, `StableWindow`, `MakeDecider`, `GetInitialScale`)."""

from __future__ import annotations

from dataclasses import dataclass

from tidal.api import gotime
from tidal.autoscaling.kpa import annotations as ann
from tidal.autoscaling.kpa.config import BUCKET_SIZE, TARGET_MIN, Config
from tidal.autoscaling.kpa.podautoscaler import PodAutoscaler


@dataclass(frozen=True, slots=True)
class DeciderSpec:
    """`scaling.DeciderSpec`; missing fields are Go's zero values. Durations in ns."""

    max_scale_up_rate: float = 0.0
    max_scale_down_rate: float = 0.0
    scaling_metric: str = ""
    target_value: float = 0.0
    total_value: float = 0.0
    target_burst_capacity: float = 0.0
    activator_capacity: float = 0.0
    panic_threshold: float = 0.0
    stable_window: int = 0
    scale_down_delay: int = 0
    initial_scale: int = 0
    reachable: bool = False
    activation_scale: int = 0


GO_FIELDS: dict[str, str] = {
    "MaxScaleUpRate": "max_scale_up_rate",
    "MaxScaleDownRate": "max_scale_down_rate",
    "ScalingMetric": "scaling_metric",
    "TargetValue": "target_value",
    "TotalValue": "total_value",
    "TargetBurstCapacity": "target_burst_capacity",
    "ActivatorCapacity": "activator_capacity",
    "PanicThreshold": "panic_threshold",
    "StableWindow": "stable_window",
    "ScaleDownDelay": "scale_down_delay",
    "InitialScale": "initial_scale",
    "Reachable": "reachable",
    "ActivationScale": "activation_scale",
}


@dataclass(frozen=True, slots=True)
class MetricSpec:
    """The windows the collector averages over (`autoscaling.Metric` spec)."""

    stable_window: int
    panic_window: int
    scrape_target: str = ""
    aggregation_algorithm: str = ""


def resolve_metric_target(pa: PodAutoscaler, cfg: Config) -> tuple[float, float]:
    """(target, total): per-pod value to aim for, and the per-pod capacity."""
    if pa.metric == ann.RPS:
        total = cfg.rps_target_default
        tu = cfg.target_utilization
    else:
        total = float(pa.container_concurrency) or cfg.container_concurrency_target_default
        tu = cfg.container_concurrency_target_fraction
    if (t := pa.target()) is not None:
        total = t
        if pa.metric == ann.CONCURRENCY and pa.container_concurrency != 0:
            total = min(t, float(pa.container_concurrency))
    if (u := pa.target_utilization()) is not None:
        tu = u
    return max(TARGET_MIN, total * tu), total


def stable_window(pa: PodAutoscaler, cfg: Config) -> int:
    w = pa.window()
    return cfg.stable_window if w is None else w


def make_metric(pa: PodAutoscaler, cfg: Config, metric_service: str = "") -> MetricSpec:
    """Stable window, and the panic window as a percentage of it rounded to the bucket (≥ 1 s)."""
    sw = stable_window(pa, cfg)
    pct = pa.panic_window_percentage()
    if pct is None:
        pct = cfg.panic_window_percentage
    pw = gotime.round_duration(int(float(sw) * pct / 100.0), BUCKET_SIZE)
    pw = max(pw, BUCKET_SIZE)
    return MetricSpec(sw, pw, metric_service, pa.aggregation_algorithm())


def initial_scale(cfg: Config, pa: PodAutoscaler) -> int:
    v = pa.initial_scale()
    if v is None or (v == 0 and not cfg.allow_zero_initial_scale):
        return cfg.initial_scale
    return v


def make_decider(pa: PodAutoscaler, cfg: Config) -> DeciderSpec:
    ptp = pa.panic_threshold_percentage()
    if ptp is None:
        ptp = cfg.panic_threshold_percentage
    target, total = resolve_metric_target(pa, cfg)
    tbc = pa.target_bc()
    sdd = pa.scale_down_delay()
    return DeciderSpec(
        max_scale_up_rate=cfg.max_scale_up_rate,
        max_scale_down_rate=cfg.max_scale_down_rate,
        scaling_metric=pa.metric,
        target_value=target,
        total_value=total,
        target_burst_capacity=cfg.target_burst_capacity if tbc is None else tbc,
        activator_capacity=cfg.activator_capacity,
        panic_threshold=ptp / 100.0,
        stable_window=stable_window(pa, cfg),
        scale_down_delay=cfg.scale_down_delay if sdd is None else sdd,
        initial_scale=initial_scale(cfg, pa),
        reachable=pa.reachable,
        activation_scale=pa.activation_scale() or 0,
    )
