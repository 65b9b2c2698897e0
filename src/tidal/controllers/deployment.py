"""Deployment → Pods, as the Kubernetes deployment and replica-set controllers do it together.

tidal has no ReplicaSet objects: a Deployment owns its pods directly, and the replica set of
Kubernetes survives as the pod-template-hash (`<deployment>-<hash>` is the name the events give).
Pure parts: the template hash, pod names, the choice of victims on scale-down (not-ready first,
newest first, as `controller.ActivePods`), the rolling-update plan (maxSurge/maxUnavailable) and
the status. The controller gathers the Deployment and its pods, and applies the plan.
"""

from __future__ import annotations

import copy
import math
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import orjson

from tidal.api.client import ApiClient, Obj
from tidal.api.conditions import keep_transition_times
from tidal.api.errors import Conflict, NotFound
from tidal.api.events import make_event
from tidal.api.meta import parse_time, rfc3339
from tidal.controllers.loop import Key, Loop, Watch

COMPONENT = "deployment-controller"
HASH_LABEL = "pod-template-hash"
# Kubernetes' rand.SafeEncodeString alphabet (no vowels, no confusable digits).
ALPHANUMS = "bcdfghjklmnpqrstvwxz2456789"


# ---- pure: names --------------------------------------------------------------------------------
def fnv32a(data: bytes) -> int:
    h = 0x811C9DC5
    for b in data:
        h ^= b
        h = (h * 0x01000193) & 0xFFFFFFFF
    return h


def safe_encode(s: str) -> str:
    return "".join(ALPHANUMS[ord(c) % len(ALPHANUMS)] for c in s)


def template_hash(template: Obj) -> str:
    """The pod-template-hash: FNV-32a of the template, safe-encoded as Kubernetes does."""
    return safe_encode(str(fnv32a(orjson.dumps(template, option=orjson.OPT_SORT_KEYS))))


def pod_suffix(rng: random.Random) -> str:
    """The 5 characters `generateName` appends."""
    return "".join(rng.choice(ALPHANUMS) for _ in range(5))


def pod_name(deployment: str, hash_: str, suffix: str) -> str:
    return f"{deployment}-{hash_}-{suffix}"


# ---- pure: pods as the decisions see them --------------------------------------------------------
@dataclass(frozen=True, slots=True)
class PodView:
    name: str
    hash: str
    phase: str = "Pending"
    ready: bool = False
    ready_since: float | None = None
    created: float = 0.0
    restarts: int = 0
    assigned: bool = True
    terminating: bool = False

    @property
    def active(self) -> bool:
        return not self.terminating and self.phase not in ("Succeeded", "Failed")


def pod_view(pod: Obj) -> PodView:
    meta = pod.get("metadata") or {}
    status = pod.get("status") or {}
    ready_cond = next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"), None)
    ready = bool(ready_cond and ready_cond.get("status") == "True")
    return PodView(
        name=meta.get("name", ""),
        hash=(meta.get("labels") or {}).get(HASH_LABEL, ""),
        phase=status.get("phase") or "Pending",
        ready=ready,
        ready_since=parse_time(ready_cond.get("lastTransitionTime")) if ready else None,
        created=parse_time(meta.get("creationTimestamp")) or 0.0,
        restarts=sum(c.get("restartCount", 0) for c in status.get("containerStatuses") or []),
        assigned=bool((pod.get("spec") or {}).get("nodeName")),
        terminating=bool(meta.get("deletionTimestamp")),
    )


_PHASE_RANK = {"Pending": 0, "Unknown": 1, "Running": 2}


def deletion_rank(p: PodView) -> tuple[Any, ...]:
    """Sort key: smaller is deleted first (kubernetes `controller.ActivePods.Less`): unassigned
    before assigned, Pending < Unknown < Running, not ready before ready, ready for less time
    before longer, more restarts before fewer, newer before older."""
    return (
        p.assigned,
        _PHASE_RANK.get(p.phase, 3),
        p.ready,
        -(p.ready_since or 0.0) if p.ready else 0.0,
        -p.restarts,
        -p.created,
    )


def choose_victims(pods: Iterable[PodView], n: int) -> list[PodView]:
    return sorted(pods, key=deletion_rank)[: max(n, 0)]


def resolve_int_or_percent(value: Any, total: int, *, round_up: bool) -> int:
    if value is None:
        value = "25%"
    if isinstance(value, str) and value.endswith("%"):
        x = int(value[:-1]) * total / 100
        return math.ceil(x) if round_up else math.floor(x)
    return int(value)


@dataclass(frozen=True, slots=True)
class Plan:
    create: int
    delete: tuple[str, ...]
    events: tuple[str, ...]


def plan(
    deployment: str,
    replicas: int,
    new_hash: str,
    pods: Iterable[PodView],
    *,
    max_surge: Any = "25%",
    max_unavailable: Any = "25%",
    recreate: bool = False,
) -> Plan:
    """What to do now: how many pods of the current template to create, which to delete, and the
    `ScalingReplicaSet` messages. A rolling update surges new pods and removes old ones only while
    the minimum availability holds."""
    active = [p for p in pods if p.active]
    new = [p for p in active if p.hash == new_hash]
    old = [p for p in active if p.hash != new_hash]
    create = 0
    delete: list[PodView] = []
    if not old:
        if len(new) < replicas:
            create = replicas - len(new)
        elif len(new) > replicas:
            delete = choose_victims(new, len(new) - replicas)
    elif recreate:
        delete = list(old)
    else:
        surge = resolve_int_or_percent(max_surge, replicas, round_up=True)
        unavailable = resolve_int_or_percent(max_unavailable, replicas, round_up=False)
        if surge == 0 and unavailable == 0:
            surge = 1
        if len(new) > replicas:
            delete = choose_victims(new, len(new) - replicas)
        else:
            create = max(0, min(replicas + surge - len(active), replicas - len(new)))
        min_available = replicas - unavailable
        new_unavailable = sum(1 for p in new if not p.ready)
        budget = len(active) - min_available - new_unavailable
        if budget > 0:
            unhealthy = [p for p in choose_victims(old, len(old)) if not p.ready][:budget]
            delete += unhealthy
            budget -= len(unhealthy)
            ready_total = sum(1 for p in active if p.ready)
            can = min(budget, ready_total - min_available)
            healthy = [p for p in old if p.ready]
            delete += choose_victims(healthy, can)
    events = _events(deployment, new_hash, active, create, delete)
    return Plan(create, tuple(p.name for p in delete), events)


def _events(
    deployment: str, new_hash: str, active: list[PodView], create: int, delete: list[PodView]
) -> tuple[str, ...]:
    counts: dict[str, int] = {}
    for p in active:
        counts[p.hash] = counts.get(p.hash, 0) + 1
    msgs: list[str] = []
    if create:
        before = counts.get(new_hash, 0)
        msgs.append(
            f"Scaled up replica set {deployment}-{new_hash} from {before} to {before + create}"
        )
    removed: dict[str, int] = {}
    for p in delete:
        removed[p.hash] = removed.get(p.hash, 0) + 1
    for h, n in removed.items():
        before = counts[h]
        msgs.append(f"Scaled down replica set {deployment}-{h} from {before} to {before - n}")
    return tuple(msgs)


def render_pod(deployment: Obj, hash_: str, suffix: str) -> Obj:
    """The Pod the Deployment's template describes, owned by the Deployment."""
    meta = deployment["metadata"]
    template = copy.deepcopy(deployment["spec"].get("template") or {})
    tmeta = template.get("metadata") or {}
    labels = dict(tmeta.get("labels") or {})
    labels[HASH_LABEL] = hash_
    pod_meta: Obj = {
        "name": pod_name(meta["name"], hash_, suffix),
        "namespace": meta.get("namespace") or "default",
        "labels": labels,
        "ownerReferences": [
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "name": meta["name"],
                "uid": meta.get("uid", ""),
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ],
    }
    if tmeta.get("annotations"):
        pod_meta["annotations"] = dict(tmeta["annotations"])
    spec = template.get("spec") or {}
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    return {"apiVersion": "v1", "kind": "Pod", "metadata": pod_meta, "spec": spec}


def render_status(deployment: Obj, new_hash: str, pods: Iterable[PodView]) -> Obj:
    """Deployment `status`: replica counts and the Available/Progressing conditions (messages as
    the deployment controller writes them). Transition times are filled by `keep_transition_times`."""
    spec = deployment.get("spec") or {}
    replicas = int(spec.get("replicas", 1))
    unavailable_ok = resolve_int_or_percent(
        ((spec.get("strategy") or {}).get("rollingUpdate") or {}).get("maxUnavailable"),
        replicas,
        round_up=False,
    )
    active = [p for p in pods if p.active]
    updated = sum(1 for p in active if p.hash == new_hash)
    ready = sum(1 for p in active if p.ready)
    rs = f"{deployment['metadata']['name']}-{new_hash}"
    available_ok = ready >= replicas - unavailable_ok
    complete = updated == replicas and len(active) == replicas and ready == replicas
    status: Obj = {
        "observedGeneration": (deployment.get("metadata") or {}).get("generation", 1),
        "replicas": len(active),
        "updatedReplicas": updated,
        "readyReplicas": ready,
        "availableReplicas": ready,
        "conditions": [
            {
                "type": "Available",
                "status": "True" if available_ok else "False",
                "reason": "MinimumReplicasAvailable"
                if available_ok
                else "MinimumReplicasUnavailable",
                "message": "Deployment has minimum availability."
                if available_ok
                else "Deployment does not have minimum availability.",
            },
            {
                "type": "Progressing",
                "status": "True",
                "reason": "NewReplicaSetAvailable" if complete else "ReplicaSetUpdated",
                "message": f'ReplicaSet "{rs}" has successfully progressed.'
                if complete
                else f'ReplicaSet "{rs}" is progressing.',
            },
        ],
    }
    if len(active) - ready > 0:
        status["unavailableReplicas"] = len(active) - ready
    return status


def selector_string(match_labels: dict[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(match_labels.items()))


def owned_by(pod: Obj, uid: str) -> bool:
    return any(
        r.get("uid") == uid and r.get("controller")
        for r in (pod.get("metadata") or {}).get("ownerReferences") or []
    )


# ---- the controller -----------------------------------------------------------------------------
def _owner_keys(pod: Obj, _loop: Loop) -> Iterable[Key]:
    meta = pod.get("metadata") or {}
    for r in meta.get("ownerReferences") or []:
        if r.get("kind") == "Deployment" and r.get("controller"):
            yield (meta.get("namespace") or "default", r.get("name", ""))


class DeploymentController:
    name = "deployment"
    watches = (Watch("Deployment"), Watch("Pod", _owner_keys))

    def __init__(
        self,
        client: ApiClient,
        *,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self.client = client
        self.clock = clock
        self.rng = rng or random.Random()

    async def reconcile(self, key: Key, loop: Loop) -> float | None:
        ns, name = key
        try:
            dep = await self.client.get("Deployment", name, ns)
        except NotFound:
            return None
        meta = dep["metadata"]
        if meta.get("deletionTimestamp"):
            return None
        spec = dep.get("spec") or {}
        selector = (spec.get("selector") or {}).get("matchLabels") or {}
        listed = await self.client.list("Pod", ns, label_selector=selector_string(selector))
        pods = [p for p in listed.get("items", []) if owned_by(p, meta.get("uid", ""))]
        views = [pod_view(p) for p in pods]
        new_hash = template_hash(spec.get("template") or {})
        strategy = spec.get("strategy") or {}
        rolling = strategy.get("rollingUpdate") or {}
        replicas = int(spec.get("replicas", 1))
        p = plan(
            name,
            replicas,
            new_hash,
            views,
            max_surge=rolling.get("maxSurge", "25%"),
            max_unavailable=rolling.get("maxUnavailable", "25%"),
            recreate=strategy.get("type") == "Recreate",
        )
        now = self.clock()
        for msg in p.events:
            await self._event(dep, msg, now)
        for _ in range(p.create):
            await self._create_pod(dep, new_hash)
        for victim in p.delete:
            try:
                await self.client.delete("Pod", victim, ns)
            except NotFound:
                pass
        if p.create or p.delete:
            listed = await self.client.list("Pod", ns, label_selector=selector_string(selector))
            views = [
                pod_view(x) for x in listed.get("items", []) if owned_by(x, meta.get("uid", ""))
            ]
        await self._write_status(dep, render_status(dep, new_hash, views), now)
        rolling_in_progress = any(v.active and v.hash != new_hash for v in views)
        return 1.0 if rolling_in_progress else None

    async def _create_pod(self, dep: Obj, new_hash: str) -> None:
        for _ in range(5):
            pod = render_pod(dep, new_hash, pod_suffix(self.rng))
            try:
                await self.client.create(pod)
                return
            except Conflict:  # AlreadyExists: the random suffix collided
                continue

    async def _event(self, dep: Obj, msg: str, now: float) -> None:
        ev = make_event(dep, "ScalingReplicaSet", msg, now=now, component=COMPONENT)
        await self.client.create(ev)

    async def _write_status(self, dep: Obj, status: Obj, now: float) -> None:
        old = dep.get("status") or {}
        status["conditions"] = keep_transition_times(
            old.get("conditions"), status["conditions"], rfc3339(now), update_time=True
        )
        if status == old:
            return
        new = dict(dep)
        new["status"] = status
        await self.client.update(new, subresource="status")
