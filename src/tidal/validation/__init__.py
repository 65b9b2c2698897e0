"""Admission for every kind: `validate(obj) -> list[Cause]` and `default(obj) -> obj`, looked up
by kind. The core kinds live in `core.py`; the autoscaling and KServe kinds in their own modules
(`hpa.py`, `cronhpa.py`, `podautoscaler.py`, `inferenceservice.py`), each exposing
`validate(obj) -> list[Cause]` and `default(obj)` (fills in place; may return the object).

Field-error helpers for those modules: `tidal.validation.field` (`invalid`, `required`,
`not_supported`, `dns1123_label`, `quantity`, ...).
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

from tidal.api.errors import Cause
from tidal.validation import configdata as configdata
from tidal.validation import (
    cronhpa,
    hpa,
    inferenceservice,
    podautoscaler,
    predictive,
    servingruntime,
)
from tidal.validation.core import CORE, shape_causes, validate_metadata

Obj = dict[str, Any]

# kind -> the module that owns its rules (each has `validate` and `default`)
KIND_MODULES: dict[str, ModuleType] = {
    "HorizontalPodAutoscaler": hpa,
    "CronHorizontalPodAutoscaler": cronhpa,
    "PodAutoscaler": podautoscaler,
    "InferenceService": inferenceservice,
    "ConfigMap": configdata,
    "Secret": configdata,
    "ServingRuntime": servingruntime,
    "ClusterServingRuntime": servingruntime,
    "PredictiveHorizontalPodAutoscaler": predictive,
}


def rules(kind: str) -> tuple[Callable[[Obj], list[Cause]] | None, Callable[[Obj], Any] | None]:
    """(validate, default) for a kind; None where none exists."""
    if kind in CORE:
        return CORE[kind]
    mod = KIND_MODULES.get(kind)
    if mod is None:
        return None, None
    return mod.validate, mod.default


def default(obj: Obj) -> Obj:
    """Fill a kind's defaults (in place); returns the object."""
    _, fill = rules(obj.get("kind", ""))
    if fill is not None:
        result = fill(obj)
        if isinstance(result, dict):
            return result
    return obj


def validate(obj: Obj, *, namespaced: bool = True) -> list[Cause]:
    """Every field error of `obj`: metadata rules first, then the kind's own."""
    causes = validate_metadata(obj, namespaced=namespaced)
    check, _ = rules(obj.get("kind", ""))
    if check is not None:
        causes.extend(check(obj))
    return causes


def shape(obj: Obj) -> list[Cause]:
    """Type errors (a string where a map belongs), found before any default or rule runs."""
    return shape_causes(obj)
