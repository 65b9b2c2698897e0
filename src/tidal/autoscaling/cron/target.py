"""What a firing does to its target, and the words the controller says about it.

Targets: any kind with a scale subresource (a Deployment: set replicas, as the original
`ScalePlainRef`), an HPA (the original `ScaleHPA`, PR #45: move the HPA's bounds so that the
schedule and the HPA cooperate), and an InferenceService's predictor Deployment that has an HPA,
which is steered through that HPA (writing the Deployment directly would be undone by the HPA).
Messages are the original controller's, letter for letter, where it has one."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tidal.api.wellknown import ISVC_LABEL

Obj = dict[str, Any]


@dataclass(frozen=True, slots=True)
class HpaStep:
    """The HPA's new bounds and the replicas to give its target (None: leave it to the HPA)."""

    min_replicas: int
    max_replicas: int
    scale_to: int | None


def hpa_step(min_replicas: int, max_replicas: int, current: int, target: int) -> HpaStep:
    """The original's rules in their order (D = target, current = HPA status.currentReplicas):
    D > max raises max; D < min lowers min; current < D raises min to D and scales to D;
    otherwise the replica count is the HPA's business. Nothing is restored afterwards."""
    lo, hi = min_replicas, max_replicas
    if target > hi:
        hi = target
    if target < lo:
        lo = target
    if current < target:  # scale out: the HPA must not take it back below D
        lo = target
        return HpaStep(lo, hi, target)
    return HpaStep(lo, hi, None)


def predictor_hpa(deployment: Obj, hpas: list[Obj]) -> Obj | None:
    """The HPA steering `deployment` when it is an InferenceService's predictor, else None."""
    meta = deployment.get("metadata") or {}
    owned = any(r.get("kind") == "InferenceService" for r in meta.get("ownerReferences") or [])
    if not owned and ISVC_LABEL not in (meta.get("labels") or {}):
        return None
    name = meta.get("name")
    mine = [
        h
        for h in hpas
        if ((h.get("spec") or {}).get("scaleTargetRef") or {}).get("kind") == "Deployment"
        and ((h.get("spec") or {}).get("scaleTargetRef") or {}).get("name") == name
    ]
    # KServe names the HPA after the Deployment; prefer that one, then the oldest by name.
    mine.sort(key=lambda h: (h["metadata"].get("name") != name, h["metadata"].get("name", "")))
    return mine[0] if mine else None


def isvc_of(deployment: Obj) -> str:
    meta = deployment.get("metadata") or {}
    for r in meta.get("ownerReferences") or []:
        if r.get("kind") == "InferenceService":
            return str(r.get("name", ""))
    return str((meta.get("labels") or {}).get(ISVC_LABEL, ""))


# ---- the original's messages ------------------------------------------------------------------
def scaled(current: int, desired: int) -> str:
    return f"current replicas:{current}, desired replicas:{desired}."


def hpa_skipped(hpa: str, namespace: str, current: int, desired: int) -> str:
    return (
        f"Skip scale replicas because HPA {hpa} in namespace {namespace} "
        f"current replicas:{current} >= desired replicas:{desired}."
    )


def excluded(entry: str) -> str:
    return f"skip scaling activity,because of excludeDate ({entry})."


def not_found(kind: str, name: str, namespace: str) -> str:
    return f"failed to find source target {kind} {name} in {namespace} namespace"


def gave_up(kind: str, name: str, namespace: str, size: int, times: int, err: str) -> str:
    return (
        f"failed to scale {kind} {name} in {namespace} namespace to {size} "
        f"after retrying {times} times and exit,because of {err}"
    )


def succeeded(job: str, msg: str) -> str:
    return f"cron hpa job {job} executed successfully. {msg}"


def failed(err: str) -> str:
    return f"cron hpa failed to execute, because of {err}"


def submit_failed(job: str, err: str) -> str:
    return f"Failed to update cron hpa job {job},because of Failed to add job to cronExecutor,because of {err}"


def steered(hpa: str, isvc: str, before: tuple[int, int], after: HpaStep) -> str:
    """tidal's addition to the message when a predictor was steered through its HPA."""
    return (
        f" Steered through HorizontalPodAutoscaler {hpa} of InferenceService {isvc}:"
        f" minReplicas {before[0]}->{after.min_replicas},"
        f" maxReplicas {before[1]}->{after.max_replicas}."
    )
