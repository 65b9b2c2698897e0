"""Admission for the PodAutoscaler (`autoscaling.internal.knative.dev/v1alpha1`) and for the
`autoscaling.knative.dev/*` annotations wherever they appear (an InferenceService calls
`validate_annotations`), as Knative's webhook: its rules and its messages.

The annotation rules themselves live with the KPA's decisions (`tidal.autoscaling.kpa`), which
read the same annotations; this module turns their field errors into API causes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tidal.api.errors import Cause
from tidal.autoscaling.kpa import annotations as ann
from tidal.autoscaling.kpa.config import KPA, Config
from tidal.validation.field import is_int

Obj = dict[str, Any]
CONTAINER_CONCURRENCY_MAX = 1000  # config-defaults container-concurrency-max-limit
PROTOCOL_TYPES = ("http1", "h2c")


def validate_annotations(
    annotations: Mapping[str, str] | None,
    field_prefix: str = "metadata.annotations",
    config: Config | None = None,
) -> list[Cause]:
    """Knative's `ValidateAnnotations`: one cause per problem, fields as `<prefix>.<key>`."""
    causes = []
    for err in ann.validate_annotations(config or Config(), annotations):
        for path in err.paths or ("",):
            field = f"{field_prefix}.{path}" if path else field_prefix
            causes.append(Cause(field, err.message))
    return causes


def _missing(fields: list[str]) -> Cause:
    return Cause(
        fields[0] if len(fields) == 1 else "spec",
        f"missing field(s): {', '.join(fields)}",
        "FieldValueRequired",
    )


def validate(obj: Obj) -> list[Cause]:
    """Annotations, then the spec: scaleTargetRef, containerConcurrency, protocolType."""
    anns = (obj.get("metadata") or {}).get("annotations") or {}
    causes = validate_annotations(anns)
    spec = obj.get("spec")
    if not spec:
        return [*causes, Cause("spec", "missing field(s): spec", "FieldValueRequired")]
    ref = spec.get("scaleTargetRef") or {}
    missing = [f"spec.scaleTargetRef.{k}" for k in ("apiVersion", "kind", "name") if not ref.get(k)]
    if missing:
        causes.append(_missing(missing))
    cc = spec.get("containerConcurrency", 0)
    if not is_int(cc):
        causes.append(Cause("spec.containerConcurrency", f"invalid value: {cc}"))
    elif not 0 <= cc <= CONTAINER_CONCURRENCY_MAX:
        causes.append(
            Cause(
                "spec.containerConcurrency",
                f"expected 0 <= {cc} <= {CONTAINER_CONCURRENCY_MAX}",
            )
        )
    proto = spec.get("protocolType", "http1")
    if proto not in PROTOCOL_TYPES:
        causes.append(Cause("spec.protocolType", f"invalid value: {proto}"))
    reach = spec.get("reachability", "")
    if reach not in ("", "Reachable", "Unreachable"):
        causes.append(Cause("spec.reachability", f"invalid value: {reach}"))
    return causes


def default(obj: Obj) -> Obj:
    """Knative's defaults: class annotation KPA, the class's default metric, protocol http1."""
    meta = obj.setdefault("metadata", {})
    anns = meta.get("annotations")
    if anns is None:
        anns = meta["annotations"] = {}
    anns.setdefault(ann.CLASS[0], KPA)
    if ann.get(anns, ann.METRIC) is None:
        metric = ann.default_metric(ann.pa_class(anns))
        if metric:
            anns[ann.METRIC[0]] = metric
    spec = obj.get("spec")
    if isinstance(spec, dict):
        spec.setdefault("protocolType", "http1")
    return obj
