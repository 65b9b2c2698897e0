"""What the KPA reconciler writes back (Knative's `kpa/kpa.go`): the PodAutoscaler's DesiredScale,
ActualScale and Active condition with Knative's reasons, whether the router must stay in the path
(the ServerlessService mode), and how many activators Knative would put there. Pure."""

from __future__ import annotations

import math
from dataclasses import dataclass

from tidal.autoscaling.kpa.config import Config
from tidal.autoscaling.kpa.decider import initial_scale
from tidal.autoscaling.kpa.podautoscaler import Condition, PodAutoscaler
from tidal.autoscaling.kpa.scaler import SKSMode

NO_TRAFFIC = "NoTraffic"
TIMED_OUT = "TimedOut"
QUEUED = "Queued"
NO_TRAFFIC_MESSAGE = "The target is not receiving traffic."
TIMED_OUT_MESSAGE = "The target could not be activated."
QUEUED_MESSAGE = "Requests to the target are being buffered as resources are provisioned."


def sks_mode(want: int, ebc: int, pa: PodAutoscaler) -> SKSMode:
    """Proxy (the router holds and forwards) at zero, with negative excess burst capacity, or
    when a restarted autoscaler knows nothing (-1) of an already inactive PA; else Serve."""
    if want == 0 or ebc < 0 or (want == -1 and pa.is_inactive()):
        return "Proxy"
    return "Serve"


def num_activators(ready: int, total_value: float, tbc: float, activator_capacity: float) -> int:
    """Activators Knative puts in the path: enough for the ready capacity plus the burst."""
    if tbc == 0:
        return 2
    return max(2, math.ceil((ready * total_value + max(tbc, 0.0)) / activator_capacity))


def active_threshold(pa: PodAutoscaler, cfg: Config) -> int:
    """Ready pods needed to call the PA Active: min scale (and initial scale before the first
    initialisation), at least 1 once initialised."""
    lo, _ = pa.scale_bounds(cfg)
    if not pa.scale_target_initialized:
        return max(lo, initial_scale(cfg, pa))
    return max(lo, 1)


@dataclass(frozen=True, slots=True)
class Status:
    desired_scale: int | None
    actual_scale: int
    active: Condition
    scale_target_initialized: bool


def _mark(old: Condition | None, status: str, reason: str, message: str, now: int) -> Condition:
    """A condition, keeping its transition time when the status does not change."""
    if old is not None and old.status == status:
        return Condition(status, old.last_transition, reason, message)  # type: ignore[arg-type]
    return Condition(status, now, reason, message)  # type: ignore[arg-type]


def compute_status(
    pa: PodAutoscaler, want: int, ready: int, cfg: Config, now: int, has_service: bool = True
) -> Status:
    """`computeStatus` + `computeActiveCondition`."""
    desired: int | None = want
    if want == -1 and pa.desired_scale is not None and pa.desired_scale >= 0:
        desired = pa.desired_scale  # a restarted autoscaler does not erase a known value
    min_ready = active_threshold(pa, cfg)
    initialized = pa.scale_target_initialized or (ready >= min_ready and has_service)
    old = pa.active
    if want == 0 or min_ready == 0:
        if pa.is_activating() and min_ready > 0:
            # Scaling to zero while activating happens only when activation timed out.
            active = _mark(old, "False", TIMED_OUT, TIMED_OUT_MESSAGE, now)
        else:
            active = _mark(old, "False", NO_TRAFFIC, NO_TRAFFIC_MESSAGE, now)
    elif ready < min_ready:
        if want > 0 or not pa.is_inactive():
            active = _mark(old, "Unknown", QUEUED, QUEUED_MESSAGE, now)
        else:
            active = _mark(old, "False", NO_TRAFFIC, NO_TRAFFIC_MESSAGE, now)
    elif want > 0 or not pa.is_inactive():
        active = _mark(old, "True", "", "", now)
    else:
        active = old if old is not None else _mark(None, "Unknown", "", "", now)
    return Status(desired, ready, active, initialized)
