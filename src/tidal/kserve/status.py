"""The InferenceService's status as KServe's reconcilers write it (`url`, `address`, the
Ready/PredictorReady/IngressReady conditions, `modelStatus` with the model's failure from its
pods), PURE: a function of the InferenceService, its runtime choice, its pods and the domain."""

from __future__ import annotations

from typing import Any

from tidal.api.wellknown import (
    DEPLOYMENT_MODE,
)
from tidal.kserve.container import CONTAINER
from tidal.kserve.render import hosts, predictor_name, uses_kpa
from tidal.kserve.runtimes import NoRuntime, Selected

Obj = dict[str, Any]


def _condition(type_: str, ok: bool, reason: str, message: str) -> Obj:
    c: Obj = {"type": type_, "status": "True" if ok else "False"}
    if not ok:
        c["reason"] = reason
        c["message"] = message
    return c


def last_line(text: str) -> str:
    """The line that says why: a termination message is the end of the log (progress lines,
    then `error: ...`)."""
    lines = [x.strip() for x in text.splitlines() if x.strip()]
    return lines[-1] if lines else ""


def model_failure(pods: list[Obj]) -> Obj | None:
    """KServe's `PropagateModelStatus` for a raw deployment: a predictor pod whose server (or
    storage step) exited with an error gives `lastFailureInfo` {location: the pod, reason
    ModelLoadFailed, message: its termination message, exitCode}. None while nothing failed, or
    once a pod is ready."""
    failed: Obj | None = None
    for pod in sorted(pods, key=lambda p: p["metadata"].get("name", "")):
        for cs in (pod.get("status") or {}).get("containerStatuses") or []:
            if cs.get("name") != CONTAINER:
                continue
            if cs.get("ready"):
                return None
            state = cs.get("state") or {}
            term = state.get("terminated") or (cs.get("lastState") or {}).get("terminated") or {}
            if term and term.get("exitCode", 0) != 0 and failed is None:
                failed = {
                    "location": pod["metadata"].get("name", ""),
                    "reason": "ModelLoadFailed",
                    "message": last_line(term.get("message") or "")
                    or f"container {CONTAINER} exited with code {term.get('exitCode')}",
                    "exitCode": term.get("exitCode"),
                }
    return failed


def render_status(
    isvc: Obj,
    deployment: Obj | None,
    service: Obj | None,
    domain: str,
    runtime: Selected | NoRuntime | None = None,
    pods: list[Obj] | None = None,
) -> Obj:
    """status: `url` (`http://<name>-<ns>.<domain>`), `address`, IngressReady/PredictorReady/Ready,
    the runtime chosen (`clusterServingRuntimeName` / `servingRuntimeName`) and KServe's
    `modelStatus` (transitionStatus, states, lastFailureInfo)."""
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
    failure = None if predictor_ok else model_failure(pods or [])
    if isinstance(runtime, NoRuntime):
        reason, message = runtime.reason, runtime.error
    elif failure is not None:
        reason, message = "ModelLoadFailed", failure["message"]
    elif deployment is None:
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
    if isinstance(runtime, Selected):
        key = "clusterServingRuntimeName" if runtime.cluster else "servingRuntimeName"
        status[key] = runtime.name
    if isinstance(runtime, NoRuntime):
        status["modelStatus"] = {
            "transitionStatus": "InvalidSpec",
            "lastFailureInfo": {"reason": runtime.reason, "message": runtime.message},
        }
    elif failure is not None:
        status["modelStatus"] = {
            "transitionStatus": "BlockedByFailedLoad",
            "states": {"activeModelState": "FailedToLoad", "targetModelState": "FailedToLoad"},
            "lastFailureInfo": failure,
        }
    elif isinstance(runtime, Selected):
        state = "Loaded" if predictor_ok else "Pending"
        status["modelStatus"] = {
            "transitionStatus": "UpToDate" if predictor_ok else "InProgress",
            "states": {"activeModelState": state, "targetModelState": state},
        }
    return status
