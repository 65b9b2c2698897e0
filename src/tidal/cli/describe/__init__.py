"""`tidal describe KIND NAME`: one module per kind (`pod.py`, `deployment.py`, `service.py`,
`inferenceservice.py`, `hpa.py`, `cronhpa.py`, `podautoscaler.py`), each with
`describe(obj, events, now) -> str`; kinds without a module use `generic.py` (kubectl's
describer for custom resources)."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

Obj = dict[str, Any]
Describer = Callable[..., str]

MODULES = {
    "Pod": "pod",
    "Deployment": "deployment",
    "Service": "service",
    "InferenceService": "inferenceservice",
    "HorizontalPodAutoscaler": "hpa",
    "CronHorizontalPodAutoscaler": "cronhpa",
    "PodAutoscaler": "podautoscaler",
}


def describer_for(kind: str) -> Describer:
    """The kind's `describe` function, or the generic one when its module is absent."""
    name = MODULES.get(kind)
    if name:
        try:
            mod = importlib.import_module(f"tidal.cli.describe.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"tidal.cli.describe.{name}":
                raise
        else:
            fn = getattr(mod, "describe", None) or getattr(mod, f"describe_{name}", None)
            if callable(fn):
                return fn
    from tidal.cli.describe.generic import describe

    return describe
