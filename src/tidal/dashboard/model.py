"""What the dashboard shows, computed from what the plane already has: pure functions of the
objects (Deployments, HPAs, PodAutoscalers, CronHPAs, Pods, Events), the router's counters and
`/stats`, and the pods' CPU/memory. The collector gathers those once a second and calls `frame`;
nothing here does I/O, so every number is checked by the table of cases beside it
(tests/dashboard/test_model.py)."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tidal.api.meta import parse_time
from tidal.api.quantity import parse as parse_quantity

Obj = dict[str, Any]

_SAMPLE = re.compile(r"^(\w+)\{([^}]*)\}\s+(\S+)$")
_LABEL = re.compile(r'(\w+)="([^"]*)"')


@dataclass(slots=True)
class Counters:
    """A service's cumulative router counters at one instant: requests by status code and the
    latency histogram (bucket upper bounds in seconds -> cumulative count)."""

    by_code: dict[str, float] = field(default_factory=dict)
    latency: dict[float, float] = field(default_factory=dict)

    @property
    def total(self) -> float:
        return sum(self.by_code.values())

    @property
    def non_2xx(self) -> float:
        return sum(n for c, n in self.by_code.items() if not c.startswith("2"))


def parse_router_metrics(text: str) -> dict[str, Counters]:
    """The router's admin `/metrics` text as Counters per `namespace/service`."""
    out: dict[str, Counters] = {}
    for line in text.splitlines():
        if not line or line[0] == "#":
            continue
        m = _SAMPLE.match(line)
        if m is None:
            continue
        name, labels_s, value_s = m.groups()
        labels = dict(_LABEL.findall(labels_s))
        key = f"{labels.get('namespace', '')}/{labels.get('service', '')}"
        try:
            value = float(value_s)
        except ValueError:
            continue
        if name == "tidal_router_requests_total":
            out.setdefault(key, Counters()).by_code[labels.get("code", "")] = value
        elif name == "tidal_router_request_duration_seconds_bucket":
            le = labels.get("le", "")
            bound = math.inf if le == "+Inf" else float(le)
            out.setdefault(key, Counters()).latency[bound] = value
    return out


def histogram_quantile(q: float, cumulative: Mapping[float, float]) -> float | None:
    """Prometheus' `histogram_quantile`: linear interpolation inside the bucket the q-th
    observation falls in; None without observations. A quantile in the +Inf bucket reads as
    the largest finite bound (as Prometheus does)."""
    bounds = sorted(cumulative)
    if not bounds:
        return None
    total = cumulative[bounds[-1]]
    if total <= 0:
        return None
    rank = q * total
    prev_bound, prev_count = 0.0, 0.0
    for b in bounds:
        c = cumulative[b]
        if c >= rank:
            if math.isinf(b):
                return prev_bound
            if c == prev_count:
                return b
            return prev_bound + (b - prev_bound) * (rank - prev_count) / (c - prev_count)
        prev_bound, prev_count = b, c
    return prev_bound


def rates(new: Counters, old: Counters | None, dt: float) -> dict[str, float | None]:
    """Requests/s, non-2xx/s and latency p50/p99 (ms) between two counter readings `dt`
    seconds apart. A counter that went down (the router restarted) counts from zero."""
    if old is None or dt <= 0:
        return {"rps": None, "errors": None, "p50": None, "p99": None}
    d_total = new.total - old.total
    d_err = new.non_2xx - old.non_2xx
    if d_total < 0 or d_err < 0:
        old = Counters()
        d_total, d_err = new.total, new.non_2xx
    delta = {b: max(0.0, c - old.latency.get(b, 0.0)) for b, c in new.latency.items()}
    p50 = histogram_quantile(0.5, delta)
    p99 = histogram_quantile(0.99, delta)
    return {
        "rps": round(d_total / dt, 3),
        "errors": round(d_err / dt, 3),
        "p50": None if p50 is None else round(p50 * 1000, 2),
        "p99": None if p99 is None else round(p99 * 1000, 2),
    }


def _num(v: Any) -> float | None:
    if v is None:
        return None
    try:
        return float(parse_quantity(str(v))) if isinstance(v, str) else float(v)
    except (ValueError, TypeError, ArithmeticError):
        return None


def _metric_name(m: Obj) -> str:
    kind = m.get("type", "")
    src = m.get(kind[:1].lower() + kind[1:], {}) if kind else {}
    if kind in ("Resource", "ContainerResource"):
        return str(src.get("name", ""))
    return str((src.get("metric") or {}).get("name", ""))


def _target_value(target: Obj) -> tuple[float | None, str]:
    if target.get("averageUtilization") is not None:
        return float(target["averageUtilization"]), "%"
    if target.get("averageValue") is not None:
        return _num(target["averageValue"]), "avg"
    return _num(target.get("value")), "value"


def _current_value(current: Obj, unit: str) -> float | None:
    if unit == "%":
        return _num(current.get("averageUtilization"))
    if unit == "avg":
        return _num(current.get("averageValue"))
    return _num(current.get("value"))


def hpa_metrics(hpa: Obj) -> list[Obj]:
    """Each metric the HPA reads, its current value (from status.currentMetrics) and target."""
    spec_metrics = (hpa.get("spec") or {}).get("metrics") or [
        {"type": "Resource", "resource": {"name": "cpu", "target": {"averageUtilization": 80}}}
    ]
    current = (hpa.get("status") or {}).get("currentMetrics") or []
    cur_by = {(c.get("type"), _metric_name(c)): c for c in current}
    out = []
    for m in spec_metrics:
        kind = m.get("type", "")
        src = m.get(kind[:1].lower() + kind[1:], {}) if kind else {}
        target, unit = _target_value(src.get("target") or {})
        name = _metric_name(m)
        cur = cur_by.get((kind, name))
        cur_src = (cur or {}).get(kind[:1].lower() + kind[1:], {}) if cur else {}
        value = _current_value(cur_src.get("current") or {}, unit)
        out.append({"name": name, "unit": unit, "current": value, "target": target})
    return out


def owner_deployment(pod: Obj) -> str | None:
    """The Deployment a pod belongs to: its ReplicaSet-style name minus the hash, via the
    `app` label's owner, or the ownerReference when it names a Deployment."""
    for ref in (pod.get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("kind") == "Deployment":
            return str(ref.get("name"))
        if ref.get("kind") == "ReplicaSet":
            return str(ref.get("name")).rsplit("-", 1)[0]
    return None


def pod_row(pod: Obj, usage: tuple[float, int] | None) -> Obj:
    """Phase, ready, restarts, CPU (millicores) and memory (MiB) of one pod."""
    meta = pod.get("metadata") or {}
    status = pod.get("status") or {}
    cs = status.get("containerStatuses") or []
    phase = str(status.get("phase") or "Pending")
    if meta.get("deletionTimestamp"):
        phase = "Terminating"
    return {
        "name": meta.get("name", ""),
        "phase": phase,
        "ready": bool(cs) and all(c.get("ready") for c in cs),
        "restarts": sum(int(c.get("restartCount") or 0) for c in cs),
        "cpu_m": None if usage is None else round(usage[0] * 1000, 1),
        "mem_mib": None if usage is None else round(usage[1] / 2**20, 1),
    }


def event_row(ev: Obj) -> Obj | None:
    """A scaling decision (or a warning about one) from an autoscaler's Event; None for others."""
    inv = ev.get("involvedObject") or {}
    kind = inv.get("kind")
    if kind not in ("HorizontalPodAutoscaler", "PodAutoscaler", "CronHorizontalPodAutoscaler"):
        return None
    when = ev.get("lastTimestamp") or ev.get("eventTime") or ev.get("firstTimestamp") or ""
    meta = ev.get("metadata") or {}
    return {
        # an Event is bumped (count+1) when the same decision repeats: each count is a marker
        "id": f"{meta.get('uid') or meta.get('name')}#{ev.get('count') or 1}",
        "t": parse_time(str(when)),
        "kind": {"HorizontalPodAutoscaler": "HPA", "PodAutoscaler": "KPA"}.get(kind, "CronHPA"),
        "object": f"{inv.get('namespace', '')}/{inv.get('name', '')}",
        "type": ev.get("type", "Normal"),
        "reason": ev.get("reason", ""),
        "message": ev.get("message", ""),
    }


@dataclass(slots=True)
class Inputs:
    """Everything one frame is made from (lists of API objects, router readings, usage)."""

    now: float
    deployments: Sequence[Obj] = ()
    hpas: Sequence[Obj] = ()
    podautoscalers: Sequence[Obj] = ()
    cronhpas: Sequence[Obj] = ()
    pods: Sequence[Obj] = ()
    router_stats: Mapping[str, Any] = field(default_factory=dict)  # /stats "services"
    counters: Mapping[str, Counters] = field(default_factory=dict)
    old_counters: Mapping[str, Counters] = field(default_factory=dict)
    counters_dt: float = 0.0
    usage: Mapping[tuple[str, str], tuple[float, int]] = field(default_factory=dict)
    kpa_targets: Mapping[str, tuple[str, float]] = field(default_factory=dict)  # key -> metric


def _ref_key(obj: Obj) -> str:
    ref = (obj.get("spec") or {}).get("scaleTargetRef") or {}
    return f"{obj['metadata'].get('namespace', '')}/{ref.get('name', '')}"


def _cron_bounds(cron: Obj) -> Obj:
    jobs = (cron.get("spec") or {}).get("jobs") or []
    sizes = [int(j.get("targetSize")) for j in jobs if isinstance(j.get("targetSize"), int)]
    return {
        "name": cron["metadata"]["name"],
        "min": min(sizes) if sizes else None,
        "max": max(sizes) if sizes else None,
    }


def frame(i: Inputs) -> Obj:
    """One sample of every service (a Deployment, keyed `namespace/name`) and its pods."""
    hpa_by = {_ref_key(h): h for h in i.hpas}
    pa_by = {_ref_key(p): p for p in i.podautoscalers}
    cron_by = {_ref_key(c): c for c in i.cronhpas}
    pods_by: dict[str, list[Obj]] = {}
    for p in i.pods:
        dep = owner_deployment(p)
        if dep is not None:
            key = f"{p['metadata'].get('namespace', '')}/{dep}"
            usage = i.usage.get((p["metadata"].get("namespace", ""), p["metadata"]["name"]))
            pods_by.setdefault(key, []).append(pod_row(p, usage))
    services: dict[str, Obj] = {}
    for d in sorted(
        i.deployments, key=lambda d: (d["metadata"]["namespace"], d["metadata"]["name"])
    ):
        ns, name = d["metadata"]["namespace"], d["metadata"]["name"]
        key = f"{ns}/{name}"
        spec, status = d.get("spec") or {}, d.get("status") or {}
        stats = i.router_stats.get(key) or {}
        counters = i.counters.get(key)
        r = (
            rates(counters, i.old_counters.get(key), i.counters_dt)
            if counters is not None
            else rates(Counters(), None, 0)
        )
        row: Obj = {
            "ns": ns,
            "name": name,
            "desired": int(spec.get("replicas", 1) if spec.get("replicas") is not None else 1),
            "ready": int(status.get("readyReplicas") or 0),
            **r,
            "in_flight": stats.get("in_flight"),
            "held": stats.get("held"),
            "autoscaler": None,
            "min": None,
            "max": None,
            "metrics": [],
        }
        if key in hpa_by:
            h = hpa_by[key]
            hs = h.get("spec") or {}
            row.update(
                autoscaler={"kind": "HPA", "name": h["metadata"]["name"]},
                min=hs.get("minReplicas", 1),
                max=hs.get("maxReplicas"),
                metrics=hpa_metrics(h),
            )
        elif key in pa_by:
            pa = pa_by[key]
            ann = (pa.get("metadata") or {}).get("annotations") or {}
            metric, target = i.kpa_targets.get(key, ("concurrency", 100.0))
            ready = row["ready"]
            cur = None
            if metric == "rps" and row["rps"] is not None:
                cur = row["rps"] / ready if ready else row["rps"]
            elif metric != "rps" and stats:
                cur = _avg_concurrency(stats, i.now) / (ready or 1)
            row.update(
                autoscaler={"kind": "KPA", "name": pa["metadata"]["name"]},
                min=_num(ann.get("autoscaling.knative.dev/min-scale")) or 0,
                max=_num(ann.get("autoscaling.knative.dev/max-scale")),
                metrics=[
                    {
                        "name": metric,
                        "unit": "per pod",
                        "current": None if cur is None else round(cur, 3),
                        "target": target,
                    }
                ],
            )
        if key in cron_by:
            row["cron"] = _cron_bounds(cron_by[key])
            if row["autoscaler"] is None:
                row["autoscaler"] = {"kind": "CronHPA", "name": cron_by[key]["metadata"]["name"]}
                row["min"], row["max"] = row["cron"]["min"], row["cron"]["max"]
        services[key] = row
    return {
        "t": round(i.now, 3),
        "services": services,
        "pods": {
            k: sorted(v, key=lambda p: p["name"]) for k, v in pods_by.items() if k in services
        },
    }


def _avg_concurrency(stats: Mapping[str, Any], now: float, window_s: int = 3) -> float:
    """Mean in-flight over the last complete seconds of the router's buckets."""
    buckets = [b for b in stats.get("buckets") or [] if now - window_s - 1 <= b["t"] < int(now)]
    if not buckets:
        return float(stats.get("in_flight") or 0)
    return sum(float(b.get("concurrency") or 0) for b in buckets) / window_s


def decisions_for(events: Iterable[Obj], rows: Mapping[str, Obj]) -> list[Obj]:
    """Event rows tagged with the service (Deployment key) their autoscaler scales."""
    by_autoscaler: dict[str, str] = {}
    for key, row in rows.items():
        a = row.get("autoscaler")
        if a:
            by_autoscaler[f"{row['ns']}/{a['name']}"] = key
        cron = row.get("cron")
        if cron:
            by_autoscaler[f"{row['ns']}/{cron['name']}"] = key
    out = []
    for ev in events:
        svc = by_autoscaler.get(ev["object"])
        if svc is not None:
            out.append({**ev, "service": svc})
    return out
