"""The Kubernetes HPA (autoscaling/v2) decision, pure: `decide(Inputs) -> Decision`.
No I/O, no clock: `now`, the metrics and the history come in; scale, status, events and the
new history go out. See docs/HPA.md and ../shared/reference/hpa.md."""

from tidal.api.hpa_defaults import default_spec
from tidal.autoscaling.hpa.decide import decide, rescale_failed
from tidal.autoscaling.hpa.model import (
    Decision,
    Event,
    History,
    Inputs,
    MetricData,
    MetricResult,
    Pod,
    Sample,
    Scale,
    ScaleEvent,
    Settings,
)

__all__ = [
    "Decision",
    "Event",
    "History",
    "Inputs",
    "MetricData",
    "MetricResult",
    "Pod",
    "Sample",
    "Scale",
    "ScaleEvent",
    "Settings",
    "decide",
    "default_spec",
    "rescale_failed",
]
