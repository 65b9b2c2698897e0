"""The KPA's Scale decision, every 2 s (Knative's `scaling/autoscaler.go`), as a pure function:
`scale(spec, state, ready, observed, now) -> (ScaleResult, new state)`.

The state Knative keeps inside its autoscaler object (panic start, the highest count asked for in
panic, the scale-down-delay window) is a value passed in and returned; `new_state` is what a freshly
constructed autoscaler holds, which starts in panic when more than one pod is ready so that a
restart does not scale a busy revision down before it has data (Knative PR #4795).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from tidal.autoscaling.kpa import annotations as ann
from tidal.autoscaling.kpa.config import TICK_INTERVAL
from tidal.autoscaling.kpa.decider import DeciderSpec
from tidal.autoscaling.kpa.maxwindow import TimeWindow


@dataclass(frozen=True, slots=True)
class AutoscalerState:
    panic_time: int | None = None  # ns; None: not panicking
    max_panic_pods: int = 0
    delay_window: TimeWindow | None = None

    @property
    def panicking(self) -> bool:
        return self.panic_time is not None


@dataclass(frozen=True, slots=True)
class Observed:
    """The stable- and panic-window averages of the spec's metric."""

    stable: float
    panic: float


@dataclass(frozen=True, slots=True)
class ScaleResult:
    desired: int = 0
    excess_burst_capacity: int = 0
    valid: bool = False
    # What Knative publishes as gauges alongside the decision.
    stable: float = 0.0
    panic: float = 0.0
    target: float = 0.0
    metric: str = ann.CONCURRENCY


INVALID = ScaleResult()


def new_state(spec: DeciderSpec, ready_pods: int | None, now: int) -> AutoscalerState:
    """A new autoscaler: `ready_pods` None when they could not be counted (counts as 0)."""
    cur = ready_pods or 0
    delay = (
        TimeWindow.new(spec.scale_down_delay, TICK_INTERVAL) if spec.scale_down_delay > 0 else None
    )
    return AutoscalerState(now if cur > 1 else None, cur, delay)


def _int32(x: float) -> int:
    return int(x)  # Go's float -> int32 conversion truncates


def scale(
    spec: DeciderSpec,
    state: AutoscalerState,
    ready_pods: int | None,
    observed: Observed | None,
    now: int,
) -> tuple[ScaleResult, AutoscalerState]:
    """One decision. `ready_pods` None: the pod count failed (not NotFound, which is 0);
    `observed` None: no data yet. Both give an invalid result and leave the state alone."""
    if ready_pods is None or observed is None or spec.target_value <= 0:
        return INVALID, state
    ready = max(1.0, float(ready_pods))
    stable, panic = observed.stable, observed.panic

    # Always allow +1 pod even when rate * ready rounds to ready.
    max_up = math.ceil(spec.max_scale_up_rate * ready)
    max_down = 0.0
    if spec.reachable:
        # A zero rate is +Inf in Go: no bound on scaling down.
        max_down = (
            float(math.floor(ready / spec.max_scale_down_rate))
            if spec.max_scale_down_rate
            else math.inf
        )

    dspc = math.ceil(stable / spec.target_value)
    dppc = math.ceil(panic / spec.target_value)
    stable_pods = _int32(min(max(dspc, max_down), max_up))
    panic_pods = _int32(min(max(dppc, max_down), max_up))
    if spec.activation_scale > 1:
        if dspc > 0 and spec.activation_scale > stable_pods:
            stable_pods = spec.activation_scale
        if dppc > 0 and spec.activation_scale > panic_pods:
            panic_pods = spec.activation_scale

    over = dppc / ready >= spec.panic_threshold
    panic_time, max_panic = state.panic_time, state.max_panic_pods
    if over:
        panic_time = now  # start, or extend, the panic
    elif panic_time is not None and panic_time + spec.stable_window < now:
        panic_time, max_panic = None, 0  # the surge has reached the stable window

    desired = stable_pods
    if panic_time is not None:
        # Provision for the larger of the two, and never scale down while panicking.
        desired = max(desired, panic_pods)
        max_panic = max(max_panic, desired)
        desired = max_panic

    delay = state.delay_window
    if delay is not None and spec.reachable:
        delay = delay.record(now, desired)
        desired = int(delay.current())

    if spec.target_burst_capacity == 0:
        ebc = 0.0
    elif spec.target_burst_capacity > 0:
        ebc = math.floor(float(ready_pods) * spec.total_value - spec.target_burst_capacity - panic)
    else:
        ebc = -1.0
    result = ScaleResult(
        desired=desired,
        excess_burst_capacity=_int32(ebc),
        valid=True,
        stable=stable,
        panic=panic,
        target=spec.target_value,
        metric=ann.RPS if spec.scaling_metric == ann.RPS else ann.CONCURRENCY,
    )
    return result, AutoscalerState(panic_time, max_panic, delay)


def initial_ebc(spec: DeciderSpec) -> float:
    """EBC before the first decision: `InitialScale × TotalValue − TBC` (or 0 / −1)."""
    if spec.target_burst_capacity == 0:
        return 0.0
    if spec.target_burst_capacity < 0:
        return -1.0
    return spec.initial_scale * spec.total_value - spec.target_burst_capacity


def same_sign(a: int, b: int) -> bool:
    """Whether two EBCs are on the same side of zero (0 counts as positive)."""
    return (a < 0) == (b < 0)
