"""`describe hpa` in kubectl's layout (describeHorizontalPodAutoscalerV2 in kubectl's
describe.go): header, `Metrics: ( current / target )`, min/max, Behavior, `<Kind> pods:`,
Conditions, Events. Every annotation is printed, as kubectl does (the controller keeps its
history in a ControllerRevision, not on the HPA)."""

from __future__ import annotations

from typing import Any

from tidal.api.hpa_format import describe_metric_lines
from tidal.cli.describe.common import (
    Writer,
    rfc1123z,
    write_events,
    write_labels_annotations,
    write_name,
)

Obj = dict[str, Any]


def _direction(w: Writer, title: str, rules: Obj | None) -> None:
    if rules is None:
        return
    w.write(1, f"{title}:")
    if rules.get("stabilizationWindowSeconds") is not None:
        w.write(2, f"Stabilization Window: {rules['stabilizationWindowSeconds']} seconds")
    policies = rules.get("policies") or []
    if policies:
        w.write(2, f"Select Policy: {rules.get('selectPolicy') or 'Max'}")
        w.write(2, "Policies:")
        for p in policies:
            w.write(
                3,
                f"- Type: {p.get('type', '')}\tValue: {p.get('value', 0)}\tPeriod: {p.get('periodSeconds', 0)} seconds",
            )


def describe_hpa(hpa: Obj, events: list[Obj] | None, now: float) -> str:
    meta, spec, status = hpa.get("metadata") or {}, hpa.get("spec") or {}, hpa.get("status") or {}
    ref = spec.get("scaleTargetRef") or {}
    w = Writer()
    write_name(w, meta)
    write_labels_annotations(w, meta)
    w.write(0, f"CreationTimestamp:\t{rfc1123z(meta.get('creationTimestamp'))}")
    w.write(0, f"Reference:\t{ref.get('kind', '')}/{ref.get('name', '')}")
    w.write(0, "Metrics:\t( current / target )")
    for line in describe_metric_lines(spec, status):
        w.write(1, line)
    min_r = spec.get("minReplicas")
    w.write(0, f"Min replicas:\t{'<unset>' if min_r is None else min_r}")
    w.write(0, f"Max replicas:\t{spec.get('maxReplicas', 0)}")
    behavior = spec.get("behavior")
    if behavior is not None:
        w.write(0, "Behavior:")
        _direction(w, "Scale Up", behavior.get("scaleUp"))
        _direction(w, "Scale Down", behavior.get("scaleDown"))
    w.write(
        0,
        f"{ref.get('kind', '')} pods:\t{int(status.get('currentReplicas') or 0)} current / "
        f"{int(status.get('desiredReplicas') or 0)} desired",
    )
    conditions = status.get("conditions") or []
    if conditions:
        w.write(0, "Conditions:")
        w.write(1, "Type\tStatus\tReason\tMessage")
        w.write(1, "----\t------\t------\t-------")
        for c in conditions:
            w.write(
                1,
                f"{c.get('type', '')}\t{c.get('status', '')}\t{c.get('reason', '')}\t{c.get('message', '')}",
            )
    write_events(w, events, now)
    return w.text()


describe = describe_hpa
