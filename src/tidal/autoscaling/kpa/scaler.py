"""From the decider's desired count to the replicas written (Knative's `kpa/scaler.go`): min/max
and initial scale bounds, then scale-to-zero timing — the stable window of activity, the grace
period for the router to take the service over, last-pod retention and the activation timeout.

Pure: the only outside fact, "does the router (tidal's activator) answer for this service", comes
in as `probe`, a callable asked only when Knative would ask, so an implementation that probes
needlessly is caught. What to do is returned: the count to write (if any), when to look again,
whether to start a background probe.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from tidal.api import gotime
from tidal.autoscaling.kpa.config import Config
from tidal.autoscaling.kpa.decider import initial_scale, stable_window
from tidal.autoscaling.kpa.podautoscaler import PodAutoscaler

SCALE_UNKNOWN = -1
# Knative waits this much past the progress deadline before giving up on an activation (#3456).
ACTIVATION_TIMEOUT_BUFFER = 30 * gotime.SECOND
DEFAULT_PROGRESS_DEADLINE = 600 * gotime.SECOND
REENQUEUE_PERIOD = gotime.SECOND
SKSMode = Literal["Serve", "Proxy"]


@dataclass(frozen=True, slots=True)
class SKS:
    """The ServerlessService: `Proxy` = the router holds this service's requests; `proxy_since`:
    when the router took it over (None: not yet)."""

    mode: SKSMode = "Serve"
    proxy_since: int | None = None

    def proxy_for(self, now: int) -> int:
        return 0 if self.proxy_since is None else gotime.sub(now, self.proxy_since)


Probe = Callable[[], tuple[bool, str | None]]


@dataclass(frozen=True, slots=True)
class ScaleOutcome:
    desired_scale: int
    patch_to: int | None = None  # replicas to write to the scale target; None = leave it
    requeue_after: tuple[int, ...] = field(default=())  # ns delays to look again after
    start_async_probe: bool = False


def last_pod_retention(pa: PodAutoscaler, cfg: Config) -> int:
    """Retention applies to reachable revisions only (Knative #13812)."""
    if not pa.reachable:
        return 0
    d = pa.scale_to_zero_pod_retention()
    return cfg.scale_to_zero_pod_retention_period if d is None else d


def apply_bounds(lo: int, hi: int, x: int) -> int:
    if x < lo:
        return lo
    if hi != 0 and x > hi:
        return hi
    return x


def _handle_scale_to_zero(
    pa: PodAutoscaler,
    sks: SKS | None,
    desired: int,
    cfg: Config,
    progress_deadline: int,
    probe: Probe,
    tbc: float,
    now: int,
    requeue: list[int],
) -> tuple[int, bool, bool]:
    """(desired, apply it, start async probe)."""
    if desired != 0:
        return desired, True, False
    if not cfg.enable_scale_to_zero:
        return 1, True, False
    activation_timeout = progress_deadline + ACTIVATION_TIMEOUT_BUFFER
    if pa.is_activating():
        # Stuck activating past the deadline: presume it cannot succeed and go to 0.
        if pa.can_fail_activation(now, activation_timeout):
            return desired, True, False
        requeue.append(activation_timeout)
        return SCALE_UNKNOWN, False, False
    if pa.is_active():
        sw = stable_window(pa, cfg)
        af = pa.active_for(now)
        if af >= sw:
            # Mark inactive first; in Proxy mode nothing else would wake the PA up again.
            if sks is not None and sks.mode == "Proxy":
                requeue.append(3 * gotime.SECOND)
            return desired, False, False
        requeue.append(sw - af)
        return 1, True, False
    # Inactive.
    reachable, _err = (True, None) if tbc == -1 else probe()
    if not reachable:
        return desired, False, True
    retention = last_pod_retention(pa, cfg)
    inactive = pa.inactive_for(now)
    if inactive >= max(cfg.scale_to_zero_grace_period, retention):
        return desired, True, False
    if retention > 0 and inactive < retention:
        requeue.append(retention - inactive)
        return desired, False, False
    to = cfg.scale_to_zero_grace_period - (sks.proxy_for(now) if sks else 0)
    if to <= 0:
        return desired, True, False
    requeue.append(to)
    return desired, False, False


def scale(
    pa: PodAutoscaler,
    sks: SKS | None,
    desired: int,
    current_replicas: int | None,
    cfg: Config,
    now: int,
    probe: Probe,
    progress_deadline: int = DEFAULT_PROGRESS_DEADLINE,
) -> ScaleOutcome:
    """Knative's `scaler.scale`: `current_replicas` None = unset (read as 1)."""
    if desired < 0 and not pa.is_activating():
        return ScaleOutcome(desired)  # no metrics yet
    lo, hi = pa.scale_bounds(cfg)
    init = initial_scale(cfg, pa)
    if init > 1 and not pa.scale_target_initialized and pa.reachable:
        lo = max(lo, init)
    desired = apply_bounds(lo, hi, desired)
    tbc = pa.target_bc()
    if tbc is None:
        tbc = cfg.target_burst_capacity
    requeue: list[int] = []
    desired, apply, async_probe = _handle_scale_to_zero(
        pa, sks, desired, cfg, progress_deadline, probe, tbc, now, requeue
    )
    patch = None
    if apply:
        current = 1 if current_replicas is None else current_replicas
        if desired != current:
            patch = desired
    return ScaleOutcome(desired, patch, tuple(requeue), async_probe)
