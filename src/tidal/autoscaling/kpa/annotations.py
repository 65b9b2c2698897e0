"""`autoscaling.knative.dev/*` annotations: the keys (new spelling first, legacy camelCase after,
as Knative's `kmap.KeyPriority`), the typed readers the decider uses (an invalid value reads as
absent, as in Knative) and Knative's validation with its messages
(`pkg/apis/autoscaling/annotation_validation.go`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from tidal.api import gotime
from tidal.api.wellknown import KNATIVE_AUTOSCALING_GROUP
from tidal.autoscaling.kpa.config import (
    HPA,
    KPA,
    PANIC_THRESHOLD_PERCENTAGE_MAX,
    PANIC_THRESHOLD_PERCENTAGE_MIN,
    PANIC_WINDOW_PERCENTAGE_MAX,
    PANIC_WINDOW_PERCENTAGE_MIN,
    TARGET_MIN,
    WINDOW_MAX,
    WINDOW_MIN,
    Config,
)
from tidal.autoscaling.kpa.golang import (
    RangeError,
    atoi,
    format_float_v,
    parse_float,
    parse_int,
    parse_int32,
)

GROUP = KNATIVE_AUTOSCALING_GROUP
CONCURRENCY = "concurrency"
RPS = "rps"
CPU = "cpu"
MEMORY = "memory"
LINEAR = "linear"
WEIGHTED_EXPONENTIAL = "weighted-exponential"
WEIGHTED_EXPONENTIAL_ALT = "weightedExponential"
MAX_INT32 = (1 << 31) - 1


def _k(*names: str) -> tuple[str, ...]:
    return tuple(f"{GROUP}/{n}" for n in names)


CLASS = _k("class")
METRIC = _k("metric")
TARGET = _k("target")
WINDOW = _k("window")
ACTIVATION_SCALE = _k("activation-scale")
MIN_SCALE = _k("min-scale", "minScale")
MAX_SCALE = _k("max-scale", "maxScale")
INITIAL_SCALE = _k("initial-scale", "initialScale")
SCALE_DOWN_DELAY = _k("scale-down-delay", "scaleDownDelay")
TARGET_BURST_CAPACITY = _k("target-burst-capacity", "targetBurstCapacity")
TARGET_UTILIZATION_PERCENTAGE = _k("target-utilization-percentage", "targetUtilizationPercentage")
PANIC_WINDOW_PERCENTAGE = _k("panic-window-percentage", "panicWindowPercentage")
PANIC_THRESHOLD_PERCENTAGE = _k("panic-threshold-percentage", "panicThresholdPercentage")
SCALE_TO_ZERO_POD_RETENTION_PERIOD = _k(
    "scale-to-zero-pod-retention-period", "scaleToZeroPodRetentionPeriod"
)
METRIC_AGGREGATION_ALGORITHM = _k("metric-aggregation-algorithm", "metricAggregationAlgorithm")

Annotations = Mapping[str, str]


def get(anns: Annotations | None, keys: tuple[str, ...]) -> tuple[str, str] | None:
    """(key, value) of the first spelling present, or None (`KeyPriority.Get`)."""
    for k in keys:
        if anns and k in anns:
            return k, anns[k]
    return None


# --- readers: an unparsable value reads as absent ------------------------------------------------


def read_str(anns: Annotations | None, keys: tuple[str, ...]) -> str | None:
    kv = get(anns, keys)
    return kv[1] if kv else None


def read_int32(anns: Annotations | None, keys: tuple[str, ...]) -> int | None:
    kv = get(anns, keys)
    if kv is None:
        return None
    try:
        return parse_int32(kv[1])
    except ValueError:
        return None


def read_float(anns: Annotations | None, keys: tuple[str, ...]) -> float | None:
    kv = get(anns, keys)
    if kv is None:
        return None
    try:
        return parse_float(kv[1])
    except ValueError:
        return None


def read_duration(anns: Annotations | None, keys: tuple[str, ...]) -> int | None:
    kv = get(anns, keys)
    if kv is None:
        return None
    try:
        return gotime.parse_duration(kv[1])
    except ValueError:
        return None


def pa_class(anns: Annotations | None) -> str:
    """The autoscaler class; KPA when unset (Knative's backward-compatible default)."""
    kv = get(anns, CLASS)
    return kv[1] if kv else KPA


def default_metric(cls: str) -> str:
    return {KPA: CONCURRENCY, HPA: CPU}.get(cls, "")


def metric(anns: Annotations | None) -> str:
    """The metric annotation, else the class's default."""
    kv = get(anns, METRIC)
    return kv[1] if kv else default_metric(pa_class(anns))


# --- validation ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FieldError:
    """One `apis.FieldError`: a message, the annotation keys it is about, optional details."""

    message: str
    paths: tuple[str, ...]
    details: str = ""

    def __str__(self) -> str:
        text = f"{self.message}: {', '.join(self.paths)}" if self.paths else self.message
        return f"{text}\n{self.details}" if self.details else text


def _v(x: object) -> str:
    if isinstance(x, float):
        return format_float_v(x)
    return str(x)


def invalid_value(value: object, key: str) -> FieldError:
    return FieldError(f"invalid value: {_v(value)}", (key,))


def out_of_bounds(value: object, lower: object, upper: object, key: str) -> FieldError:
    return FieldError(f"expected {_v(lower)} <= {_v(value)} <= {_v(upper)}", (key,))


def _dur(d: int) -> str:
    return gotime.format_duration(d)


def _int_ge0(anns: Annotations, keys: tuple[str, ...]) -> tuple[int, list[FieldError]]:
    kv = get(anns, keys)
    if kv is None:
        return 0, []
    k, v = kv
    try:
        i = parse_int(v, 32)
    except RangeError:
        return 0, [out_of_bounds(v, 0, MAX_INT32, k)]
    except ValueError:
        return 0, [invalid_value(v, k)]
    if i < 0:
        return 0, [out_of_bounds(v, 0, MAX_INT32, k)]
    return i, []


def _class(anns: Annotations) -> list[FieldError]:
    kv = get(anns, CLASS)
    if kv and kv[1].endswith(GROUP) and kv[1] not in (KPA, HPA):
        return [invalid_value(kv[1], kv[0])]
    return []


def _algorithm(anns: Annotations) -> list[FieldError]:
    if read_str(anns, CLASS) != KPA:
        return []  # custom autoscalers may have custom values
    kv = get(anns, METRIC_AGGREGATION_ALGORITHM)
    if kv and kv[1] and kv[1] not in (LINEAR, WEIGHTED_EXPONENTIAL, WEIGHTED_EXPONENTIAL_ALT):
        return [invalid_value(kv[1], kv[0])]
    return []


def _floats(anns: Annotations) -> list[FieldError]:
    errs: list[FieldError] = []
    checks = (
        (PANIC_WINDOW_PERCENTAGE, PANIC_WINDOW_PERCENTAGE_MIN, PANIC_WINDOW_PERCENTAGE_MAX),
        (
            PANIC_THRESHOLD_PERCENTAGE,
            PANIC_THRESHOLD_PERCENTAGE_MIN,
            PANIC_THRESHOLD_PERCENTAGE_MAX,
        ),
    )
    for keys, lo, hi in checks:
        if kv := get(anns, keys):
            try:
                fv = parse_float(kv[1])
            except ValueError:
                errs.append(invalid_value(kv[1], kv[0]))
                continue
            if fv < lo or fv > hi:
                errs.append(out_of_bounds(kv[1], lo, hi, kv[0]))
    if kv := get(anns, TARGET):
        try:
            ok = parse_float(kv[1]) >= TARGET_MIN
        except ValueError:
            ok = False
        if not ok:
            errs.append(FieldError(f"target {kv[1]} should be at least {_v(TARGET_MIN)}", (kv[0],)))
    if kv := get(anns, TARGET_UTILIZATION_PERCENTAGE):
        try:
            fv = parse_float(kv[1])
        except ValueError:
            errs.append(invalid_value(kv[1], kv[0]))
        else:
            if fv < 1 or fv > 100:
                errs.append(out_of_bounds(kv[1], 1, 100, kv[0]))
    if kv := get(anns, TARGET_BURST_CAPACITY):
        try:
            fv = parse_float(kv[1])
            bad = fv < 0 and fv != -1
        except ValueError:
            bad = True
        if bad:
            errs.append(invalid_value(kv[1], kv[0]))
    return errs


def _duration_bounded(anns: Annotations, keys: tuple[str, ...], whole: bool) -> list[FieldError]:
    kv = get(anns, keys)
    if kv is None:
        return []
    k, v = kv
    try:
        d = gotime.parse_duration(v)
    except ValueError:
        return [invalid_value(v, k)]
    if d < 0 or d > WINDOW_MAX:
        return [out_of_bounds(v, _dur(0), _dur(WINDOW_MAX), k)]
    if whole and gotime.round_duration(d, gotime.SECOND) != d:
        return [FieldError("must be specified with at most second precision", (k,))]
    return []


def _window(anns: Annotations) -> list[FieldError]:
    kv = get(anns, WINDOW)
    if kv is None:
        return []
    v = kv[1]
    key = WINDOW[0]
    try:
        d = gotime.parse_duration(v)
    except ValueError:
        return [invalid_value(v, key)]
    if d < WINDOW_MIN or d > WINDOW_MAX:
        return [out_of_bounds(v, _dur(WINDOW_MIN), _dur(WINDOW_MAX), key)]
    if gotime.truncate_duration(d, gotime.SECOND) != d:
        return [FieldError("must be specified with at most second precision", (key,))]
    return []


def _min_max(cfg: Config, anns: Annotations) -> list[FieldError]:
    lo, errs = _int_ge0(anns, MIN_SCALE)
    hi, errs2 = _int_ge0(anns, MAX_SCALE)
    errs += errs2
    if hi != 0 and hi < lo:
        errs.append(
            FieldError(f"max-scale={hi} is less than min-scale={lo}", (MAX_SCALE[0], MIN_SCALE[0]))
        )
    if kv := get(anns, MAX_SCALE):
        if cfg.max_scale_limit != 0:
            if hi > cfg.max_scale_limit:
                errs.append(out_of_bounds(hi, 1, cfg.max_scale_limit, kv[0]))
            if hi == 0:
                errs.append(
                    FieldError(
                        f"max-scale=0 (unlimited), must be less than {cfg.max_scale_limit}",
                        (kv[0],),
                    )
                )
    if kv := get(anns, ACTIVATION_SCALE):
        k, v = kv
        try:
            a = parse_int(v, 32)
        except RangeError:
            errs.append(out_of_bounds(v, 2, MAX_INT32, k))
        except ValueError:
            errs.append(invalid_value(v, k))
        else:
            if a < 2:
                errs.append(out_of_bounds(v, 2, MAX_INT32, k))
            elif hi != 0 and a > hi:
                errs.append(
                    FieldError(
                        f"activation-scale={a} is greater than max-scale={hi}", (k, MAX_SCALE[0])
                    )
                )
    return errs


def _metric(anns: Annotations) -> list[FieldError]:
    kv = get(anns, METRIC)
    if kv is None:
        return []
    m = kv[1]
    cls = pa_class(anns)
    if cls == KPA and m in (CONCURRENCY, RPS):
        return []
    if cls == HPA and m != "":
        return []
    if cls not in (KPA, HPA):
        return []  # other classes are left alone
    return [invalid_value(m, METRIC[0])]


def _initial_scale(cfg: Config, anns: Annotations) -> list[FieldError]:
    kv = get(anns, INITIAL_SCALE)
    if kv is None:
        return []
    k, v = kv
    try:
        n = atoi(v)
    except ValueError:
        return [invalid_value(v, k)]
    if n < 0 or (not cfg.allow_zero_initial_scale and n == 0):
        return [invalid_value(v, k)]
    return []


def validate_annotations(cfg: Config, anns: Annotations | None) -> list[FieldError]:
    """`ValidateAnnotations`: every problem, in Knative's order; empty when valid."""
    anns = anns or {}
    return (
        _class(anns)
        + _min_max(cfg, anns)
        + _floats(anns)
        + _window(anns)
        + _duration_bounded(anns, SCALE_TO_ZERO_POD_RETENTION_PERIOD, whole=False)
        + _duration_bounded(anns, SCALE_DOWN_DELAY, whole=True)
        + _metric(anns)
        + _algorithm(anns)
        + _initial_scale(cfg, anns)
    )
