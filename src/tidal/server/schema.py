"""Known fields per kind. kube-apiserver drops fields a kind does not have (built-in kinds by
decoding into Go structs, CRDs by structural pruning) and, by the request's `fieldValidation`,
says so: `Warn` (the default) in a `Warning: unknown field "spec.foo"` header, `Strict` with a
400 `strict decoding error: unknown field "spec.foo"`, `Ignore` not at all. `prune` does the
dropping, `FieldCheck` the telling. Only the structure users write is described; free-form maps
(labels, selectors, resources, probes) are `ANY`; kinds without a schema keep every field."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tidal.api import openapi_schemas
from tidal.api.errors import BadRequest

ANY: Any = None


def _obj(*keys: str, **subs: Any) -> dict[str, Any]:
    out: dict[str, Any] = {k: ANY for k in keys}
    out.update(subs)
    return out


CONTAINER = _obj(
    "name", "image", "command", "args", "workingDir", "ports", "envFrom", "env", "resources",
    "resizePolicy", "restartPolicy", "volumeMounts", "volumeDevices", "livenessProbe",
    "readinessProbe", "startupProbe", "lifecycle", "terminationMessagePath",
    "terminationMessagePolicy", "imagePullPolicy", "securityContext", "stdin", "stdinOnce", "tty",
)  # fmt: skip
POD_SPEC = _obj(
    "volumes", "ephemeralContainers", "restartPolicy", "terminationGracePeriodSeconds",
    "activeDeadlineSeconds", "dnsPolicy", "nodeSelector", "serviceAccountName", "serviceAccount",
    "automountServiceAccountToken", "nodeName", "hostNetwork", "hostPID", "hostIPC",
    "shareProcessNamespace", "securityContext", "imagePullSecrets", "hostname", "subdomain",
    "affinity", "schedulerName", "tolerations", "hostAliases", "priorityClassName", "priority",
    "dnsConfig", "readinessGates", "runtimeClassName", "enableServiceLinks", "preemptionPolicy",
    "overhead", "topologySpreadConstraints", "setHostnameAsFQDN", "os", "hostUsers",
    "schedulingGates", "resourceClaims", "resources",
    containers=[CONTAINER], initContainers=[CONTAINER],
)  # fmt: skip
TEMPLATE = _obj("metadata", spec=POD_SPEC)


def from_openapi(schema: dict[str, Any]) -> Any:
    """The known fields of an OpenAPI schema: ANY where it keeps unknown fields or lists none."""
    if schema.get("type") == "array":
        return [from_openapi(schema.get("items") or {})]
    props = schema.get("properties")
    if not props or schema.get("x-kubernetes-preserve-unknown-fields"):
        return ANY
    return {k: from_openapi(v) for k, v in props.items()}


TOP = ("apiVersion", "kind", "metadata", "status")
REF = _obj("apiVersion", "kind", "name")

SCHEMAS: dict[str, dict[str, Any]] = {
    "Pod": _obj(*TOP, spec=POD_SPEC),
    "Deployment": _obj(
        *TOP,
        spec=_obj(
            "replicas",
            "selector",
            "strategy",
            "minReadySeconds",
            "revisionHistoryLimit",
            "paused",
            "progressDeadlineSeconds",
            template=TEMPLATE,
        ),
    ),  # fmt: skip
    "ReplicaSet": _obj(
        *TOP, spec=_obj("replicas", "selector", "minReadySeconds", template=TEMPLATE)
    ),
    "Service": _obj(
        *TOP,
        spec=_obj(
            "ports",
            "selector",
            "clusterIP",
            "clusterIPs",
            "type",
            "externalIPs",
            "sessionAffinity",
            "loadBalancerIP",
            "loadBalancerSourceRanges",
            "externalName",
            "externalTrafficPolicy",
            "healthCheckNodePort",
            "publishNotReadyAddresses",
            "sessionAffinityConfig",
            "ipFamilies",
            "ipFamilyPolicy",
            "allocateLoadBalancerNodePorts",
            "loadBalancerClass",
            "internalTrafficPolicy",
            "trafficDistribution",
        ),
    ),  # fmt: skip
    "Namespace": _obj(*TOP, "spec"),
    "Endpoints": _obj("apiVersion", "kind", "metadata", "subsets"),
    "Event": _obj(
        "apiVersion",
        "kind",
        "metadata",
        "involvedObject",
        "reason",
        "message",
        "source",
        "firstTimestamp",
        "lastTimestamp",
        "count",
        "type",
        "eventTime",
        "series",
        "action",
        "related",
        "reportingComponent",
        "reportingInstance",
    ),  # fmt: skip
    "HorizontalPodAutoscaler": _obj(
        *TOP,
        spec=_obj(
            "minReplicas",
            "maxReplicas",
            scaleTargetRef=REF,
            metrics=[_obj("type", "object", "pods", "resource", "containerResource", "external")],
            behavior=_obj("scaleUp", "scaleDown"),
        ),
    ),
    # tidal's CRD kinds: structural pruning by their OpenAPI schemas (one home)
    "CronHorizontalPodAutoscaler": _obj(*TOP, spec=from_openapi(openapi_schemas.cronhpa_spec())),
    "PredictiveHorizontalPodAutoscaler": _obj(
        *TOP, spec=from_openapi(openapi_schemas.predictive_spec())
    ),
    "InferenceService": _obj(*TOP, spec=_obj("predictor", "explainer", "transformer")),
}


def _walk(schema: Any, value: Any, path: str, out: list[str], *, drop: bool = False) -> None:
    if schema is ANY or value is None:
        return
    if isinstance(schema, list):
        if isinstance(value, list):
            for i, item in enumerate(value):
                _walk(schema[0], item, f"{path}[{i}]", out, drop=drop)
        return
    if not isinstance(value, dict):
        return
    for key, sub in list(value.items()):
        if key.startswith("$") and not drop:
            continue  # strategic-merge directives
        here = f"{path}.{key}" if path else key
        if key not in schema:
            out.append(here)
            if drop:
                del value[key]
        else:
            _walk(schema[key], sub, here, out, drop=drop)


def strict_message(paths: list[str]) -> str:
    return "strict decoding error: " + ", ".join(f'unknown field "{p}"' for p in paths)


def prune(kind: str, obj: Any) -> list[str]:
    """Remove, in place, every field the kind does not have; returns their dotted paths."""
    schema = SCHEMAS.get(kind)
    if schema is None:
        return []
    out: list[str] = []
    _walk(schema, obj, "", out, drop=True)
    return out


@dataclass
class FieldCheck:
    """What a write does with unknown fields (`fieldValidation`), and the warnings it found."""

    mode: str = "Warn"  # Ignore | Warn | Strict
    warnings: list[str] = field(default_factory=list)

    def found(self, paths: list[str]) -> None:
        if self.mode == "Strict":
            raise BadRequest(strict_message(paths))
        if self.mode == "Warn":
            self.warnings.extend(paths)

    def headers(self) -> list[tuple[bytes, bytes]]:
        """`Warning` headers as kube-apiserver writes them (code 299, agent "-")."""
        return [
            (b"warning", f'299 - "unknown field \\"{p}\\""'.encode("utf-8", "replace"))
            for p in self.warnings
        ]
