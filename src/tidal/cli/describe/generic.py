"""The fallback describer for any kind without its own module (kubectl's generic describer)."""

from __future__ import annotations

from typing import Any

from tidal.cli.describe.common import describe_generic

Obj = dict[str, Any]


def describe(obj: Obj, events: list[Obj] | None, now: float) -> str:
    return describe_generic(obj, events, now)
