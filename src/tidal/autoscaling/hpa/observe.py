"""Kubernetes objects -> decision inputs, as the controller's listers and metrics client read
them (`metrics/client.go`): pods, PodMetrics, MetricValueList, ExternalMetricValueList. Pure:
parses dicts, never fetches."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from tidal.api import gotime
from tidal.api.meta import parse_time
from tidal.api.quantity import milli
from tidal.autoscaling.hpa.model import MetricData, Pod, Sample

Obj = dict[str, Any]
DEFAULT_WINDOW_S = 60.0  # metricServerDefaultMetricWindow


def go_duration(text: str | None, default: float = DEFAULT_WINDOW_S) -> float:
    """Seconds of PodMetrics' `window` (a Go duration: `15s`, `1m0s`, `1.5s`, `500ms`); the
    metrics server's default window when it is missing or not a duration."""
    if not text:
        return default
    try:
        return gotime.parse_duration(str(text)) / gotime.SECOND
    except gotime.DurationError:
        return default


def pod_from_obj(obj: Mapping[str, Any]) -> Pod:
    """The fields `groupPods`, `calculatePodRequests` and the ready count look at."""
    meta, spec, status = obj.get("metadata") or {}, obj.get("spec") or {}, obj.get("status") or {}
    ready: bool | None = None
    transition = None
    for c in status.get("conditions") or ():
        if c.get("type") == "Ready":
            ready = c.get("status") == "True"
            transition = parse_time(c.get("lastTransitionTime"))
    containers = list(spec.get("containers") or ())
    containers += [
        c for c in spec.get("initContainers") or () if c.get("restartPolicy") == "Always"
    ]
    requests: dict[str, dict[str, int]] = {}
    for c in containers:
        reqs = (c.get("resources") or {}).get("requests") or {}
        parsed: dict[str, int] = {}
        for res, q in reqs.items():
            try:
                parsed[res] = milli(q)
            except (ValueError, TypeError):
                continue
        requests[c.get("name", "")] = parsed
    return Pod(
        name=meta.get("name", ""),
        phase=status.get("phase") or "Pending",
        ready=ready,
        start_time=parse_time(status.get("startTime")),
        ready_transition_time=transition,
        deleting=meta.get("deletionTimestamp") is not None,
        requests=requests,
    )


def resource_data(
    items: Iterable[Mapping[str, Any]] | None,
    resource: str,
    container: str = "",
    error: str | None = None,
) -> MetricData:
    """PodMetrics -> per-pod samples of one resource (`getPodMetrics`): a pod missing the
    resource in any container is skipped; for a container metric only that container counts."""
    if error is not None:
        return MetricData(error=f"unable to fetch metrics from resource metrics API: {error}")
    items = list(items or ())
    if not items:
        return MetricData(error="no metrics returned from resource metrics API")
    samples: dict[str, Sample] = {}
    for m in items:
        name = (m.get("metadata") or {}).get("name", "")
        ts = parse_time(m.get("timestamp")) or 0.0
        window = go_duration(m.get("window"))
        total, missing = 0, True
        for c in m.get("containers") or ():
            if container and c.get("name") != container:
                continue
            usage = (c.get("usage") or {}).get(resource)
            if usage is None:
                missing = True
                break
            total += milli(usage)
            missing = False
        if not missing:
            samples[name] = Sample(total, ts, window)
    first = parse_time(items[0].get("timestamp")) or 0.0
    return MetricData(pods=samples, timestamp=first)


def pods_data(body: Mapping[str, Any] | None, error: str | None = None) -> MetricData:
    """custom.metrics.k8s.io MetricValueList for pods -> per-pod samples."""
    if error is not None:
        return MetricData(error=f"unable to fetch metrics from custom metrics API: {error}")
    items = list((body or {}).get("items") or ())
    if not items:
        return MetricData(error="no metrics returned from custom metrics API")
    samples = {}
    for m in items:
        window = m.get("windowSeconds")
        samples[(m.get("describedObject") or {}).get("name", "")] = Sample(
            milli(m.get("value", "0")),
            parse_time(m.get("timestamp")) or 0.0,
            float(window) if window is not None else DEFAULT_WINDOW_S,
        )
    return MetricData(pods=samples, timestamp=parse_time(items[0].get("timestamp")) or 0.0)


def object_data(body: Mapping[str, Any] | None, error: str | None = None) -> MetricData:
    if error is not None:
        return MetricData(error=f"unable to fetch metrics from custom metrics API: {error}")
    body = body or {}
    items = (
        list(body.get("items") or ())
        if "items" in body
        else ([body] if body.get("value") is not None else [])
    )
    if not items:
        return MetricData(error="no metrics returned from custom metrics API")
    m = items[0]
    return MetricData(
        value=milli(m.get("value", "0")), timestamp=parse_time(m.get("timestamp")) or 0.0
    )


def external_data(body: Mapping[str, Any] | None, error: str | None = None) -> MetricData:
    if error is not None:
        return MetricData(error=f"unable to fetch metrics from external metrics API: {error}")
    items = list((body or {}).get("items") or ())
    if not items:
        return MetricData(error="no metrics returned from external metrics API")
    return MetricData(
        values=tuple(milli(m.get("value", "0")) for m in items),
        timestamp=parse_time(items[0].get("timestamp")) or 0.0,
    )
