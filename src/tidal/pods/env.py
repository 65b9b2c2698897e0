"""A container's environment and command line, as the kubelet builds them.

The plane's own environment without its credentials, the pod's downward-API variables, the
service-account variables, `CUDA_VISIBLE_DEVICES`, `envFrom` and `env` (values, ConfigMap/Secret
key references, field references), and Kubernetes' `$(VAR)` expansion of values, command and
args. Pure: the runner fetches the ConfigMaps/Secrets and writes the token first.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tidal.api.client import Obj
from tidal.pods import config

VAR_REF = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)|\$\$")


def expand(text: str, env: dict[str, str]) -> str:
    """Kubernetes' `$(VAR)` expansion; `$$` escapes; unknown references stay as written."""

    def sub(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        return env.get(m.group(1), m.group(0))

    return VAR_REF.sub(sub, text)


def field_ref(pod: Obj, path: str, pod_ip: str, node: str, host_ip: str) -> str:
    """The downward API's `fieldRef`: what Kubernetes gives for `path` ("" where unknown)."""
    meta = pod.get("metadata") or {}
    simple = {
        "metadata.name": meta.get("name", ""),
        "metadata.namespace": meta.get("namespace", ""),
        "metadata.uid": meta.get("uid", ""),
        "spec.nodeName": node,
        "spec.serviceAccountName": (pod.get("spec") or {}).get("serviceAccountName", "default"),
        "status.podIP": pod_ip,
        "status.hostIP": host_ip,
    }
    if path in simple:
        return simple[path]
    m = re.match(r"^metadata\.(labels|annotations)\['(.+)'\]$", path)
    if m:
        return (meta.get(m.group(1)) or {}).get(m.group(2), "")
    return ""


def plane_env(environ: Any, home: Path) -> dict[str, str]:
    """The plane's environment without what leads to its credentials: `TIDAL_HOME`,
    `KUBECONFIG`, and any variable whose value names the home."""
    homes = {str(home).rstrip("/"), str(home.resolve()).rstrip("/")}
    names = re.compile(
        "|".join(rf"(?:^|(?<=[:=,;\s'\"])){re.escape(h)}(?=$|[/:,;\s'\"])" for h in homes if h)
    )
    return {
        k: v
        for k, v in environ.items()
        if k not in ("TIDAL_HOME", "KUBECONFIG") and not names.search(v)
    }


def container_env(
    pod: Obj,
    spec: Obj,
    objects: config.Objects,
    *,
    start: Mapping[str, str],
    pod_ip: str,
    host_ip: str,
    node_name: str,
    work: Path,
    api: tuple[str, str] | None,
    gpus: tuple[str, ...],
    node_has_gpus: bool,
) -> dict[str, str]:
    """The container's environment over `start` (the plane's, or PATH alone); ConfigError when
    a ConfigMap/Secret it names is missing (the kubelet's CreateContainerConfigError). `api`:
    the API's (host, port) for the service-account variables, None where the pod gets none."""
    meta = pod.get("metadata") or {}
    name = meta["name"]
    ns = meta.get("namespace") or "default"
    env: dict[str, str] = dict(start)
    base = {
        "POD_IP": pod_ip,
        "POD_NAME": name,
        "POD_NAMESPACE": ns,
        "NODE_NAME": node_name,
        "HOSTNAME": name,
        "TIDAL_POD_DIR": str(work),
    }
    env.update(base)
    if api is not None:
        host, port = api
        base.update(
            KUBERNETES_SERVICE_HOST=host,
            KUBERNETES_SERVICE_PORT=port,
            KUBERNETES_SERVICE_PORT_HTTPS=port,
            KUBERNETES_PORT=f"tcp://{host}:{port}",
        )
        env.update(base)
    if gpus:
        env["CUDA_VISIBLE_DEVICES"] = ",".join(gpus)
    elif node_has_gpus:
        env["CUDA_VISIBLE_DEVICES"] = ""  # no nvidia.com/gpu request: no GPU, as on a cluster
    own: dict[str, str] = dict(base)
    from_sources = config.env_from(spec.get("envFrom") or [], objects)
    own.update(from_sources)
    env.update(from_sources)
    for e in spec.get("env") or []:
        var = e.get("name")
        if not var:
            continue
        vf = e.get("valueFrom") or {}
        value: str | None
        if "value" in e:
            value = expand(str(e.get("value") or ""), own)
        elif vf.get("configMapKeyRef"):
            value = config.key_ref("ConfigMap", vf["configMapKeyRef"], ns, objects)
        elif vf.get("secretKeyRef"):
            value = config.key_ref("Secret", vf["secretKeyRef"], ns, objects)
        else:
            ref = (vf.get("fieldRef") or {}).get("fieldPath")
            value = field_ref(pod, ref, pod_ip, node_name, host_ip) if ref else ""
        if value is None:  # an optional reference to what is missing: no variable
            continue
        own[var] = value
        env[var] = value
    return env


def argv(spec: Obj, env: dict[str, str]) -> list[str]:
    """The container's command and args with `$(VAR)` expanded (a string command runs in sh)."""
    command = spec.get("command") or []
    args = spec.get("args") or []
    if isinstance(command, str):
        command = ["sh", "-c", command]
    if isinstance(args, str):
        args = [args]
    return [expand(str(a), env) for a in [*command, *args]]
