"""ServingRuntime / ClusterServingRuntime selection as KServe's predictor reconciler does it
(`reconcileModel`, `GetSupportingRuntimes`, `RuntimeSupportsModel`), the built-in cluster
runtimes tidal installs at `tidal up`, and how an upgrade treats a user's edits to them.

Selection (KServe's rules, `pkg/apis/serving/v1beta1/predictor_model.go`):
- `spec.predictor.model.runtime` set: that ServingRuntime in the namespace, else that
  ClusterServingRuntime; it must be enabled, support the protocol, and list the model format
  (autoSelect does not matter when named).
- not set: runtimes that are enabled, support the protocol (`protocolVersion`, default v1) and
  list the format with `autoSelect: true` (name, or `name:version` when the model gives a version);
  the namespace's ServingRuntimes come before the ClusterServingRuntimes; within each, ordered by
  lowest protocol supported, newest first, name; then (stable) by the format's `priority`,
  highest first, a runtime with a priority before one without.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

Obj = dict[str, Any]

GROUP_VERSION = "serving.kserve.io/v1alpha1"
PROTOCOL_ORDER = {"v1": 1, "v2": 2, "grpc-v1": 3, "grpc-v2": 4}  # KServe's ProtocolVersion ints
UNKNOWN_PROTOCOL = 5
LEGACY_FORMATS = ("sklearn", "xgboost", "lightgbm", "huggingface")

# KServe's FailureReason values and the messages of `reconcileModel`
RUNTIME_NOT_RECOGNIZED = "RuntimeNotRecognized"
RUNTIME_DISABLED = "RuntimeDisabled"
NO_SUPPORTING_RUNTIME = "NoSupportingRuntime"


@dataclass(frozen=True, slots=True)
class Selected:
    """The runtime that serves the model."""

    name: str
    cluster: bool  # a ClusterServingRuntime (else a namespace ServingRuntime)
    spec: Obj


@dataclass(frozen=True, slots=True)
class NoRuntime:
    """Why no runtime serves it: KServe's `lastFailureInfo` (reason, message) and the error its
    reconciler returns (the InternalError event's text)."""

    reason: str
    message: str
    error: str


def model_spec(isvc: Obj) -> Obj | None:
    """`spec.predictor.model`, or a legacy framework predictor (`sklearn:`, `xgboost:`, ...) as
    KServe converts it (modelFormat = the framework); None for a `containers` predictor."""
    p = (isvc.get("spec") or {}).get("predictor") or {}
    if isinstance(p.get("model"), dict):
        return p["model"]
    for name in LEGACY_FORMATS:
        if isinstance(p.get(name), dict):
            m = dict(p[name])
            m.setdefault("modelFormat", {"name": name})
            return m
    return None


def _protocol(model: Obj) -> str:
    return model.get("protocolVersion") or "v1"


def _formats(spec: Obj) -> list[Obj]:
    return [f for f in spec.get("supportedModelFormats") or [] if isinstance(f, dict)]


def format_label(model: Obj) -> str:
    fmt = model.get("modelFormat") or {}
    if fmt.get("version") is not None:
        return f"mt:{fmt.get('name')}:{fmt.get('version')}"
    return f"mt:{fmt.get('name')}"


def supports_model(model: Obj, spec: Obj, *, named: bool) -> bool:
    """KServe's `RuntimeSupportsModel`: the model's `mt:name[:version]` label is among the
    runtime's format labels (only the autoSelect ones unless the runtime was named)."""
    labels = set()
    for f in _formats(spec):
        if named or f.get("autoSelect") is True:
            labels.add(f"mt:{f.get('name')}")
            if f.get("version") is not None:
                labels.add(f"mt:{f.get('name')}:{f.get('version')}")
    return format_label(model) in labels


def supports_protocol(protocol: str, spec: Obj) -> bool:
    versions = spec.get("protocolVersions") or []
    return not protocol or not versions or protocol in versions


def priority(spec: Obj, format_name: str) -> int | None:
    for f in _formats(spec):
        if f.get("name") == format_name:
            p = f.get("priority")
            return int(p) if isinstance(p, int) and not isinstance(p, bool) else None
    return None


def _protocol_rank(spec: Obj) -> int:
    versions = spec.get("protocolVersions") or []
    if not versions:
        return UNKNOWN_PROTOCOL
    return min(PROTOCOL_ORDER.get(v, UNKNOWN_PROTOCOL) for v in versions)


def _ordered(runtimes: list[Obj], format_name: str) -> list[Obj]:
    """KServe's sortServingRuntimeList then the stable sort by priority."""
    by_name = sorted(runtimes, key=lambda r: r["metadata"].get("name", ""))
    by_time = sorted(
        by_name, key=lambda r: r["metadata"].get("creationTimestamp") or "", reverse=True
    )
    by_protocol = sorted(by_time, key=lambda r: _protocol_rank(r.get("spec") or {}))

    def prio_key(r: Obj) -> tuple[int, int]:
        p = priority(r.get("spec") or {}, format_name)
        return (1, 0) if p is None else (0, -p)

    return sorted(by_protocol, key=prio_key)


def format_text(model: Obj) -> str:
    """The ModelFormat as Go's `%v` prints it: `{xgboost <nil>}` or `{xgboost 2}`."""
    fmt = model.get("modelFormat") or {}
    version = fmt.get("version")
    return f"{{{fmt.get('name')} {'<nil>' if version is None else version}}}"


def select_runtime(
    isvc: Obj, namespaced: list[Obj], cluster: list[Obj]
) -> Selected | NoRuntime | None:
    """The runtime of a `model` predictor; None when the predictor brings its own container
    (`containers`, or a model with a `command`: arena's form)."""
    model = model_spec(isvc)
    if model is None or model.get("command"):
        return None
    protocol = _protocol(model)
    wanted = model.get("runtime")
    if wanted:
        found = next((r for r in namespaced if r["metadata"].get("name") == wanted), None)
        is_cluster = found is None
        if found is None:
            found = next((r for r in cluster if r["metadata"].get("name") == wanted), None)
        if found is None:
            return NoRuntime(
                RUNTIME_NOT_RECOGNIZED,
                "Waiting for runtime to become available",
                f"No ServingRuntimes or ClusterServingRuntimes with the name: {wanted}",
            )
        spec = found.get("spec") or {}
        if spec.get("disabled") is True:
            return NoRuntime(
                RUNTIME_DISABLED,
                "Specified runtime is disabled",
                f"specified runtime {wanted} is disabled",
            )
        if model.get("protocolVersion") and not supports_protocol(protocol, spec):
            return NoRuntime(
                NO_SUPPORTING_RUNTIME,
                "Specified runtime does not support specified protocol version",
                f"specified runtime {wanted} does not support specified protocol version",
            )
        if not supports_model(model, spec, named=True):
            return NoRuntime(
                NO_SUPPORTING_RUNTIME,
                "Specified runtime does not support specified framework/version",
                f"specified runtime {wanted} does not support specified framework/version",
            )
        return Selected(wanted, is_cluster, spec)
    format_name = (model.get("modelFormat") or {}).get("name") or ""

    def usable(r: Obj) -> bool:
        spec = r.get("spec") or {}
        return (
            spec.get("disabled") is not True
            and not spec.get("multiModel")
            and supports_model(model, spec, named=False)
            and supports_protocol(protocol, spec)
        )

    ns_ok = _ordered([r for r in namespaced if usable(r)], format_name)
    cl_ok = _ordered([r for r in cluster if usable(r)], format_name)
    if ns_ok:
        return Selected(ns_ok[0]["metadata"]["name"], False, ns_ok[0].get("spec") or {})
    if cl_ok:
        return Selected(cl_ok[0]["metadata"]["name"], True, cl_ok[0].get("spec") or {})
    return NoRuntime(
        NO_SUPPORTING_RUNTIME,
        "No runtime found to support specified framework/version",
        f"no runtime found to support predictor with model type: {format_text(model)}",
    )


# ---- tidal's built-in ClusterServingRuntimes ------------------------------------------------------
MANAGED_BY = "app.kubernetes.io/managed-by"
BUILTIN_ANNOTATION = "serving.tidal.dev/builtin"


def _runtime(
    name: str, server: str, fmt: str, version: str, extra_args: list[str], protocols: list[str]
) -> Obj:
    """KServe's config/runtimes/kserve-<server>.yaml, with the command tidal runs on this machine
    (`python -m <server>`: the plane's Python is first on a pod's PATH) in place of the image's
    entrypoint. KServe's 1 CPU / 2Gi requests are left out so several models fit one machine."""
    return {
        "apiVersion": GROUP_VERSION,
        "kind": "ClusterServingRuntime",
        "metadata": {
            "name": name,
            "labels": {MANAGED_BY: "tidal"},
            "annotations": {
                "serving.kserve.io/server-type": server,
                BUILTIN_ANNOTATION: "true",
            },
        },
        "spec": {
            "annotations": {
                "prometheus.kserve.io/port": "8080",
                "prometheus.kserve.io/path": "/metrics",
            },
            "supportedModelFormats": [
                {"name": fmt, "version": version, "autoSelect": True, "priority": 1}
            ],
            "protocolVersions": protocols,
            "containers": [
                {
                    "name": "kserve-container",
                    "image": f"kserve/{server}:latest",
                    "command": ["python", "-m", server],
                    "args": ["--model_name={{.Name}}", *extra_args],
                }
            ],
        },
    }


_STORAGE_ARGS = ["--model_dir=/mnt/models", "--http_port=8080"]

BUILTIN_RUNTIMES: tuple[Obj, ...] = (
    _runtime("kserve-sklearnserver", "sklearnserver", "sklearn", "1", _STORAGE_ARGS, ["v1", "v2"]),
    _runtime(
        "kserve-xgbserver",
        "xgbserver",
        "xgboost",
        "2",
        [*_STORAGE_ARGS, "--nthread=1"],
        ["v1", "v2"],
    ),
    _runtime(
        "kserve-lgbserver",
        "lgbserver",
        "lightgbm",
        "4",
        [*_STORAGE_ARGS, "--nthread=1"],
        ["v1", "v2"],
    ),
    _runtime(
        "kserve-huggingfaceserver",
        "huggingfaceserver",
        "huggingface",
        "1",
        [*_STORAGE_ARGS],
        ["v2", "v1"],
    ),
)


def builtin_runtimes() -> list[Obj]:
    return copy.deepcopy(list(BUILTIN_RUNTIMES))


def upgrade(live: Obj | None, builtin: Obj) -> Obj | None:
    """What `tidal up` writes for a built-in runtime, as `helm upgrade` treats a chart's object
    (three-way merge): missing → the chart's object; present → the chart's fields win (a user's
    change to a field the chart sets is reverted) and fields only the user added are kept (say
    `spec.disabled: true`, an extra label). None when nothing would change."""
    if live is None:
        return copy.deepcopy(builtin)
    merged = copy.deepcopy(live)
    for key in ("labels", "annotations"):
        want = builtin["metadata"].get(key) or {}
        if want:
            merged.setdefault("metadata", {}).setdefault(key, {}).update(want)
    merged["spec"] = _merge(live.get("spec") or {}, builtin["spec"])
    if merged == live:
        return None
    return merged


def _merge(live: Any, chart: Any) -> Any:
    if isinstance(live, dict) and isinstance(chart, dict):
        out = dict(live)
        for k, v in chart.items():
            out[k] = _merge(live.get(k), v)
        return out
    return copy.deepcopy(chart)  # scalars and lists: the chart's value
