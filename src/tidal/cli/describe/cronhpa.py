"""`tidal describe cronhpa NAME`: kubectl has no describer for the CronHPA custom resource, so it
prints it with its generic one (Name, Namespace, Labels, Annotations, then every other field of
the object as indented `Smart Label:` lines, then Events); the seed's output is that layout."""

from __future__ import annotations

from typing import Any

from tidal.cli.describe.common import describe_generic

Obj = dict[str, Any]


def describe_cronhpa(obj: Obj, events: list[Obj] | None, now: float) -> str:
    """The seed's `describe` of a CronHPA, events (on the CronHPA) included."""
    return describe_generic(obj, events, now)


describe = describe_cronhpa
