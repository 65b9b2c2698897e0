"""`tidal serve kserve|get|list|delete` as arena does them, pure: the flags' validation (arena's
messages), the objects arena's kserve chart renders (an InferenceService, and for a custom
`--scale-metric` the separate HPA `<name>-hpa`), and the `serve get`/`serve list` layouts."""

from __future__ import annotations

import getpass
import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from tidal.api.meta import human_duration, parse_time
from tidal.api.quantity import parse as parse_quantity
from tidal.api.wellknown import AUTOSCALER_CLASS, ISVC_API_VERSION
from tidal.cli.printers import tabwrite
from tidal.kserve.render import render_custom_metric_hpa
from tidal.storage.uri import StorageError
from tidal.storage.uri import parse as parse_storage_uri
from tidal.validation.inferenceservice import default, validate

Obj = dict[str, Any]
BUILTIN_METRICS = ("cpu", "memory", "rps", "concurrency")


class ArgsError(ValueError):
    """A flag arena would refuse; the message is arena's."""


@dataclass(slots=True)
class KServeArgs:
    name: str | None = None
    namespace: str = "default"
    image: str = ""
    cpu: str = ""
    memory: str = ""
    gpus: int = 0
    env: Sequence[str] = ()
    data: Sequence[str] = ()
    port: int = 8080
    min_replicas: int = 1
    max_replicas: int = 0
    scale_metric: str = ""
    scale_target: int = 0
    annotation: Sequence[str] = ()
    label: Sequence[str] = ()
    model_format: str = ""
    storage_uri: str = ""
    runtime: str = ""
    command: Sequence[str] = ()
    shell: str = "sh"
    enable_prometheus: bool = False
    metrics_port: int = 0  # 0: arena's default, the serving port
    username: str = field(default_factory=lambda: _username())


def _username() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def _pairs(items: Sequence[str]) -> dict[str, str]:
    """`k=v` flags; entries without `=` are dropped, as arena's SplitN does."""
    out: dict[str, str] = {}
    for item in items:
        k, sep, v = item.partition("=")
        if sep and k:
            out[k] = v
    return out


def _quantity(flag: str, value: str) -> None:
    if not value:
        return
    try:
        q = parse_quantity(value)
    except (ValueError, TypeError):
        raise ArgsError(f"{flag} is invalid") from None
    if q < 0:
        raise ArgsError(f"{flag} is invalid: must be greater than or equal to 0")


FIELD_FLAGS = {
    "metadata.name": "--name",
    "spec.predictor.minReplicas": "--min-replicas",
    "spec.predictor.maxReplicas": "--max-replicas",
    "spec.predictor.scaleTarget": "--scale-target",
    "spec.predictor.scaleMetric": "--scale-metric",
}


def prometheus_annotations(a: KServeArgs) -> dict[str, str]:
    """arena's `--enable-prometheus` / `--metrics-port` as the `prometheus.io/*` pod annotations
    the local scraper (and a Prometheus' kubernetes_sd relabelling) reads. On a cluster arena
    adds a `<name>-metric-svc` Service and a ServiceMonitor; locally the plane scrapes pods itself."""
    out: dict[str, str] = {}
    if a.enable_prometheus:
        out["prometheus.io/scrape"] = "true"
        out["prometheus.io/path"] = "/metrics"
        out["prometheus.io/port"] = str(a.metrics_port or a.port or 8080)
    elif a.metrics_port:
        out["prometheus.io/port"] = str(a.metrics_port)
    return out


def build(a: KServeArgs, *, cwd: str | None = None) -> list[Obj]:
    """The objects `serve kserve` creates, in order; ArgsError with arena's wording (or the
    KServe rule, naming the flag) when a flag is wrong. Nothing is sent before this passes."""
    if not a.name:
        raise ArgsError('required flag(s) "name" not set')
    if not a.namespace:
        raise ArgsError("not set namespace,please set it")
    if a.gpus < 0:
        raise ArgsError("--gpus is invalid")
    _quantity("--cpu", a.cpu)
    _quantity("--memory", a.memory)
    if a.model_format.count(":") > 1:
        raise ArgsError(f"model format is invalid: {a.model_format}")
    command = " ".join(a.command).strip()
    if not a.model_format and not a.image and not command:
        raise ArgsError("model format and image can not be empty at the same time")
    if not a.model_format and not command:
        raise ArgsError(
            "a command is required (the last argument): locally tidal runs the container's "
            "command on this machine"
        )
    if a.port < 0 or a.port > 65535:
        raise ArgsError("--port is invalid")
    volumes, mounts = [], []
    seen: set[str] = set()
    for i, d in enumerate(a.data):
        src, sep, dst = d.partition(":")
        if not sep or not src or not dst.startswith("/"):
            raise ArgsError(f"dataset {d} has incorrect format, should like data_name:/data0")
        if src in seen:
            raise ArgsError(f"your PVC name: {src} is repeated, please check it")
        seen.add(src)
        path = src if os.path.isabs(src) else os.path.abspath(os.path.join(cwd or ".", src))
        volumes.append({"name": f"data-{i}", "hostPath": {"path": path}})
        mounts.append({"name": f"data-{i}", "mountPath": dst})

    uid = hashlib.md5(a.username.encode(), usedforsecurity=False).hexdigest()
    labels = {
        "app": "kserve",
        "arena.kubeflow.org/uid": uid,
        "chart": "kserve-0.1.0",
        "heritage": "Helm",
        "release": a.name,
        "servingName": a.name,
        "servingType": "kserve",
    }
    labels.update(_pairs(a.label))
    annotations = {"arena.kubeflow.org/username": a.username}
    annotations.update(_pairs(a.annotation))
    if a.metrics_port < 0 or a.metrics_port > 65535:
        raise ArgsError("--metrics-port is invalid")
    annotations.update(prometheus_annotations(a))
    custom = bool(a.scale_metric) and a.scale_metric.lower() not in BUILTIN_METRICS
    if custom:
        annotations[AUTOSCALER_CLASS] = "external"

    resources: Obj = {}
    for key, value in (("cpu", a.cpu), ("memory", a.memory)):
        if value:
            resources.setdefault("requests", {})[key] = value
            resources.setdefault("limits", {})[key] = value
    if a.gpus > 0:
        resources.setdefault("requests", {})["nvidia.com/gpu"] = str(a.gpus)
        resources.setdefault("limits", {})["nvidia.com/gpu"] = str(a.gpus)
    env = [{"name": k, "value": v} for k, v in _pairs(a.env).items()]

    container: Obj = {"name": "kserve-container"}
    if a.image:
        container["image"] = a.image
    if command:
        container["command"] = [a.shell, "-c", command]
    if a.port:
        container["ports"] = [{"containerPort": a.port, "protocol": "TCP"}]
    if env:
        container["env"] = env
    if resources:
        container["resources"] = resources
    if mounts:
        container["volumeMounts"] = mounts

    predictor: Obj = {}
    if not custom:
        predictor["minReplicas"] = a.min_replicas
        if a.max_replicas > 0:
            predictor["maxReplicas"] = a.max_replicas
        if a.scale_target > 0:
            predictor["scaleTarget"] = a.scale_target
        if a.scale_metric:
            predictor["scaleMetric"] = a.scale_metric
    if a.model_format:
        fmt_name, _, fmt_version = a.model_format.partition(":")
        model: Obj = {"modelFormat": {"name": fmt_name}}
        if fmt_version:
            model["modelFormat"]["version"] = fmt_version
        if a.runtime:
            model["runtime"] = a.runtime
        if a.storage_uri:
            model["storageUri"] = storage_uri(a.storage_uri, cwd)
        model.update({k: v for k, v in container.items() if k != "name"})
        predictor["model"] = model
    else:
        predictor["containers"] = [container]
    if volumes:
        predictor["volumes"] = volumes

    isvc = {
        "apiVersion": ISVC_API_VERSION,
        "kind": "InferenceService",
        "metadata": {
            "name": a.name,
            "namespace": a.namespace,
            "labels": labels,
            "annotations": annotations,
        },
        "spec": {"predictor": predictor},
    }
    causes = validate(default(_copy(isvc)))
    if causes:
        c = causes[0]
        flag = FIELD_FLAGS.get(c.field)
        if flag is None and ".resources." in c.field:
            flag = "--" + c.field.rsplit(".", 1)[-1].replace("nvidia.com/gpu", "gpus")
        raise ArgsError(f"{flag or c.field}: {c.message}")
    objs = [isvc]
    if custom:
        lo = max(a.min_replicas, 1)
        objs.append(
            render_custom_metric_hpa(
                a.name,
                a.namespace,
                a.scale_metric,
                a.scale_target,
                lo,
                max(a.max_replicas, lo),
            )
        )
    return objs


def storage_uri(uri: str, cwd: str | None) -> str:
    """`--storage-uri` as KServe's storage initializer reads it (docs/STORAGE.md); a relative
    local path is made absolute (pods run in their own folders). ArgsError for what it cannot
    fetch."""
    try:
        parsed = parse_storage_uri(uri)
    except StorageError as exc:
        raise ArgsError(f"--storage-uri: {exc}") from None
    if parsed.scheme == "" and not os.path.isabs(uri):
        return os.path.abspath(os.path.join(cwd or ".", uri))
    return uri


def _copy(o: Obj) -> Obj:
    import copy

    return copy.deepcopy(o)


def logrus_info(seconds: float, message: str) -> str:
    """logrus' TextFormatter line (`INFO[0002] <message padded to 44> `)."""
    return f"INFO[{int(seconds):04d}] {message:<44} "


def logrus_error(seconds: float, message: str) -> str:
    return f"ERRO[{int(seconds):04d}] {message:<44} "


# ---- serve get / list ---------------------------------------------------------------------------
def pod_status(pod: Obj) -> str:
    """kubectl's STATUS cell: Terminating, a container's waiting/terminated reason, or the phase."""
    meta = pod.get("metadata") or {}
    status = pod.get("status") or {}
    if meta.get("deletionTimestamp"):
        return "Terminating"
    reason = status.get("reason") or status.get("phase") or "Pending"
    for cs in status.get("containerStatuses") or []:
        state = cs.get("state") or {}
        if (state.get("waiting") or {}).get("reason"):
            reason = state["waiting"]["reason"]
        elif (state.get("terminated") or {}).get("reason"):
            reason = state["terminated"]["reason"]
    return reason


def pod_ready(pod: Obj) -> str:
    spec_n = len((pod.get("spec") or {}).get("containers") or []) or 1
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    return f"{sum(1 for c in statuses if c.get('ready'))}/{spec_n}"


def pod_restarts(pod: Obj) -> int:
    return sum(
        c.get("restartCount", 0) for c in (pod.get("status") or {}).get("containerStatuses") or []
    )


def _version(isvc: Obj) -> str:
    rev = (((isvc.get("status") or {}).get("components") or {}).get("predictor") or {}).get(
        "latestCreatedRevision"
    ) or ""
    return rev[-5:]


def _age(obj: Obj, now: float) -> str:
    created = parse_time((obj.get("metadata") or {}).get("creationTimestamp"))
    return short_duration(now - created) if created is not None else ""


def short_duration(seconds: float) -> str:
    """arena's ShortHumanDuration: `Ns`, `Nm`, `Nh`, `Nd`, `Ny`."""
    s = int(seconds)
    if s < 0:
        return "0s"
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m"
    if s < 86400:
        return f"{s // 3600}h"
    if s < 86400 * 365:
        return f"{s // 86400}d"
    return f"{s // (86400 * 365)}y"


def format_serve_get(isvc: Obj, deployments: list[Obj], pods: list[Obj], now: float) -> str:
    """arena's `serve get` wide layout (tabwriter, padding 2)."""
    meta = isvc["metadata"]
    url = (isvc.get("status") or {}).get("url") or ""
    desired = sum((d.get("status") or {}).get("replicas", 0) for d in deployments)
    available = sum((d.get("status") or {}).get("availableReplicas", 0) for d in deployments)
    lines = [
        f"Name:\t{meta['name']}",
        f"Namespace:\t{meta.get('namespace', 'default')}",
        "Type:\tKServe",
        f"Version:\t{_version(isvc)}",
        f"Desired:\t{desired}",
        f"Available:\t{available}",
        f"Age:\t{_age(isvc, now)}",
        f"Address:\t{url}",
        f"Port:\t{':80' if url else ''}",
    ]
    gpus = sum(
        int(((c.get("resources") or {}).get("limits") or {}).get("nvidia.com/gpu", 0) or 0)
        for p in pods
        for c in (p.get("spec") or {}).get("containers") or []
    )
    if gpus:
        lines.append(f"GPU:        {gpus}")
    lines += ["", "", "Instances:"]
    header = ["NAME", "STATUS", "AGE", "READY", "RESTARTS"] + (["GPU"] if gpus else []) + ["NODE"]
    lines.append("  " + "\t".join(header))
    lines.append("  " + "\t".join("-" * len(h) for h in header))
    for p in sorted(pods, key=lambda p: p["metadata"]["name"]):
        row = [
            p["metadata"]["name"],
            pod_status(p),
            _age(p, now),
            pod_ready(p),
            str(pod_restarts(p)),
        ]
        if gpus:
            row.append(
                str(
                    sum(
                        int(
                            ((c.get("resources") or {}).get("limits") or {}).get(
                                "nvidia.com/gpu", 0
                            )
                            or 0
                        )
                        for c in (p.get("spec") or {}).get("containers") or []
                    )
                )
            )
        row.append((p.get("spec") or {}).get("nodeName") or "N/A")
        lines.append("  " + "\t".join(row))
    return tabwrite("\n".join(lines) + "\n\n")


def format_serve_list(
    isvcs: list[Obj], deployments: dict[str, list[Obj]], *, all_namespaces: bool = False
) -> str:
    header = ["NAME", "TYPE", "VERSION", "DESIRED", "AVAILABLE", "ADDRESS", "PORTS"]
    if all_namespaces:
        header.insert(0, "NAMESPACE")
    lines = ["\t".join(header)]
    for isvc in isvcs:
        meta = isvc["metadata"]
        deps = deployments.get(meta["name"], [])
        url = (isvc.get("status") or {}).get("url") or ""
        row = [
            meta["name"],
            "KServe",
            _version(isvc),
            str(sum((d.get("status") or {}).get("replicas", 0) for d in deps)),
            str(sum((d.get("status") or {}).get("availableReplicas", 0) for d in deps)),
            url,
            ":80" if url else "N/A",
        ]
        if all_namespaces:
            row.insert(0, meta.get("namespace", "default"))
        lines.append("\t".join(row))
    return tabwrite("\n".join(lines) + "\n")


__all__ = [
    "ArgsError",
    "KServeArgs",
    "build",
    "format_serve_get",
    "format_serve_list",
    "human_duration",
    "logrus_error",
    "logrus_info",
]
