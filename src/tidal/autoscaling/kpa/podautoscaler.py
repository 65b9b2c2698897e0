"""What the KPA decisions read of a PodAutoscaler (`autoscaling.internal.knative.dev/v1alpha1`),
as a value with instants in nanoseconds; `from_object` reads it from the API object."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from tidal.api import gotime
from tidal.autoscaling.kpa import annotations as ann
from tidal.autoscaling.kpa.config import Config

REACHABLE = "Reachable"
UNREACHABLE = "Unreachable"
ConditionStatus = Literal["True", "False", "Unknown"]


@dataclass(frozen=True, slots=True)
class Condition:
    status: ConditionStatus
    last_transition: int = gotime.ZERO  # ns since the Unix epoch
    reason: str = ""
    message: str = ""


@dataclass(frozen=True, slots=True)
class PodAutoscaler:
    annotations: Mapping[str, str] = field(default_factory=dict)
    container_concurrency: int = 0
    reachability: str = ""  # "", "Reachable", "Unreachable"
    active: Condition | None = None
    scale_target_initialized: bool = False
    service_name: str = ""
    metrics_service_name: str = ""
    desired_scale: int | None = None
    actual_scale: int | None = None

    # --- the annotation accessors of Knative's pa_lifecycle.go ---------------------------------

    @property
    def cls(self) -> str:
        return ann.pa_class(self.annotations)

    @property
    def metric(self) -> str:
        return ann.metric(self.annotations)

    @property
    def reachable(self) -> bool:
        return self.reachability != UNREACHABLE

    def scale_bounds(self, cfg: Config) -> tuple[int, int]:
        """(min, max); max 0 = unlimited; min is 0 for an unreachable revision."""
        lo = 0
        if self.reachable:
            lo = cfg.min_scale
            if (v := ann.read_int32(self.annotations, ann.MIN_SCALE)) is not None:
                lo = v
        hi = cfg.max_scale
        if (v := ann.read_int32(self.annotations, ann.MAX_SCALE)) is not None:
            hi = v
        return lo, hi

    def target(self) -> float | None:
        return ann.read_float(self.annotations, ann.TARGET)

    def target_utilization(self) -> float | None:
        v = ann.read_float(self.annotations, ann.TARGET_UTILIZATION_PERCENTAGE)
        return None if v is None else v / 100

    def target_bc(self) -> float | None:
        return ann.read_float(self.annotations, ann.TARGET_BURST_CAPACITY)

    def window(self) -> int | None:
        return ann.read_duration(self.annotations, ann.WINDOW)

    def panic_window_percentage(self) -> float | None:
        return ann.read_float(self.annotations, ann.PANIC_WINDOW_PERCENTAGE)

    def panic_threshold_percentage(self) -> float | None:
        return ann.read_float(self.annotations, ann.PANIC_THRESHOLD_PERCENTAGE)

    def scale_down_delay(self) -> int | None:
        return ann.read_duration(self.annotations, ann.SCALE_DOWN_DELAY)

    def scale_to_zero_pod_retention(self) -> int | None:
        return ann.read_duration(self.annotations, ann.SCALE_TO_ZERO_POD_RETENTION_PERIOD)

    def initial_scale(self) -> int | None:
        return ann.read_int32(self.annotations, ann.INITIAL_SCALE)

    def activation_scale(self) -> int | None:
        return ann.read_int32(self.annotations, ann.ACTIVATION_SCALE)

    def aggregation_algorithm(self) -> str:
        return ann.read_str(self.annotations, ann.METRIC_AGGREGATION_ALGORITHM) or ""

    # --- status -------------------------------------------------------------------------------

    def is_active(self) -> bool:
        return self.active is not None and self.active.status == "True"

    def is_activating(self) -> bool:
        return self.active is not None and self.active.status == "Unknown"

    def is_inactive(self) -> bool:
        return self.active is not None and self.active.status == "False"

    def _in_status_for(self, status: str, now: int, dur: int = 0) -> int:
        if self.active is None or self.active.status != status:
            return -1
        return gotime.sub(now, self.active.last_transition + dur)

    def active_for(self, now: int) -> int:
        return self._in_status_for("True", now)

    def inactive_for(self, now: int) -> int:
        return self._in_status_for("False", now)

    def can_fail_activation(self, now: int, timeout: int) -> bool:
        return self._in_status_for("Unknown", now, timeout) > 0


def parse_time(text: str | None) -> int:
    """An RFC 3339 timestamp as Unix nanoseconds (ZERO when absent)."""
    if not text:
        return gotime.ZERO
    dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return int(dt.timestamp()) * gotime.SECOND + dt.microsecond * 1000


def _condition(obj: Mapping[str, Any], ctype: str) -> Mapping[str, Any] | None:
    for c in (obj.get("status") or {}).get("conditions") or []:
        if c.get("type") == ctype:
            return c
    return None


def from_object(obj: Mapping[str, Any]) -> PodAutoscaler:
    """Read a PodAutoscaler API object."""
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    active = _condition(obj, "Active")
    sti = _condition(obj, "ScaleTargetInitialized")
    return PodAutoscaler(
        annotations=dict(meta.get("annotations") or {}),
        container_concurrency=int(spec.get("containerConcurrency") or 0),
        reachability=str(spec.get("reachability") or ""),
        active=Condition(
            status=active.get("status", "Unknown"),
            last_transition=parse_time(active.get("lastTransitionTime")),
            reason=active.get("reason", ""),
            message=active.get("message", ""),
        )
        if active
        else None,
        scale_target_initialized=bool(sti and sti.get("status") == "True"),
        service_name=str(status.get("serviceName") or ""),
        metrics_service_name=str(status.get("metricsServiceName") or ""),
        desired_scale=status.get("desiredScale"),
        actual_scale=status.get("actualScale"),
    )
