"""autoscaling/v2 HorizontalPodAutoscaler admission: the API defaults
(`pkg/apis/autoscaling/v2/defaults.go`) and Kubernetes' validation with its field paths and
messages (`pkg/apis/autoscaling/validation/validation.go`), HPAScaleToZero on (minReplicas 0
allowed with an Object or External metric) and per-direction `tolerance` accepted."""

from __future__ import annotations

from typing import Any

from tidal.api.errors import Cause
from tidal.api.hpa_defaults import fill_defaults
from tidal.api.quantity import parse
from tidal.validation.field import (
    dns1123_label,
    forbidden,
    invalid,
    is_int,
    not_supported,
    required,
)

Obj = dict[str, Any]
MAX_PERIOD_SECONDS = 1800
MAX_STABILIZATION_WINDOW_SECONDS = 3600
MIN_REPLICAS_LOWER_BOUND = 0  # HPAScaleToZero enabled
METRIC_SOURCE_TYPES = ["ContainerResource", "External", "Object", "Pods", "Resource"]
SELECT_POLICIES = ["Disabled", "Max", "Min"]
POLICY_TYPES = ["Percent", "Pods"]
STANDARD_CONTAINER_RESOURCES = {"cpu", "memory", "ephemeral-storage"}


def _d(v: Any) -> Obj:
    return v if isinstance(v, dict) else {}


def default(obj: Obj) -> Obj:
    """The API defaults (`tidal.api.hpa_defaults`), filled in place."""
    spec = obj.get("spec")
    if isinstance(spec, dict):
        fill_defaults(spec)
    return obj


def _path_segment(field: str, value: str) -> list[Cause]:
    """`IsValidPathSegmentName`."""
    causes = []
    if value == ".":
        causes.append(invalid(field, value, "may not be '.'"))
    elif value == "..":
        causes.append(invalid(field, value, "may not be '..'"))
    else:
        if "/" in value:
            causes.append(invalid(field, value, "may not contain '/'"))
        if "%" in value:
            causes.append(invalid(field, value, "may not contain '%'"))
    return causes


def _object_ref(ref: Any, path: str) -> list[Cause]:
    ref = _d(ref)
    causes: list[Cause] = []
    for key in ("kind", "name"):
        value = ref.get(key)
        if not value:
            causes.append(required(f"{path}.{key}"))
        elif not isinstance(value, str):
            causes.append(invalid(f"{path}.{key}", value, "must be a string"))
        else:
            causes.extend(_path_segment(f"{path}.{key}", value))
    return causes


def _identifier(metric: Any, path: str) -> list[Cause]:
    name = _d(metric).get("name")
    if not name:
        return [required(f"{path}.name", "must specify a metric name")]
    if not isinstance(name, str):
        return [invalid(f"{path}.name", name, "must be a string")]
    return _path_segment(f"{path}.name", name)


def _quantity_sign(value: Any) -> int | None:
    try:
        v = parse(value)
    except (ValueError, TypeError):
        return None
    return (v > 0) - (v < 0)


def _target(t: Any, path: str) -> list[Cause]:
    t = _d(t)
    causes: list[Cause] = []
    kind = t.get("type")
    if not kind:
        causes.append(required(f"{path}.type", "must specify a metric target type"))
    if kind not in ("Utilization", "Value", "AverageValue"):
        causes.append(
            invalid(
                f"{path}.type", kind or "", "must be either Utilization, Value, or AverageValue"
            )
        )
    for key in ("value", "averageValue"):
        if t.get(key) is not None:
            sign = _quantity_sign(t[key])
            if sign is None:
                causes.append(
                    Cause(
                        f"{path}.{key}",
                        f"Invalid value: {t[key]!r}: quantities must match the regular expression "
                        "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'",
                    )
                )
            elif sign != 1:
                causes.append(
                    Cause(f"{path}.{key}", f"Invalid value: {parse(t[key])}: must be positive")
                )
    util = t.get("averageUtilization")
    if util is not None and (not is_int(util) or util < 1):
        causes.append(invalid(f"{path}.averageUtilization", util, "must be greater than 0"))
    return causes


def _resource_name(name: Any, path: str) -> list[Cause]:
    if not name:
        return [required(path, "must specify a resource name")]
    if not isinstance(name, str):
        return [invalid(path, name, "must be a string")]
    if "/" not in name:
        if name not in STANDARD_CONTAINER_RESOURCES and not name.startswith("hugepages-"):
            return [invalid(path, name, "must be a standard resource for containers")]
    return []


def _resource_source(src: Obj, path: str, container: bool) -> list[Cause]:
    causes = _resource_name(src.get("name"), f"{path}.name")
    if container:
        if not src.get("container"):
            causes.append(required(f"{path}.container", "must specify a container"))
        else:
            causes.extend(dns1123_label(f"{path}.container", src["container"]))
    target = _d(src.get("target"))
    causes.extend(_target(target, f"{path}.target"))
    causes += _either(
        target,
        f"{path}.target",
        ("averageUtilization", "must set either a target raw value or a target utilization"),
        ("averageValue", "may not set both a target raw value and a target utilization"),
    )
    return causes


def _either(
    target: Obj, path: str, need: tuple[str, str], not_both: tuple[str, str]
) -> list[Cause]:
    """One of two target fields: `need` = (field named when neither is set, its detail),
    `not_both` = (field named when both are, its detail), as validation.go words each metric."""
    present = [target.get(need[0]) is not None, target.get(not_both[0]) is not None]
    if not any(present):
        return [required(f"{path}.{need[0]}", need[1])]
    if all(present):
        return [forbidden(f"{path}.{not_both[0]}", not_both[1])]
    return []


def _source(key: str, src: Obj, path: str) -> list[Cause]:
    target = _d(src.get("target"))
    if key == "object":
        causes = _object_ref(src.get("describedObject"), f"{path}.describedObject")
        causes += _identifier(src.get("metric"), f"{path}.metric")
        causes += _target(target, f"{path}.target")
        if target.get("value") is None and target.get("averageValue") is None:
            causes.append(
                required(
                    f"{path}.target.averageValue", "must set either a target value or averageValue"
                )
            )
        return causes
    if key == "external":
        causes = _identifier(src.get("metric"), f"{path}.metric") + _target(
            target, f"{path}.target"
        )
        causes += _either(
            target,
            f"{path}.target",
            ("averageValue", "must set either a target value for metric or a per-pod target"),
            ("value", "may not set both a target value for metric and a per-pod target"),
        )
        return causes
    if key == "pods":
        causes = _identifier(src.get("metric"), f"{path}.metric") + _target(
            target, f"{path}.target"
        )
        if target.get("averageValue") is None:
            causes.append(
                required(
                    f"{path}.target.averageValue", "must specify a positive target averageValue"
                )
            )
        return causes
    return _resource_source(src, path, container=key == "containerResource")


_FIELD_OF = {
    "Object": "object",
    "Pods": "pods",
    "Resource": "resource",
    "External": "external",
    "ContainerResource": "containerResource",
}


def _metric(m: Any, path: str) -> list[Cause]:
    m = _d(m)
    causes: list[Cause] = []
    kind = m.get("type")
    if not kind:
        causes.append(required(f"{path}.type", "must specify a metric source type"))
    if kind not in METRIC_SOURCE_TYPES:
        causes.append(not_supported(f"{path}.type", kind or "", METRIC_SOURCE_TYPES))
    present = []
    for key in ("object", "external", "pods", "resource", "containerResource"):
        if m.get(key) is not None:
            present.append(key)
            if len(present) == 1:
                causes.extend(_source(key, _d(m[key]), f"{path}.{key}"))
    expected = _FIELD_OF.get(kind or "")
    if expected is None:
        causes.append(not_supported(f"{path}.type", kind or "", METRIC_SOURCE_TYPES))
    elif m.get(expected) is None:
        causes.append(
            required(f"{path}.{expected}", "must populate information for the given metric source")
        )
    if len(present) != 1:
        for key in present:
            if key != expected:
                causes.append(
                    forbidden(f"{path}.{key}", "must populate the given metric source only")
                )
    return causes


def _rules(rules: Any, path: str) -> list[Cause]:
    if rules is None:
        return []
    rules = _d(rules)
    causes: list[Cause] = []
    window = rules.get("stabilizationWindowSeconds")
    if window is not None:
        if not is_int(window) or window < 0:
            causes.append(
                invalid(
                    f"{path}.stabilizationWindowSeconds",
                    window,
                    "must be greater than or equal to zero",
                )
            )
        elif window > MAX_STABILIZATION_WINDOW_SECONDS:
            causes.append(
                invalid(
                    f"{path}.stabilizationWindowSeconds",
                    window,
                    f"must be less than or equal to {MAX_STABILIZATION_WINDOW_SECONDS}",
                )
            )
    select = rules.get("selectPolicy")
    if select is not None and select not in SELECT_POLICIES:
        causes.append(not_supported(f"{path}.selectPolicy", select, SELECT_POLICIES))
    policies = rules.get("policies")
    if not policies:
        causes.append(required(f"{path}.policies", "must specify at least one Policy"))
    for i, p in enumerate(policies or []):
        p = _d(p)
        ppath = f"{path}.policies[{i}]"
        if p.get("type") not in POLICY_TYPES:
            causes.append(not_supported(f"{ppath}.type", p.get("type", ""), POLICY_TYPES))
        value, period = p.get("value", 0), p.get("periodSeconds", 0)
        if not is_int(value) or value <= 0:
            causes.append(invalid(f"{ppath}.value", value, "must be greater than zero"))
        if not is_int(period) or period <= 0:
            causes.append(invalid(f"{ppath}.periodSeconds", period, "must be greater than zero"))
        elif period > MAX_PERIOD_SECONDS:
            causes.append(
                invalid(
                    f"{ppath}.periodSeconds",
                    period,
                    f"must be less than or equal to {MAX_PERIOD_SECONDS}",
                )
            )
    tol = rules.get("tolerance")
    if tol is not None:
        sign = _quantity_sign(tol)
        if sign is None or sign < 0:
            causes.append(
                Cause(
                    f"{path}.tolerance",
                    f"Invalid value: {tol}: must be greater than or equal to zero",
                )
            )
    return causes


def validate(obj: Obj) -> list[Cause]:
    """Every field error of the HPA's spec (metadata is checked by the registry)."""
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return [required("spec")]
    causes: list[Cause] = []
    min_r, max_r = spec.get("minReplicas"), spec.get("maxReplicas")
    if min_r is not None and (not is_int(min_r) or min_r < MIN_REPLICAS_LOWER_BOUND):
        causes.append(
            invalid(
                "spec.minReplicas",
                min_r,
                f"must be greater than or equal to {MIN_REPLICAS_LOWER_BOUND}",
            )
        )
    if not is_int(max_r) or max_r < 1:
        causes.append(
            invalid("spec.maxReplicas", max_r if max_r is not None else 0, "must be greater than 0")
        )
    elif is_int(min_r) and max_r < min_r:
        causes.append(
            invalid("spec.maxReplicas", max_r, "must be greater than or equal to `minReplicas`")
        )
    causes.extend(_object_ref(spec.get("scaleTargetRef"), "spec.scaleTargetRef"))
    metrics = spec.get("metrics") or []
    if not isinstance(metrics, list):
        causes.append(invalid("spec.metrics", metrics, "must be a list"))
        metrics = []
    for i, m in enumerate(metrics):
        causes.extend(_metric(m, f"spec.metrics[{i}]"))
    if min_r == 0 and not any(_d(m).get("type") in ("Object", "External") for m in metrics):
        causes.append(
            forbidden(
                "spec.metrics",
                "must specify at least one Object or External metric to support scaling to zero replicas",
            )
        )
    behavior = spec.get("behavior")
    if behavior is not None:
        causes.extend(_rules(_d(behavior).get("scaleUp"), "spec.behavior.scaleUp"))
        causes.extend(_rules(_d(behavior).get("scaleDown"), "spec.behavior.scaleDown"))
    return causes
