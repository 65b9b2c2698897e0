"""InferenceService → Deployment, Service and HPA `<name>-predictor`, as KServe's RawDeployment
reconcilers build them, and the InferenceService status (`url`, `address`, conditions).

The renderings are pure functions of the InferenceService (and the ingress domain); the
controller creates what is missing, updates what drifted (never the Deployment's replicas: the
autoscaler owns them, as in KServe), deletes the HPA it owns when it is no longer wanted, and
leaves alone any object of the same name that it does not own (a user's own HPA).
"""

from __future__ import annotations

import copy
import re
import shlex
import sys
import time
from collections.abc import Callable, Iterable
from typing import Any

from tidal.api.client import ApiClient, Obj
from tidal.api.conditions import keep_transition_times
from tidal.api.errors import Conflict, NotFound
from tidal.api.meta import controller_of, owner_reference, rfc3339
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
from tidal.controllers.kpa import render_podautoscaler as render_kpa
from tidal.controllers.loop import Key, Loop, Watch

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
DEFAULT_DOMAIN = "example.com"
DEFAULT_PORT = 8080
DEFAULT_CPU_UTILIZATION = 80  # KServe DefaultCPUUtilization
CONTAINER = "kserve-container"
# the External metric an `autoScaling` External entry renders to (tidal.metrics.external_api)
KSERVE_EXTERNAL_METRIC = "prometheus-query"
_MODEL_ONLY = ("modelFormat", "storageUri", "runtime", "protocolVersion")


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


def _storage_path(uri: str) -> str:
    for prefix in ("file://", "pvc://"):
        if uri.startswith(prefix):
            return uri[len(prefix) :]
    return uri


# ---- pure: the predictor's container --------------------------------------------------------------
def predictor_container(isvc: Obj, *, python: str = sys.executable) -> Obj:
    """The container the pod runs: `containers[0]` as given, or the sklearn runtime for a
    `model` (`modelFormat: sklearn`) / `sklearn` predictor with a local `storageUri`."""
    p = (isvc.get("spec") or {}).get("predictor") or {}
    if p.get("containers"):
        c = copy.deepcopy(p["containers"][0])
        c.setdefault("name", CONTAINER)
        return c
    m = p.get("model") or p.get("sklearn") or {}
    if m.get("command"):  # a model with its own command runs it (arena --model-format + command)
        c = {k: copy.deepcopy(v) for k, v in m.items() if k not in _MODEL_ONLY}
        c["name"] = CONTAINER
        return c
    name = isvc["metadata"]["name"]
    model_dir = _storage_path(m.get("storageUri") or "/mnt/models")
    cmd = (
        f"{shlex.quote(python)} -m sklearnserver --model_name={shlex.quote(name)}"
        f" --model_dir={shlex.quote(model_dir)} --http_port={DEFAULT_PORT}"
    )
    c = {
        "name": CONTAINER,
        "image": m.get("image") or "kserve/sklearnserver:latest",
        "command": ["sh", "-c", cmd],
        "ports": [{"containerPort": DEFAULT_PORT, "protocol": "TCP"}],
    }
    if m.get("resources"):
        c["resources"] = copy.deepcopy(m["resources"])
    if m.get("env"):
        c["env"] = copy.deepcopy(m["env"])
    return c


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


def render_podautoscaler(isvc: Obj) -> Obj | None:
    """The Knative PodAutoscaler of a KPA-scaled InferenceService; None for the others."""
    if not uses_kpa(isvc):
        return None
    return render_kpa(isvc, predictor_name(isvc), isvc["metadata"].get("uid"))


# ---- pure: the objects ----------------------------------------------------------------------------
def render_deployment(isvc: Obj, *, python: str = sys.executable) -> Obj:
    p = (isvc.get("spec") or {}).get("predictor") or {}
    container = predictor_container(isvc, python=python)
    container.setdefault("ports", [{"containerPort": DEFAULT_PORT, "protocol": "TCP"}])
    container = localize_mounts(container, p.get("volumes") or [])
    pod_spec: Obj = {"containers": [container]}
    p_spec = copy.deepcopy(p)
    for key in ("volumes", "nodeSelector", "tolerations", "affinity", "serviceAccountName"):
        if p_spec.get(key):
            pod_spec[key] = p_spec[key]
    meta = _component_meta(isvc)
    template_meta: Obj = {"labels": dict(meta["labels"])}
    if meta.get("annotations"):
        template_meta["annotations"] = dict(meta["annotations"])
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


def render_service(isvc: Obj, domain: str = DEFAULT_DOMAIN) -> Obj:
    meta = _component_meta(isvc)
    name, ns = isvc["metadata"]["name"], meta["namespace"]
    meta.setdefault("annotations", {})[HOSTS_ANNOTATION] = ",".join(hosts(name, ns, domain))
    port = container_port(predictor_container(isvc))
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


def _condition(type_: str, ok: bool, reason: str, message: str) -> Obj:
    c: Obj = {"type": type_, "status": "True" if ok else "False"}
    if not ok:
        c["reason"] = reason
        c["message"] = message
    return c


def render_status(isvc: Obj, deployment: Obj | None, service: Obj | None, domain: str) -> Obj:
    """status: `url` (`http://<name>-<ns>.<domain>`), `address`, IngressReady/PredictorReady/Ready."""
    meta = isvc["metadata"]
    name, ns = meta["name"], meta.get("namespace") or "default"
    dstatus = (deployment or {}).get("status") or {}
    available = next(
        (c for c in dstatus.get("conditions") or [] if c.get("type") == "Available"), None
    )
    predictor_ok = bool(
        deployment is not None
        and dstatus.get("availableReplicas", 0) >= 1
        and (available is None or available.get("status") == "True")
    ) or bool(
        deployment is not None
        and (deployment.get("spec") or {}).get("replicas") == 0
        and uses_kpa(isvc)
    )
    if deployment is None:
        reason, message = "PredictorNotCreated", "Predictor Deployment has not been created yet"
    else:
        reason = (available or {}).get("reason") or "MinimumReplicasUnavailable"
        message = (available or {}).get(
            "message"
        ) or "Deployment does not have minimum availability."
    ingress_ok = service is not None
    url = f"http://{hosts(name, ns, domain)[0]}"
    status: Obj = {
        "url": url,
        "address": {"url": f"http://{predictor_name(isvc)}.{ns}.svc.cluster.local"},
        "components": {"predictor": {"url": f"http://{predictor_name(isvc)}-{ns}.{domain}"}},
        "conditions": [
            _condition("IngressReady", ingress_ok, "ServiceNotCreated", "Service not created"),
            _condition("PredictorReady", predictor_ok, reason, message),
            _condition("Ready", predictor_ok and ingress_ok, reason, message),
        ],
        "deploymentMode": (meta.get("annotations") or {}).get(DEPLOYMENT_MODE, "RawDeployment"),
        "observedGeneration": meta.get("generation", 1),
    }
    return status


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


# ---- the controller -----------------------------------------------------------------------------
def _isvc_of(obj: Obj, _loop: Loop) -> Iterable[Key]:
    ref = controller_of(obj)
    if ref and ref.get("kind") == "InferenceService":
        yield ((obj.get("metadata") or {}).get("namespace") or "default", ref.get("name", ""))


class InferenceServiceController:
    name = "inferenceservice"
    watches = (
        Watch("InferenceService"),
        Watch("Deployment", _isvc_of),
        Watch("Service", _isvc_of),
        Watch("HorizontalPodAutoscaler", _isvc_of),
    )

    def __init__(
        self,
        client: ApiClient,
        *,
        domain: str = DEFAULT_DOMAIN,
        python: str = sys.executable,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self.domain = domain
        self.python = python
        self.clock = clock

    async def reconcile(self, key: Key, loop: Loop) -> float | None:
        ns, name = key
        try:
            isvc = await self.client.get("InferenceService", name, ns)
        except NotFound:
            return None
        if isvc["metadata"].get("deletionTimestamp"):
            return None
        uid = isvc["metadata"].get("uid", "")
        stopped = (isvc["metadata"].get("annotations") or {}).get(STOP_ANNOTATION) == "true"

        deployment = await self._ensure(
            render_deployment(isvc, python=self.python),
            uid,
            keys=("template", "selector", "strategy"),
            absent=stopped,
        )
        if (
            deployment is not None
            and (autoscaler_class(isvc) == "none")
            and (deployment.get("spec") or {}).get("replicas") != initial_replicas(isvc)
        ):
            deployment = await self.client.patch(
                "Deployment",
                deployment["metadata"]["name"],
                {"spec": {"replicas": initial_replicas(isvc)}},
                ns,
            )
        service = await self._ensure(
            render_service(isvc, self.domain), uid, keys=("selector", "ports")
        )
        hpa = render_hpa(isvc)
        await self._ensure(
            hpa
            or {
                "kind": "HorizontalPodAutoscaler",
                "apiVersion": "autoscaling/v2",
                "metadata": {"name": predictor_name(isvc), "namespace": ns},
            },
            uid,
            keys=("scaleTargetRef", "minReplicas", "maxReplicas", "metrics"),
            absent=hpa is None,
        )
        pa = render_podautoscaler(isvc)
        if pa is not None:
            await self._ensure(pa, uid, keys=("scaleTargetRef", "containerConcurrency"))
        status = render_status(isvc, deployment, service, self.domain)
        old = isvc.get("status") or {}
        status["conditions"] = keep_transition_times(
            old.get("conditions"), status["conditions"], rfc3339(self.clock())
        )
        if status != old:
            new = dict(isvc)
            new["status"] = status
            try:
                await self.client.update(new, subresource="status")
            except Conflict:
                return 0.0
        return None

    async def _ensure(
        self, want: Obj, uid: str, *, keys: tuple[str, ...], absent: bool = False
    ) -> Obj | None:
        """Create `want`, update the listed spec keys and the labels/annotations if they drifted,
        or delete it when `absent` — only when this InferenceService controls the object."""
        kind, meta = want["kind"], want["metadata"]
        try:
            have = await self.client.get(kind, meta["name"], meta["namespace"])
        except NotFound:
            have = None
        if have is not None:
            ref = controller_of(have)
            if not ref or ref.get("uid") != uid:
                return have  # not ours (a user-applied HPA, say): leave it alone
        if absent:
            if have is not None:
                try:
                    await self.client.delete(kind, meta["name"], meta["namespace"])
                except NotFound:
                    pass
            return None
        if have is None:
            try:
                return await self.client.create(want)
            except Conflict:
                return await self.client.get(kind, meta["name"], meta["namespace"])
        hmeta = have.get("metadata") or {}
        wanted_ann = {**(hmeta.get("annotations") or {}), **(meta.get("annotations") or {})}
        if (
            spec_differs(have.get("spec") or {}, want["spec"], keys)
            or not covers(hmeta.get("labels") or {}, meta.get("labels") or {})
            or (hmeta.get("annotations") or {}) != wanted_ann
        ):
            new = copy.deepcopy(have)
            for k in keys:
                if k in want["spec"]:
                    new.setdefault("spec", {})[k] = want["spec"][k]
                else:
                    new.get("spec", {}).pop(k, None)
            new["metadata"]["labels"] = {**(hmeta.get("labels") or {}), **meta.get("labels", {})}
            new["metadata"]["annotations"] = wanted_ann
            return await self.client.update(new)
        return have
