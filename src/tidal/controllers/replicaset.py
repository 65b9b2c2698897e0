"""ReplicaSet → Pods, as kubernetes' replicaset controller does it: keep `spec.replicas` active
pods matching the selector and controlled by the ReplicaSet, named `<replicaset>-<5 chars>`.

Pure parts: pods as the decisions see them, the choice of victims on scale-down (not-ready first,
newest first, as `controller.ActivePods`), the diff, the Pod a template renders and the status.
The controller gathers the ReplicaSet and its pods and applies the diff. A ReplicaSet being
deleted is left alone (its pods go with it), as upstream does."""

from __future__ import annotations

import copy
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from tidal.api.client import ApiClient, Obj
from tidal.api.errors import Conflict, NotFound
from tidal.api.events import make_event
from tidal.api.meta import parse_time, selector_string
from tidal.controllers.loop import Key, Loop, Watch, controller_of

COMPONENT = "replicaset-controller"
# Kubernetes' rand.SafeEncodeString alphabet (no vowels, no confusable digits).
ALPHANUMS = "bcdfghjklmnpqrstvwxz2456789"


def pod_suffix(rng: random.Random) -> str:
    """The 5 characters `generateName` appends."""
    return "".join(rng.choice(ALPHANUMS) for _ in range(5))


@dataclass(frozen=True, slots=True)
class PodView:
    name: str
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


def available(p: PodView, min_ready_s: float, now: float) -> bool:
    """`podutil.IsPodAvailable`: ready for at least minReadySeconds."""
    if not p.ready:
        return False
    return min_ready_s <= 0 or (p.ready_since is not None and p.ready_since + min_ready_s <= now)


@dataclass(frozen=True, slots=True)
class Diff:
    create: int
    delete: tuple[str, ...]


def diff(replicas: int, pods: Iterable[PodView]) -> Diff:
    """How many pods to create, or which to delete, to have `replicas` active ones."""
    active = [p for p in pods if p.active]
    if len(active) < replicas:
        return Diff(replicas - len(active), ())
    victims = choose_victims(active, len(active) - replicas)
    return Diff(0, tuple(p.name for p in victims))


def owner_reference(owner: Obj) -> Obj:
    """The controller reference a dependent carries (blockOwnerDeletion, so foreground deletion
    waits for it)."""
    meta = owner["metadata"]
    return {
        "apiVersion": owner.get("apiVersion", "apps/v1"),
        "kind": owner["kind"],
        "name": meta["name"],
        "uid": meta.get("uid", ""),
        "controller": True,
        "blockOwnerDeletion": True,
    }


def render_pod(rs: Obj, suffix: str) -> Obj:
    """The Pod the ReplicaSet's template describes, owned by the ReplicaSet."""
    meta = rs["metadata"]
    template = copy.deepcopy((rs.get("spec") or {}).get("template") or {})
    tmeta = template.get("metadata") or {}
    pod_meta: Obj = {
        "name": f"{meta['name']}-{suffix}",
        "namespace": meta.get("namespace") or "default",
        "labels": dict(tmeta.get("labels") or {}),
        "ownerReferences": [owner_reference(rs)],
    }
    if tmeta.get("annotations"):
        pod_meta["annotations"] = dict(tmeta["annotations"])
    spec = template.get("spec") or {}
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    return {"apiVersion": "v1", "kind": "Pod", "metadata": pod_meta, "spec": spec}


def render_status(rs: Obj, pods: Iterable[PodView], now: float) -> Obj:
    """ReplicaSet `status` (`calculateStatus`): active pods, ready, available."""
    min_ready = float((rs.get("spec") or {}).get("minReadySeconds") or 0)
    active = [p for p in pods if p.active]
    return {
        "replicas": len(active),
        "fullyLabeledReplicas": len(active),
        "readyReplicas": sum(1 for p in active if p.ready),
        "availableReplicas": sum(1 for p in active if available(p, min_ready, now)),
        "observedGeneration": (rs.get("metadata") or {}).get("generation", 1),
    }


def controlled_by(obj: Obj, uid: str) -> bool:
    return any(
        r.get("uid") == uid and r.get("controller")
        for r in (obj.get("metadata") or {}).get("ownerReferences") or []
    )


def orphan(obj: Obj) -> bool:
    """No controller owns it and it is not going away: an owner whose selector matches may
    adopt it (`ControllerRefManager`), as after `delete --cascade=orphan` and a re-create."""
    meta = obj.get("metadata") or {}
    if meta.get("deletionTimestamp"):
        return False
    return not any(r.get("controller") for r in meta.get("ownerReferences") or [])


async def claim(client: ApiClient, owner: Obj, items: Iterable[Obj], selector: str) -> list[Obj]:
    """What `owner` controls among `items` (listed by its non-empty `selector`), orphans
    adopted with a controller reference; nothing is adopted while the owner is being deleted."""
    uid = owner["metadata"].get("uid", "")
    adopt = bool(selector) and not owner["metadata"].get("deletionTimestamp")
    out = []
    for obj in items:
        if controlled_by(obj, uid):
            out.append(obj)
        elif adopt and orphan(obj):
            meta = obj["metadata"]
            refs = [*(meta.get("ownerReferences") or []), owner_reference(owner)]
            try:
                out.append(
                    await client.update({**obj, "metadata": {**meta, "ownerReferences": refs}})
                )
            except (Conflict, NotFound):
                continue  # changed or gone meanwhile: the next reconcile sees it
    return out


# ---- the controller -----------------------------------------------------------------------------
class ReplicaSetController:
    name = "replicaset"
    watches = (Watch("ReplicaSet"), Watch("Pod", controller_of("ReplicaSet")))

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

    async def _pods(self, rs: Obj) -> list[Obj]:
        ns = rs["metadata"].get("namespace") or "default"
        sel = selector_string((rs.get("spec") or {}).get("selector"))
        listed = await self.client.list("Pod", ns, label_selector=sel or None)
        return await claim(self.client, rs, listed.get("items", []), sel)

    async def reconcile(self, key: Key, loop: Loop) -> float | None:
        ns, name = key
        try:
            rs = await self.client.get("ReplicaSet", name, ns)
        except NotFound:
            return None
        views = [pod_view(p) for p in await self._pods(rs)]
        now = self.clock()
        if not rs["metadata"].get("deletionTimestamp"):
            d = diff(int((rs.get("spec") or {}).get("replicas", 1)), views)
            for _ in range(d.create):
                created = await self._create_pod(rs)
                if created:
                    await self._event(rs, "SuccessfulCreate", f"Created pod: {created}", now)
            for victim in d.delete:
                try:
                    await self.client.delete("Pod", victim, ns)
                except NotFound:
                    continue
                await self._event(rs, "SuccessfulDelete", f"Deleted pod: {victim}", now)
            if d.create or d.delete:
                views = [pod_view(p) for p in await self._pods(rs)]
        status = render_status(rs, views, now)
        if status != (rs.get("status") or {}):
            try:
                await self.client.update({**rs, "status": status}, subresource="status")
            except NotFound:
                return None
        min_ready = float((rs.get("spec") or {}).get("minReadySeconds") or 0)
        waiting = [
            v.ready_since + min_ready - now
            for v in views
            if v.active and v.ready and v.ready_since and not available(v, min_ready, now)
        ]
        return max(min(waiting), 0.1) if waiting else None

    async def _create_pod(self, rs: Obj) -> str | None:
        for _ in range(5):
            pod = render_pod(rs, pod_suffix(self.rng))
            try:
                await self.client.create(pod)
                return str(pod["metadata"]["name"])
            except Conflict:  # AlreadyExists: the random suffix collided
                continue
        return None

    async def _event(self, rs: Obj, reason: str, msg: str, now: float) -> None:
        await self.client.create(make_event(rs, reason, msg, now=now, component=COMPONENT))
