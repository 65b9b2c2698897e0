"""InferenceService (serving.kserve.io/v1beta1) defaulting and validation, as KServe's webhook and
CRD schema do them, worded as the Kubernetes API words a 422 (see `field.py`).

Defaulting: the local plane's default deployment mode is RawDeployment (as the seed's ACK cluster),
so `serving.kserve.io/deploymentMode: RawDeployment` is added when absent (kept verbatim when set:
the seed's `describe hpa` shows it). Validation: the name (KServe's own rule: a DNS-1035 label that
still fits `<name>-predictor`), one predictor implementation (model or containers), replicas,
scale metric and target, autoscaler class, deployment mode, resource quantities.
"""

from __future__ import annotations

import re
from typing import Any

from tidal.api.errors import Cause
from tidal.api.wellknown import (
    AUTOSCALER_CLASS,
    DEPLOYMENT_MODE,
    KNATIVE_CLASS,
    KPA_CLASS,
    KSERVE_GROUP,
)
from tidal.validation.field import (
    forbidden,
    invalid,
    not_supported,
    quantity,
    required,
)

GROUP = KSERVE_GROUP
DEPLOYMENT_MODES = ("RawDeployment", "Standard", "Serverless", "Knative", "ModelMesh")
AUTOSCALER_CLASSES = ("hpa", "keda", "external", "none")
SCALE_METRICS = ("cpu", "memory", "concurrency", "rps")

ISVC_NAME_FMT = "[a-z]([-a-z0-9]*[a-z0-9])?"
_ISVC_NAME = re.compile(f"^{ISVC_NAME_FMT}$")
# KServe `InvalidISVCNameFormatError`
ISVC_NAME_ERROR = (
    "a InferenceService name must consist of lower case alphanumeric characters or '-', and must "
    'start with alphabetical character. (e.g. "my-name" or "abc-123", regex used for validation '
    f"is '{ISVC_NAME_FMT}')"
)
# `<name>-predictor` must stay a 63-character DNS label (Service and Deployment names).
MAX_NAME = 63 - len("-predictor")


def default(obj: dict[str, Any]) -> dict[str, Any]:
    """Apply KServe's (and the local plane's) defaults; returns the same dict, changed."""
    meta = obj.setdefault("metadata", {})
    annotations = meta.setdefault("annotations", {})
    if DEPLOYMENT_MODE not in annotations:
        annotations[DEPLOYMENT_MODE] = "RawDeployment"
    return obj


def _uses_kpa(obj: dict[str, Any]) -> bool:
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    predictor = (obj.get("spec") or {}).get("predictor") or {}
    return (
        annotations.get(DEPLOYMENT_MODE) in ("Serverless", "Knative")
        or annotations.get(KNATIVE_CLASS) == KPA_CLASS
        or predictor.get("scaleMetric") in ("concurrency", "rps")
    )


def _int_field(field: str, value: Any) -> list[Cause]:
    if value is None or (isinstance(value, int) and not isinstance(value, bool)):
        return []
    return [invalid(field, value, "must be an integer")]


def _resources(field: str, resources: Any) -> list[Cause]:
    causes: list[Cause] = []
    if resources is None:
        return causes
    if not isinstance(resources, dict):
        return [invalid(field, resources, "must be an object")]
    for part in ("requests", "limits"):
        for res, val in (resources.get(part) or {}).items():
            causes += quantity(f"{field}.{part}.{res}", val)
    return causes


def validate(obj: dict[str, Any], old: dict[str, Any] | None = None) -> list[Cause]:
    """The causes of a 422, empty when the object is valid. `old` is the stored object on update."""
    causes: list[Cause] = []
    meta = obj.get("metadata") or {}
    name = meta.get("name")
    if not name:
        causes.append(required("metadata.name", "name or generateName is required"))
    elif not isinstance(name, str) or not _ISVC_NAME.match(name):
        causes.append(invalid("metadata.name", name, ISVC_NAME_ERROR))
    elif len(name) > MAX_NAME:
        causes.append(invalid("metadata.name", name, f"must be no more than {MAX_NAME} characters"))
    annotations = meta.get("annotations") or {}
    mode = annotations.get(DEPLOYMENT_MODE)
    if mode is not None and mode not in DEPLOYMENT_MODES:
        causes.append(
            not_supported(f"metadata.annotations[{DEPLOYMENT_MODE}]", mode, DEPLOYMENT_MODES)
        )
    if old is not None:
        old_mode = ((old.get("metadata") or {}).get("annotations") or {}).get(DEPLOYMENT_MODE)
        if old_mode and mode and _canon(old_mode) != _canon(mode):
            causes.append(
                forbidden(
                    f"metadata.annotations[{DEPLOYMENT_MODE}]",
                    f"update rejected: deploymentMode cannot be changed from {old_mode} to {mode}",
                )
            )
    klass = annotations.get(AUTOSCALER_CLASS)
    if klass is not None and klass not in AUTOSCALER_CLASSES:
        causes.append(
            invalid(
                f"metadata.annotations[{AUTOSCALER_CLASS}]",
                klass,
                f"[{klass}] is not a supported autoscaler class type",
            )
        )

    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return [*causes, required("spec")]
    predictor = spec.get("predictor")
    if not isinstance(predictor, dict):
        return [*causes, required("spec.predictor")]
    causes += _validate_predictor(obj, predictor, klass)
    return causes


def _canon(mode: str) -> str:
    return {"RawDeployment": "Standard", "Serverless": "Knative"}.get(mode, mode)


def _validate_predictor(obj: dict[str, Any], p: dict[str, Any], klass: str | None) -> list[Cause]:
    f = "spec.predictor"
    causes: list[Cause] = []
    impls = [k for k in ("model", "containers", "sklearn") if p.get(k)]
    if len(impls) != 1:
        causes.append(
            invalid(
                f,
                sorted(impls),
                "exactly one of [model, containers, sklearn] must be specified in predictor",
            )
        )
    containers = p.get("containers")
    if containers is not None:
        if not isinstance(containers, list):
            causes.append(invalid(f"{f}.containers", containers, "must be a list"))
        else:
            for i, c in enumerate(containers):
                cf = f"{f}.containers[{i}]"
                if not isinstance(c, dict):
                    causes.append(invalid(cf, c, "must be an object"))
                    continue
                if not c.get("image") and not c.get("command"):
                    causes.append(required(f"{cf}.image"))
                causes += _resources(f"{cf}.resources", c.get("resources"))
                for j, port in enumerate(c.get("ports") or []):
                    cp = port.get("containerPort") if isinstance(port, dict) else port
                    if not isinstance(cp, int) or not 1 <= cp <= 65535:
                        causes.append(
                            invalid(
                                f"{cf}.ports[{j}].containerPort",
                                cp,
                                "must be between 1 and 65535, inclusive",
                            )
                        )
    for key in ("model", "sklearn"):
        m = p.get(key)
        if m is None:
            continue
        if not isinstance(m, dict):
            causes.append(invalid(f"{f}.{key}", m, "must be an object"))
            continue
        if key == "model" and not ((m.get("modelFormat") or {}).get("name")):
            causes.append(required(f"{f}.model.modelFormat.name"))
        causes += _resources(f"{f}.{key}.resources", m.get("resources"))

    lo, hi = p.get("minReplicas"), p.get("maxReplicas")
    causes += _int_field(f"{f}.minReplicas", lo) + _int_field(f"{f}.maxReplicas", hi)
    if isinstance(lo, int) and lo < 0:
        causes.append(invalid(f"{f}.minReplicas", lo, "MinReplicas cannot be less than 0."))
    if isinstance(hi, int) and hi < 0:
        causes.append(invalid(f"{f}.maxReplicas", hi, "MaxReplicas cannot be less than 0."))
    if isinstance(lo, int) and isinstance(hi, int) and hi != 0 and lo > hi:
        causes.append(
            invalid(f"{f}.minReplicas", lo, "'MinReplicas' cannot be greater than MaxReplicas.")
        )
    metric = p.get("scaleMetric")
    if metric is not None and metric not in SCALE_METRICS:
        causes.append(not_supported(f"{f}.scaleMetric", metric, SCALE_METRICS))
    target = p.get("scaleTarget")
    causes += _int_field(f"{f}.scaleTarget", target)
    hpa_path = (klass in (None, "hpa")) and not _uses_kpa(obj)
    if (
        hpa_path
        and (metric in (None, "cpu"))
        and isinstance(target, int)
        and not 1 <= target <= 100
    ):
        causes.append(
            invalid(
                f"{f}.scaleTarget",
                target,
                "the target utilization percentage should be a [1-100] integer",
            )
        )
    if isinstance(target, int) and target < 0:
        causes.append(invalid(f"{f}.scaleTarget", target, "must be greater than or equal to 0"))
    return causes
