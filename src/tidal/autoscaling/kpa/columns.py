"""`get kpa` as Knative's PodAutoscaler CRD prints it: its additionalPrinterColumns are
DesiredScale, ActualScale and the Ready condition's status and reason, after the name (a CRD that
declares columns gets no Age column)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# (header, type, JSONPath) as declared in Knative's podautoscaler CRD.
KPA_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("Name", "string", ".metadata.name"),
    ("DesiredScale", "integer", ".status.desiredScale"),
    ("ActualScale", "integer", ".status.actualScale"),
    ("Ready", "string", ".status.conditions[?(@.type=='Ready')].status"),
    ("Reason", "string", ".status.conditions[?(@.type=='Ready')].reason"),
)


def kpa_columns(obj: Mapping[str, Any]) -> list[Any]:
    """One row: name, desired scale, actual scale, Ready status, Ready reason (None if unset)."""
    status = obj.get("status") or {}
    ready = next(
        (c for c in status.get("conditions") or [] if c.get("type") == "Ready"),
        {},
    )
    return [
        (obj.get("metadata") or {}).get("name", ""),
        status.get("desiredScale"),
        status.get("actualScale"),
        ready.get("status"),
        ready.get("reason"),
    ]
