"""The inputs and outputs of one HPA evaluation, as frozen dataclasses.

Everything the Kubernetes controller reads from informers, the metrics APIs, its in-memory
history and the wall clock is passed in here; everything it writes (scale, status, events,
history) comes back in a `Decision`. Times are float seconds on any fixed epoch (`now` is given).
Metric values are integers in thousandths (Kubernetes' `MilliValue()`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

MAX_INT32 = 2**31 - 1
MIN_INT32 = -(2**31)
MAX_INT64 = 2**63 - 1


@dataclass(frozen=True, slots=True)
class Settings:
    """The controller flags (`kube-controller-manager --horizontal-pod-autoscaler-*`)."""

    tolerance: float = 0.1
    cpu_initialization_period_s: float = 300.0
    initial_readiness_delay_s: float = 30.0
    downscale_stabilization_s: float = 300.0
    scale_up_limit_factor: float = 2.0  # legacy path only
    scale_up_limit_minimum: float = 4.0
    scale_to_zero: bool = True  # feature gate HPAScaleToZero (on by default since 1.37)


@dataclass(frozen=True, slots=True)
class Pod:
    """A pod selected by the target's scale selector, reduced to what the HPA looks at.
    `requests` maps container name -> resource -> milli (sidecar init containers included)."""

    name: str
    phase: str = "Running"
    ready: bool | None = True  # None: no Ready condition at all
    start_time: float | None = 0.0
    ready_transition_time: float | None = 0.0
    deleting: bool = False
    requests: Mapping[str, Mapping[str, int]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Sample:
    """One pod's metric: value in milli, when it was taken and over what window."""

    value: int
    timestamp: float
    window_s: float = 60.0


@dataclass(frozen=True, slots=True)
class MetricData:
    """What the metrics APIs returned for `spec.metrics[i]`.

    Resource/ContainerResource/Pods: `pods` (pod name -> sample; for ContainerResource the named
    container's usage). Object: `value`. External: `values` (every matching series).
    `error` is the metrics client's error text (`no metrics returned from resource metrics API`).
    """

    pods: Mapping[str, Sample] | None = None
    value: int | None = None
    values: tuple[int, ...] = ()
    timestamp: float = 0.0
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Scale:
    """The target's /scale subresource."""

    spec_replicas: int
    status_replicas: int
    selector: str | None = None


@dataclass(frozen=True, slots=True)
class ScaleEvent:
    change: int  # absolute replica change
    at: float


@dataclass(frozen=True, slots=True)
class History:
    """What Kubernetes keeps in controller memory per HPA; tidal persists it (annotation)."""

    seen: bool = False
    recommendations: tuple[tuple[float, int], ...] = ()  # (at, replicas), slot order kept
    scale_up_events: tuple[ScaleEvent, ...] = ()
    scale_down_events: tuple[ScaleEvent, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "recommendations": [[at, n] for at, n in self.recommendations],
            "scaleUpEvents": [[e.at, e.change] for e in self.scale_up_events],
            "scaleDownEvents": [[e.at, e.change] for e in self.scale_down_events],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> History:
        """Inverse of `to_dict`; anything malformed reads as "never seen"."""
        if not isinstance(data, Mapping):
            return cls()
        try:
            return cls(
                seen=True,
                recommendations=tuple(
                    (float(a), int(n)) for a, n in data.get("recommendations") or ()
                ),
                scale_up_events=tuple(
                    ScaleEvent(int(c), float(a)) for a, c in data.get("scaleUpEvents") or ()
                ),
                scale_down_events=tuple(
                    ScaleEvent(int(c), float(a)) for a, c in data.get("scaleDownEvents") or ()
                ),
            )
        except (TypeError, ValueError):
            return cls()


@dataclass(frozen=True, slots=True)
class Inputs:
    """One evaluation. `spec` is the HPA's spec dict (defaults applied or not);
    `metrics[i]` belongs to the defaulted `spec.metrics[i]`. `scale` is None when reading it
    failed (`scale_error` says why). `recommendation`, when set, replaces the metric computation
    (used by tests and the simulator's what-if runs)."""

    now: float
    spec: Mapping[str, Any]
    scale: Scale | None
    pods: tuple[Pod, ...] = ()
    metrics: tuple[MetricData, ...] = ()
    history: History = History()
    status: Mapping[str, Any] = field(default_factory=dict)
    settings: Settings = Settings()
    scale_error: str | None = None
    recommendation: int | None = None
    namespace: str = "default"
    # every HPA ("ns/name", this one included) whose target selects some of these pods
    selecting_hpas: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Event:
    type: str  # Normal | Warning
    reason: str
    message: str


@dataclass(frozen=True, slots=True)
class MetricResult:
    """One metric's proposal (`replicas`), its status entry and the name used in messages."""

    replicas: int | None
    status: dict[str, Any]
    name: str = ""
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    """What to write. `replicas` is the scale to set (equal to the current one when `rescale` is
    False); `status` the complete new HPA status; `events` in emission order."""

    replicas: int
    rescale: bool
    reason: str
    metrics: tuple[MetricResult, ...]
    status: dict[str, Any]
    events: tuple[Event, ...]
    history: History
    error: str | None = None
    current_replicas: int = 0
