"""The `config-autoscaler` ConfigMap resolved into a `Config` with Knative's defaults and checks
(`pkg/autoscaler/config/config.go`). Error messages are Knative's, word for word."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace

from tidal.api import gotime
from tidal.api.wellknown import KPA_CLASS
from tidal.autoscaling.kpa.golang import (
    format_float_v,
    parse_bool,
    parse_float,
    parse_int32,
    quote,
)

KPA = KPA_CLASS
HPA = "hpa.autoscaling.knative.dev"
TARGET_MIN = 0.01
WINDOW_MIN = 6 * gotime.SECOND
WINDOW_MAX = gotime.HOUR
PANIC_WINDOW_PERCENTAGE_MIN = 1.0
PANIC_WINDOW_PERCENTAGE_MAX = 100.0
PANIC_THRESHOLD_PERCENTAGE_MIN = 110.0
PANIC_THRESHOLD_PERCENTAGE_MAX = 1000.0
BUCKET_SIZE = gotime.SECOND
TICK_INTERVAL = 2 * gotime.SECOND


class ConfigError(ValueError):
    """The ConfigMap does not resolve; the message says which key and why."""


@dataclass(frozen=True, slots=True)
class Config:
    """`autoscalerconfig.Config`; durations are nanoseconds."""

    enable_scale_to_zero: bool = True
    container_concurrency_target_fraction: float = 0.7
    container_concurrency_target_default: float = 100.0
    target_utilization: float = 0.7
    rps_target_default: float = 200.0
    max_scale_up_rate: float = 1000.0
    max_scale_down_rate: float = 2.0
    target_burst_capacity: float = 211.0
    panic_window_percentage: float = 10.0
    activator_capacity: float = 100.0
    panic_threshold_percentage: float = 200.0
    stable_window: int = 60 * gotime.SECOND
    scale_to_zero_grace_period: int = 30 * gotime.SECOND
    scale_to_zero_pod_retention_period: int = 0
    scale_down_delay: int = 0
    pod_autoscaler_class: str = KPA
    allow_zero_initial_scale: bool = False
    initial_scale: int = 1
    min_scale: int = 0
    max_scale: int = 0
    max_scale_limit: int = 0


# Go field name -> Python field name (the acceptance cases and docs use Go's names).
GO_FIELDS: dict[str, str] = {
    "".join(p.capitalize() for p in f.name.split("_")): f.name for f in fields(Config)
}
GO_FIELDS["RPSTargetDefault"] = GO_FIELDS.pop("RpsTargetDefault")

_STRINGS = {"pod-autoscaler-class": "pod_autoscaler_class"}
_BOOLS = {
    "enable-scale-to-zero": "enable_scale_to_zero",
    "allow-zero-initial-scale": "allow_zero_initial_scale",
}
_FLOATS = {
    "max-scale-up-rate": "max_scale_up_rate",
    "max-scale-down-rate": "max_scale_down_rate",
    "container-concurrency-target-percentage": "container_concurrency_target_fraction",
    "container-concurrency-target-default": "container_concurrency_target_default",
    "requests-per-second-target-default": "rps_target_default",
    "target-burst-capacity": "target_burst_capacity",
    "panic-window-percentage": "panic_window_percentage",
    "activator-capacity": "activator_capacity",
    "panic-threshold-percentage": "panic_threshold_percentage",
}
_INT32S = {
    "initial-scale": "initial_scale",
    "min-scale": "min_scale",
    "max-scale": "max_scale",
    "max-scale-limit": "max_scale_limit",
}
_DURATIONS = {
    "stable-window": "stable_window",
    "scale-down-delay": "scale_down_delay",
    "scale-to-zero-grace-period": "scale_to_zero_grace_period",
    "scale-to-zero-pod-retention-period": "scale_to_zero_pod_retention_period",
}


def _parse_error(key: str, err: Exception) -> ConfigError:
    return ConfigError(f"failed to parse data: failed to parse {quote(key)}: {err}")


def config_from_map(data: Mapping[str, str]) -> Config:
    """`NewConfigFromMap`: defaults, the keys present, `%` → fraction, then `validate`."""
    values: dict[str, object] = {}
    for key, name in _STRINGS.items():
        if key in data:
            values[name] = data[key]
    parsers = (
        (_BOOLS, parse_bool),
        (_FLOATS, parse_float),
        (_INT32S, parse_int32),
        (_DURATIONS, gotime.parse_duration),
    )
    for table, parse in parsers:
        for key, name in table.items():
            if key in data:
                try:
                    values[name] = parse(data[key])
                except ValueError as err:
                    raise _parse_error(key, err) from None
    cfg = Config(**values)  # type: ignore[arg-type]
    # For legacy reasons values in (0, 1] are fractions; anything above 1 is a percentage.
    if cfg.container_concurrency_target_fraction > 1.0:
        cfg = replace(
            cfg,
            container_concurrency_target_fraction=cfg.container_concurrency_target_fraction / 100,
        )
    validate(cfg)
    return cfg


def _d(d: int) -> str:
    return gotime.format_duration(d)


def validate(lc: Config) -> None:
    """Knative's `validate`, in its order; raises ConfigError with its message."""
    v = format_float_v
    if lc.scale_to_zero_grace_period <= 0:
        raise ConfigError(
            f"scale-to-zero-grace-period must be positive, was: {_d(lc.scale_to_zero_grace_period)}"
        )
    if lc.scale_down_delay < 0:
        raise ConfigError(f"scale-down-delay cannot be negative, was: {_d(lc.scale_down_delay)}")
    if gotime.round_duration(lc.scale_down_delay, gotime.SECOND) != lc.scale_down_delay:
        raise ConfigError(
            f"scale-down-delay = {_d(lc.scale_down_delay)}, must be specified with at most second precision"
        )
    if lc.scale_to_zero_pod_retention_period < 0:
        raise ConfigError(
            "scale-to-zero-pod-retention-period cannot be negative, was: "
            + _d(lc.scale_to_zero_pod_retention_period)
        )
    if lc.target_burst_capacity < 0 and lc.target_burst_capacity != -1:
        raise ConfigError(
            "target-burst-capacity must be either non-negative or -1 (for unlimited), was: "
            f"{lc.target_burst_capacity:f}"
        )
    if (
        lc.container_concurrency_target_fraction <= 0
        or lc.container_concurrency_target_fraction > 1
    ):
        raise ConfigError(
            f"container-concurrency-target-percentage = {lc.container_concurrency_target_fraction:f} "
            "is outside of valid range of (0, 100]"
        )
    x = lc.container_concurrency_target_fraction * lc.container_concurrency_target_default
    if x < TARGET_MIN:
        raise ConfigError(
            "container-concurrency-target-percentage and container-concurrency-target-default "
            f"yield target concurrency of {v(x)}, can't be less than {v(TARGET_MIN)}"
        )
    if lc.rps_target_default < TARGET_MIN:
        raise ConfigError(
            f"requests-per-second-target-default must be at least {v(TARGET_MIN)}, "
            f"was: {v(lc.rps_target_default)}"
        )
    if lc.activator_capacity < 1:
        raise ConfigError(f"activator-capacity = {v(lc.activator_capacity)}, must be at least 1")
    if lc.max_scale_up_rate <= 1.0:
        raise ConfigError(
            f"max-scale-up-rate = {v(lc.max_scale_up_rate)}, must be greater than 1.0"
        )
    if lc.max_scale_down_rate <= 1.0:
        raise ConfigError(
            f"max-scale-down-rate = {v(lc.max_scale_down_rate)}, must be greater than 1.0"
        )
    if lc.stable_window < WINDOW_MIN or lc.stable_window > WINDOW_MAX:
        raise ConfigError(
            f"stable-window = {_d(lc.stable_window)}, must be in "
            f"[{_d(WINDOW_MIN)}; {_d(WINDOW_MAX)}] range"
        )
    if gotime.round_duration(lc.stable_window, gotime.SECOND) != lc.stable_window:
        raise ConfigError(
            f"stable-window = {_d(lc.stable_window)}, must be specified with at most second precision"
        )
    if not (
        PANIC_WINDOW_PERCENTAGE_MIN <= lc.panic_window_percentage <= PANIC_WINDOW_PERCENTAGE_MAX
    ):
        raise ConfigError(
            f"panic-window-percentage = {v(lc.panic_window_percentage)}, must be in "
            f"[{v(PANIC_WINDOW_PERCENTAGE_MIN)}, {v(PANIC_WINDOW_PERCENTAGE_MAX)}] interval"
        )
    if lc.initial_scale < 0 or (lc.initial_scale == 0 and not lc.allow_zero_initial_scale):
        raise ConfigError(
            f"initial-scale = {lc.initial_scale}, must be at least 0 "
            "(or at least 1 when allow-zero-initial-scale is false)"
        )
    min_max_scale = 1 if lc.max_scale_limit > 0 else 0
    if lc.max_scale < min_max_scale or (
        lc.max_scale_limit > 0 and lc.max_scale > lc.max_scale_limit
    ):
        raise ConfigError(
            f"max-scale = {lc.max_scale}, must be in [{min_max_scale}, "
            f"max-scale-limit({lc.max_scale_limit})] range"
        )
    if lc.max_scale_limit < 0:
        raise ConfigError(f"max-scale-limit = {lc.max_scale_limit}, must be at least 0")
    if lc.min_scale < 0 or (lc.max_scale > 0 and lc.min_scale > lc.max_scale):
        raise ConfigError(
            f"min-scale = {lc.min_scale}, must be in [0, max-scale({lc.max_scale})] range"
        )
