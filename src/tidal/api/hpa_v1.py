"""autoscaling/v1 HorizontalPodAutoscaler <-> autoscaling/v2, as kube-apiserver converts them
(k8s.io/kubernetes pkg/apis/autoscaling/v1/conversion.go). tidal stores v2; v1 is a view of it.

v1 has one metric, `targetCPUUtilizationPercentage` (v2's cpu Resource metric of type
Utilization). Everything else v2 says is kept in the v1 object's annotations, in v1's (v2beta1
shaped) metric types, so that a v1 read-modify-write loses nothing:
`autoscaling.alpha.kubernetes.io/metrics` (the other metrics),
`.../current-metrics` (status.currentMetrics), `.../conditions` (status.conditions) and
`.../behavior` (spec.behavior). A v1 object without any metric gets the v1 default: cpu 80%.
Pure functions over JSON-shaped dicts."""

from __future__ import annotations

import copy
import json
from typing import Any

from tidal.api.errors import BadRequest
from tidal.api.hpa_defaults import default_cpu_metric

Obj = dict[str, Any]
V1 = "autoscaling/v1"
V2 = "autoscaling/v2"
METRICS = "autoscaling.alpha.kubernetes.io/metrics"
CURRENT_METRICS = "autoscaling.alpha.kubernetes.io/current-metrics"
CONDITIONS = "autoscaling.alpha.kubernetes.io/conditions"
BEHAVIOR = "autoscaling.alpha.kubernetes.io/behavior"
ROUND_TRIP = (METRICS, CURRENT_METRICS, CONDITIONS, BEHAVIOR)

# v2 source key -> (v1 key, the name field's v1 spelling)
_SOURCES = {
    "Resource": "resource",
    "ContainerResource": "containerResource",
    "Pods": "pods",
    "Object": "object",
    "External": "external",
}


def _put(out: Obj, key: str, value: Any) -> None:
    if value is not None and value != {}:
        out[key] = value


def _is_cpu_utilization(m: Obj) -> bool:
    res = m.get("resource") or {}
    return (
        m.get("type") == "Resource"
        and res.get("name") == "cpu"
        and (res.get("target") or {}).get("type") == "Utilization"
    )


# --- metric specs ------------------------------------------------------------------------------


def metric_to_v1(m: Obj) -> Obj:
    """One v2 MetricSpec in v1's shape (targetAverageUtilization, metricName, ...)."""
    kind = m.get("type", "")
    out: Obj = {"type": kind}
    src = m.get(_SOURCES.get(kind, "")) or {}
    target = src.get("target") or {}
    metric = src.get("metric") or {}
    body: Obj = {}
    if kind in ("Resource", "ContainerResource"):
        body["name"] = src.get("name", "")
        if kind == "ContainerResource":
            body["container"] = src.get("container", "")
        _put(body, "targetAverageUtilization", target.get("averageUtilization"))
        _put(body, "targetAverageValue", target.get("averageValue"))
    elif kind == "Pods":
        body["metricName"] = metric.get("name", "")
        body["targetAverageValue"] = target.get("averageValue")
        _put(body, "selector", metric.get("selector"))
    elif kind == "Object":
        body["target"] = src.get("describedObject") or {}
        body["metricName"] = metric.get("name", "")
        body["targetValue"] = target.get("value")
        _put(body, "selector", metric.get("selector"))
        _put(body, "averageValue", target.get("averageValue"))
    elif kind == "External":
        body["metricName"] = metric.get("name", "")
        _put(body, "metricSelector", metric.get("selector"))
        _put(body, "targetValue", target.get("value"))
        _put(body, "targetAverageValue", target.get("averageValue"))
    if kind in _SOURCES:
        out[_SOURCES[kind]] = {k: v for k, v in body.items() if v is not None}
    return out


def metric_to_v2(m: Obj) -> Obj:
    """One v1 MetricSpec (from the annotation) in v2's shape."""
    kind = m.get("type", "")
    src = m.get(_SOURCES.get(kind, "")) or {}
    out: Obj = {"type": kind}
    target: Obj = {}
    body: Obj = {}
    if kind in ("Resource", "ContainerResource"):
        body["name"] = src.get("name", "")
        if kind == "ContainerResource":
            body["container"] = src.get("container", "")
        if src.get("targetAverageUtilization") is not None:
            target = {"type": "Utilization", "averageUtilization": src["targetAverageUtilization"]}
        elif src.get("targetAverageValue") is not None:
            target = {"type": "AverageValue", "averageValue": src["targetAverageValue"]}
    elif kind == "Pods":
        body["metric"] = _metric_id(src.get("metricName"), src.get("selector"))
        target = {"type": "AverageValue", "averageValue": src.get("targetAverageValue")}
    elif kind == "Object":
        body["describedObject"] = src.get("target") or {}
        body["metric"] = _metric_id(src.get("metricName"), src.get("selector"))
        if src.get("averageValue") is not None:
            target = {"type": "AverageValue", "averageValue": src["averageValue"]}
        else:
            target = {"type": "Value", "value": src.get("targetValue")}
    elif kind == "External":
        body["metric"] = _metric_id(src.get("metricName"), src.get("metricSelector"))
        if src.get("targetAverageValue") is not None:
            target = {"type": "AverageValue", "averageValue": src["targetAverageValue"]}
        else:
            target = {"type": "Value", "value": src.get("targetValue")}
    if kind in _SOURCES:
        body["target"] = target
        out[_SOURCES[kind]] = body
    return out


def _metric_id(name: Any, selector: Any) -> Obj:
    out: Obj = {"name": name or ""}
    _put(out, "selector", selector)
    return out


# --- metric statuses ---------------------------------------------------------------------------


def status_to_v1(m: Obj) -> Obj:
    kind = m.get("type", "")
    src = m.get(_SOURCES.get(kind, "")) or {}
    cur = src.get("current") or {}
    metric = src.get("metric") or {}
    body: Obj = {}
    if kind in ("Resource", "ContainerResource"):
        body["name"] = src.get("name", "")
        if kind == "ContainerResource":
            body["container"] = src.get("container", "")
        _put(body, "currentAverageUtilization", cur.get("averageUtilization"))
        body["currentAverageValue"] = cur.get("averageValue")
    elif kind == "Pods":
        body["metricName"] = metric.get("name", "")
        body["currentAverageValue"] = cur.get("averageValue")
        _put(body, "selector", metric.get("selector"))
    elif kind == "Object":
        body["target"] = src.get("describedObject") or {}
        body["metricName"] = metric.get("name", "")
        body["currentValue"] = cur.get("value")
        _put(body, "selector", metric.get("selector"))
        _put(body, "averageValue", cur.get("averageValue"))
    elif kind == "External":
        body["metricName"] = metric.get("name", "")
        _put(body, "metricSelector", metric.get("selector"))
        body["currentValue"] = cur.get("value")
        _put(body, "currentAverageValue", cur.get("averageValue"))
    out: Obj = {"type": kind}
    if kind in _SOURCES:
        out[_SOURCES[kind]] = {k: v for k, v in body.items() if v is not None}
    return out


def status_to_v2(m: Obj) -> Obj:
    kind = m.get("type", "")
    src = m.get(_SOURCES.get(kind, "")) or {}
    body: Obj = {}
    cur: Obj = {}
    if kind in ("Resource", "ContainerResource"):
        body["name"] = src.get("name", "")
        if kind == "ContainerResource":
            body["container"] = src.get("container", "")
        _put(cur, "averageUtilization", src.get("currentAverageUtilization"))
        _put(cur, "averageValue", src.get("currentAverageValue"))
    elif kind == "Pods":
        body["metric"] = _metric_id(src.get("metricName"), src.get("selector"))
        _put(cur, "averageValue", src.get("currentAverageValue"))
    elif kind == "Object":
        body["describedObject"] = src.get("target") or {}
        body["metric"] = _metric_id(src.get("metricName"), src.get("selector"))
        _put(cur, "value", src.get("currentValue"))
        _put(cur, "averageValue", src.get("averageValue"))
    elif kind == "External":
        body["metric"] = _metric_id(src.get("metricName"), src.get("metricSelector"))
        _put(cur, "value", src.get("currentValue"))
        _put(cur, "averageValue", src.get("currentAverageValue"))
    out: Obj = {"type": kind}
    if kind in _SOURCES:
        body["current"] = cur
        out[_SOURCES[kind]] = body
    return out


# --- whole objects -----------------------------------------------------------------------------


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def to_v1(hpa: Obj) -> Obj:
    """The autoscaling/v1 view of a stored autoscaling/v2 HPA."""
    spec = hpa.get("spec") or {}
    status = hpa.get("status") or {}
    meta = copy.deepcopy(hpa.get("metadata") or {})
    notes = {k: v for k, v in (meta.get("annotations") or {}).items() if k not in ROUND_TRIP}
    metrics = spec.get("metrics") or []
    cpu = next((m for m in metrics if _is_cpu_utilization(m)), None)
    others = [metric_to_v1(m) for m in metrics if not _is_cpu_utilization(m)]
    if others:
        notes[METRICS] = _dumps(others)
    if status.get("currentMetrics"):
        notes[CURRENT_METRICS] = _dumps([status_to_v1(m) for m in status["currentMetrics"]])
    if status.get("conditions"):
        notes[CONDITIONS] = _dumps(status["conditions"])
    if spec.get("behavior") is not None:
        notes[BEHAVIOR] = _dumps(spec["behavior"])
    if notes:
        meta["annotations"] = notes
    else:
        meta.pop("annotations", None)
    v1_spec: Obj = {"scaleTargetRef": spec.get("scaleTargetRef") or {}}
    _put(v1_spec, "minReplicas", spec.get("minReplicas"))
    v1_spec["maxReplicas"] = spec.get("maxReplicas", 0)
    if cpu is not None:
        v1_spec["targetCPUUtilizationPercentage"] = cpu["resource"]["target"].get(
            "averageUtilization"
        )
    v1_status: Obj = {}
    for key in ("observedGeneration", "lastScaleTime"):
        _put(v1_status, key, status.get(key))
    v1_status["currentReplicas"] = status.get("currentReplicas", 0)
    v1_status["desiredReplicas"] = status.get("desiredReplicas", 0)
    for m in status.get("currentMetrics") or []:
        res = m.get("resource") or {}
        if m.get("type") == "Resource" and res.get("name") == "cpu":
            _put(
                v1_status,
                "currentCPUUtilizationPercentage",
                (res.get("current") or {}).get("averageUtilization"),
            )
    return {
        "kind": "HorizontalPodAutoscaler",
        "apiVersion": V1,
        "metadata": meta,
        "spec": v1_spec,
        "status": v1_status,
    }


def _annotation(notes: dict[str, str], key: str) -> Any:
    try:
        return json.loads(notes[key])
    except (ValueError, TypeError) as exc:
        raise BadRequest(f'metadata.annotations["{key}"]: invalid JSON: {exc}') from None


def to_v2(hpa: Obj) -> Obj:
    """The autoscaling/v2 object to store for an autoscaling/v1 one a client sent."""
    spec = hpa.get("spec") or {}
    status = hpa.get("status") or {}
    meta = copy.deepcopy(hpa.get("metadata") or {})
    notes = dict(meta.get("annotations") or {})
    metrics: list[Obj] = []
    cpu = spec.get("targetCPUUtilizationPercentage")
    if cpu is not None:
        metrics.append(
            {
                "type": "Resource",
                "resource": {
                    "name": "cpu",
                    "target": {"type": "Utilization", "averageUtilization": cpu},
                },
            }
        )
    v2_spec: Obj = {"scaleTargetRef": spec.get("scaleTargetRef") or {}}
    v2_status: Obj = {}
    if METRICS in notes:
        others = _annotation(notes, METRICS)
        if not isinstance(others, list):
            raise BadRequest(f'metadata.annotations["{METRICS}"]: must be a list')
        metrics += [metric_to_v2(m) for m in others if isinstance(m, dict)]
    if not metrics:
        metrics = [default_cpu_metric()]
    _put(v2_spec, "minReplicas", spec.get("minReplicas"))
    v2_spec["maxReplicas"] = spec.get("maxReplicas", 0)
    v2_spec["metrics"] = metrics
    if BEHAVIOR in notes:
        v2_spec["behavior"] = _annotation(notes, BEHAVIOR)
    for key in ("observedGeneration", "lastScaleTime", "currentReplicas", "desiredReplicas"):
        _put(v2_status, key, status.get(key))
    if CURRENT_METRICS in notes:
        current = _annotation(notes, CURRENT_METRICS)
        v2_status["currentMetrics"] = [status_to_v2(m) for m in current if isinstance(m, dict)]
    elif status.get("currentCPUUtilizationPercentage") is not None:
        v2_status["currentMetrics"] = [
            {
                "type": "Resource",
                "resource": {
                    "name": "cpu",
                    "current": {"averageUtilization": status["currentCPUUtilizationPercentage"]},
                },
            }
        ]
    if CONDITIONS in notes:
        v2_status["conditions"] = _annotation(notes, CONDITIONS)
    for key in ROUND_TRIP:
        notes.pop(key, None)
    if notes:
        meta["annotations"] = notes
    else:
        meta.pop("annotations", None)
    out: Obj = {"kind": "HorizontalPodAutoscaler", "apiVersion": V2, "metadata": meta}
    out["spec"] = v2_spec
    if v2_status:
        out["status"] = v2_status
    return out
