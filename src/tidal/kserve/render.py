"""InferenceService → Deployment, Service and HPA `<name>-predictor`, as KServe's RawDeployment
reconcilers build them (its status is `tidal.kserve.status`): PURE functions of the InferenceService, the serving runtime chosen for it
(`tidal.kserve.runtimes.select_runtime`), its pods and the ingress domain. The controller
(`tidal.controllers.inferenceservice`) gathers these inputs and applies the outputs.
"""

from __future__ import annotations

import copy
import re
import sys
from collections.abc import Iterable
from typing import Any

from tidal.api.meta import owner_reference
from tidal.api.wellknown import (
    AUTOSCALER_CLASS,
    DEPLOYMENT_MODE,
    HOSTS_ANNOTATION,
    ISVC_LABEL,
    KNATIVE_CLASS,
    KPA_CLASS,
    METRIC_INDEX_LABEL,
    STOP_ANNOTATION,
)
from tidal.kserve.container import DEFAULT_PORT, predictor_container
from tidal.kserve.runtimes import Selected

Obj = dict[str, Any]


LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
DEFAULT_DOMAIN = "example.com"
DEFAULT_CPU_UTILIZATION = 80  # KServe DefaultCPUUtilization
# the External metric an `autoScaling` External entry renders to (tidal.metrics.external_api)
KSERVE_EXTERNAL_METRIC = "prometheus-query"


# ---- pure: names and metadata -------------------------------------------------------------------
def predictor_name(isvc: Obj) -> str:
    return f"{isvc['metadata']['name']}-predictor"


def hosts(name: str, namespace: str, domain: str) -> list[str]:
    """The Host headers the router answers for: KServe's raw-mode template first."""
    return [f"{name}-{namespace}.{domain}", f"{name}.{namespace}.{domain}"]


def component_labels(isvc: Obj) -> dict[str, str]:
    """The InferenceService's labels plus KServe's: `app`, `component`, the isvc name."""
    meta = isvc["metadata"]
    labels = dict(meta.get("labels") or {})
    labels.update(
        {
            "app": f"isvc.{predictor_name(isvc)}",
            "component": "predictor",
            ISVC_LABEL: meta["name"],
        }
    )
    return labels


def component_annotations(isvc: Obj) -> dict[str, str]:
    annotations = dict(isvc["metadata"].get("annotations") or {})
    annotations.pop(LAST_APPLIED, None)
    return annotations


def selector(isvc: Obj) -> dict[str, str]:
    return {"app": f"isvc.{predictor_name(isvc)}"}


def _component_meta(isvc: Obj) -> Obj:
    meta = isvc["metadata"]
    out: Obj = {
        "name": predictor_name(isvc),
        "namespace": meta.get("namespace") or "default",
        "labels": component_labels(isvc),
    }
    annotations = component_annotations(isvc)
    if annotations:
        out["annotations"] = annotations
    if meta.get("uid"):
        out["ownerReferences"] = [owner_reference(isvc)]
    return out


def uses_kpa(isvc: Obj) -> bool:
    """Knative's Pod Autoscaler decides (issue 10): Serverless mode, the Knative class annotation,
    or a concurrency/rps metric."""
    annotations = isvc["metadata"].get("annotations") or {}
    predictor = (isvc.get("spec") or {}).get("predictor") or {}
    return (
        annotations.get(DEPLOYMENT_MODE) in ("Serverless", "Knative")
        or annotations.get(KNATIVE_CLASS) == KPA_CLASS
        or predictor.get("scaleMetric") in ("concurrency", "rps")
    )


def autoscaler_class(isvc: Obj) -> str:
    return (isvc["metadata"].get("annotations") or {}).get(AUTOSCALER_CLASS) or "hpa"


def localize_mounts(container: Obj, volumes: list[Obj]) -> Obj:
    """Pods are processes on this machine, with no mount namespace: a `hostPath` volume mounted
    at DST (arena's `--data SRC:DST`) is made visible by rewriting DST to SRC in the command,
    args and env values. The mounts stay in the spec, as a cluster would use them."""
    host = {v.get("name"): (v.get("hostPath") or {}).get("path") for v in volumes or []}
    pairs = sorted(
        (
            (m["mountPath"].rstrip("/") or "/", host[m.get("name")])
            for m in container.get("volumeMounts") or []
            if host.get(m.get("name")) and m.get("mountPath")
        ),
        key=lambda p: -len(p[0]),
    )
    if not pairs:
        return container

    def sub(text: str) -> str:
        for dst, src in pairs:
            text = re.sub(rf"(?<![\w/.-]){re.escape(dst)}(?=$|[/\s\"',;:=])", src, text)
        return text

    out = copy.deepcopy(container)
    for key in ("command", "args"):
        if out.get(key):
            out[key] = [sub(str(x)) for x in out[key]]
    for e in out.get("env") or []:
        if isinstance(e.get("value"), str):
            e["value"] = sub(e["value"])
    return out


def container_port(container: Obj) -> int:
    for p in container.get("ports") or []:
        if p.get("containerPort"):
            return int(p["containerPort"])
    return DEFAULT_PORT


def initial_replicas(isvc: Obj) -> int:
    """The Deployment's replicas at creation: `minReplicas` raised to 1 (KServe's HPA path; the
    KPA's initial scale is 1 too, and it scales to zero itself); class `none` keeps it as given
    (0 allowed: a manual scale-to-zero)."""
    p = (isvc.get("spec") or {}).get("predictor") or {}
    lo = p.get("minReplicas")
    if autoscaler_class(isvc) == "none":
        return max(int(lo if lo is not None else 1), 0)
    return max(int(lo or 1), 1)


# ---- pure: the objects ----------------------------------------------------------------------------
def render_deployment(
    isvc: Obj,
    runtime: Selected | None = None,
    *,
    python: str = sys.executable,
    storage_env: list[Obj] | None = None,
) -> Obj | None:
    """KServe's predictor Deployment; None when the predictor has no container (a `model`
    no runtime serves: the status says why)."""
    p = (isvc.get("spec") or {}).get("predictor") or {}
    container = predictor_container(isvc, runtime, python=python, storage_env=storage_env)
    if container is None:
        return None
    container.setdefault("ports", [{"containerPort": DEFAULT_PORT, "protocol": "TCP"}])
    container = localize_mounts(container, p.get("volumes") or [])
    pod_spec: Obj = {"containers": [container]}
    p_spec = copy.deepcopy(p)
    for key in ("volumes", "nodeSelector", "tolerations", "affinity", "serviceAccountName"):
        if p_spec.get(key):
            pod_spec[key] = p_spec[key]
    meta = _component_meta(isvc)
    template_meta: Obj = {"labels": dict(meta["labels"])}
    annotations = dict((runtime.spec.get("annotations") or {}) if runtime else {})
    annotations.update(meta.get("annotations") or {})
    if annotations:
        template_meta["annotations"] = annotations
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta,
        "spec": {
            "replicas": initial_replicas(isvc),
            "selector": {"matchLabels": selector(isvc)},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"},
            },
            "template": {"metadata": template_meta, "spec": pod_spec},
        },
    }


def render_service(isvc: Obj, domain: str = DEFAULT_DOMAIN, runtime: Selected | None = None) -> Obj:
    meta = _component_meta(isvc)
    name, ns = isvc["metadata"]["name"], meta["namespace"]
    meta.setdefault("annotations", {})[HOSTS_ANNOTATION] = ",".join(hosts(name, ns, domain))
    port = container_port(predictor_container(isvc, runtime) or {})
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta,
        "spec": {
            "type": "ClusterIP",
            "selector": selector(isvc),
            "ports": [
                {
                    "name": f"{predictor_name(isvc)}",
                    "port": 80,
                    "protocol": "TCP",
                    "targetPort": port,
                }
            ],
        },
    }


def external_metric(isvc: Obj, index: int, entry: Obj) -> Obj:
    """An `autoScaling.metrics[index]` entry of type External (`backend: prometheus`) as the HPA
    External metric `prometheus-query`. KServe hands these to KEDA; tidal's HPA evaluates them
    directly: the selector names the InferenceService and the entry, and the external metrics API
    (`tidal.metrics.external_api`) runs the entry's query against its `serverAddress`."""
    ext = entry.get("external") or {}
    target = dict(ext.get("target") or {})
    if not target.get("type"):  # KEDA's threshold is `target.value`
        target["type"] = "AverageValue" if "averageValue" in target else "Value"
    if target["type"] == "Value" and "value" in target:
        target["value"] = str(target["value"])
    if target["type"] == "AverageValue" and "averageValue" in target:
        target["averageValue"] = str(target["averageValue"])
    return {
        "type": "External",
        "external": {
            "metric": {
                "name": KSERVE_EXTERNAL_METRIC,
                "selector": {
                    "matchLabels": {
                        ISVC_LABEL: isvc["metadata"]["name"],
                        METRIC_INDEX_LABEL: str(index),
                    }
                },
            },
            "target": target,
        },
    }


def hpa_metrics(isvc: Obj) -> list[Obj] | None:
    """KServe `getHPAMetrics`: the `autoScaling` Resource metrics, else the legacy `scaleMetric`
    (default cpu) with `scaleTarget` (cpu default 80 %; memory only when a target is set).
    Beyond KServe: `External` entries with `backend: prometheus` become External metrics
    (`external_metric`) instead of being dropped; PodMetric (OpenTelemetry) entries are skipped."""
    p = (isvc.get("spec") or {}).get("predictor") or {}
    auto = p.get("autoScaling") or {}
    if auto.get("metrics"):
        out = []
        for i, m in enumerate(auto["metrics"]):
            if m.get("type") == "External":
                backend = ((m.get("external") or {}).get("metric") or {}).get("backend")
                if backend in (None, "prometheus"):
                    out.append(external_metric(isvc, i, m))
                continue
            if m.get("type") != "Resource":
                continue
            res = m.get("resource") or {}
            target = dict(res.get("target") or {})
            if res.get("name") == "cpu":
                target = {
                    "type": "Utilization",
                    "averageUtilization": target.get("averageUtilization")
                    or DEFAULT_CPU_UTILIZATION,
                }
            out.append(
                {"type": "Resource", "resource": {"name": res.get("name"), "target": target}}
            )
        return out
    metric = p.get("scaleMetric") or "cpu"
    target = p.get("scaleTarget")
    if metric == "cpu":
        util = target or DEFAULT_CPU_UTILIZATION
    elif metric == "memory" and target:
        util = target
    else:
        return []
    return [
        {
            "type": "Resource",
            "resource": {
                "name": metric,
                "target": {"type": "Utilization", "averageUtilization": int(util)},
            },
        }
    ]


def render_hpa(isvc: Obj) -> Obj | None:
    """KServe's HPA `<name>-predictor` (autoscaling/v2), or None when this InferenceService does
    not get one (class `external`/`none`, the KPA, `serving.kserve.io/stop`)."""
    annotations = isvc["metadata"].get("annotations") or {}
    if autoscaler_class(isvc) != "hpa" or uses_kpa(isvc):
        return None
    if annotations.get(STOP_ANNOTATION) == "true":
        return None
    p = (isvc.get("spec") or {}).get("predictor") or {}
    lo = max(int(p.get("minReplicas") or 1), 1)
    hi = max(int(p.get("maxReplicas") or 0), lo)
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": _component_meta(isvc),
        "spec": {
            "scaleTargetRef": {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "name": predictor_name(isvc),
            },
            "minReplicas": lo,
            "maxReplicas": hi,
            "metrics": hpa_metrics(isvc) or [],
            # KServe always sends an empty behavior; the API server fills Kubernetes' defaults
            # (the seed's `Behavior:` block)
            "behavior": {},
        },
    }


def render_custom_metric_hpa(
    name: str, namespace: str, metric: str, target: int, min_replicas: int, max_replicas: int
) -> Obj:
    """arena's separate HPA `<name>-hpa` for a `--scale-metric` other than cpu, memory, rps,
    concurrency (charts/kserve: a Pods metric, `target.type: Utilization` + `averageValue`)."""
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": f"{name}-hpa", "namespace": namespace},
        "spec": {
            "scaleTargetRef": {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "name": f"{name}-predictor",
            },
            "minReplicas": min_replicas,
            "maxReplicas": max_replicas,
            "metrics": [
                {
                    "type": "Pods",
                    "pods": {
                        "metric": {"name": metric},
                        "target": {"type": "Utilization", "averageValue": str(target)},
                    },
                }
            ],
        },
    }


def covers(have: Any, want: Any) -> bool:
    """True when `have` holds everything `want` says (defaults the server added are ignored)."""
    if isinstance(want, dict):
        return isinstance(have, dict) and all(covers(have.get(k), v) for k, v in want.items())
    if isinstance(want, list):
        return (
            isinstance(have, list)
            and len(have) == len(want)
            and all(covers(h, w) for h, w in zip(have, want, strict=True))
        )
    if isinstance(want, int | float) and isinstance(have, str):
        return str(want) == have
    return have == want


def spec_differs(have: Obj, want: Obj, keys: Iterable[str]) -> bool:
    return any(not covers(have.get(k), want.get(k)) for k in keys)
