"""`tidal describe kpa NAME`: Knative ships no describer for its PodAutoscaler CRD, so kubectl
prints it with the generic custom-resource describer; tidal does the same."""

from __future__ import annotations

from typing import Any

from tidal.cli.describe.common import describe_generic

Obj = dict[str, Any]


def describe(obj: Obj, events: list[Obj] | None, now: float) -> str:
    return describe_generic(obj, events, now)
