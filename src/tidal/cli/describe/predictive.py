"""`tidal describe phpa NAME`: the PredictiveHorizontalPodAutoscaler is a custom resource, so this
prints kubectl's generic custom-resource layout (what `kubectl describe` shows too); its status
carries the forecast, the floor it set on the HPA and the reason in readable fields."""

from __future__ import annotations

from typing import Any

from tidal.cli.describe.common import describe_generic

Obj = dict[str, Any]


def describe(obj: Obj, events: list[Obj] | None, now: float) -> str:
    return describe_generic(obj, events, now)
