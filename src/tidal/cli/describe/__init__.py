"""`tidal describe KIND NAME`: one module per kind (`pod.py`, `deployment.py`, `service.py`,
`inferenceservice.py`, `hpa.py`, `cronhpa.py`, `podautoscaler.py`, `predictive.py`), each with
`describe(obj, events, now) -> str`; other kinds use `generic.py` (kubectl's
describer for custom resources)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tidal.cli.describe import (
    cronhpa,
    deployment,
    generic,
    hpa,
    inferenceservice,
    pod,
    podautoscaler,
    predictive,
    service,
)

Obj = dict[str, Any]
Describer = Callable[..., str]

DESCRIBERS: dict[str, Describer] = {
    "Pod": pod.describe,
    "Deployment": deployment.describe,
    "Service": service.describe,
    "InferenceService": inferenceservice.describe,
    "HorizontalPodAutoscaler": hpa.describe_hpa,
    "CronHorizontalPodAutoscaler": cronhpa.describe_cronhpa,
    "PodAutoscaler": podautoscaler.describe,
    "PredictiveHorizontalPodAutoscaler": predictive.describe,
}


def describer_for(kind: str) -> Describer:
    """The kind's `describe` function; kubectl's generic one for the others."""
    return DESCRIBERS.get(kind, generic.describe)
