"""`tidal describe inferenceservice`: kubectl describes custom resources with its generic
describer, so this is that describer."""

from __future__ import annotations

from typing import Any

from tidal.cli.describe.common import describe_generic

Obj = dict[str, Any]


def describe(isvc: Obj, events: list[Obj] | None, now: float) -> str:
    return describe_generic(isvc, events, now)
