"""Deployment → ReplicaSets, as kubernetes' deployment controller does it: one ReplicaSet per pod
template (`<deployment>-<pod-template-hash>`, labelled with the hash, carrying the revision and
the desired/max replicas annotations, controlled by the Deployment); the ReplicaSet controller
(`tidal.controllers.replicaset`) makes the pods. A rolling update grows the new ReplicaSet and
shrinks the old ones within maxSurge/maxUnavailable; a paused Deployment only scales; old
ReplicaSets scaled to zero are the rollout history (`kubectl rollout history|undo`), trimmed to
`revisionHistoryLimit`.

Pure parts here: the template hash and the ReplicaSet a Deployment renders; the status and its
conditions are in `tidal.controllers.deployment_status`, the arithmetic in
`tidal.controllers.rollout`. The controller gathers the
Deployment and its ReplicaSets and applies the sizes.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterable

import orjson

from tidal.api.client import ApiClient, Obj
from tidal.api.errors import Conflict, NotFound
from tidal.api.events import make_event
from tidal.api.meta import parse_time, selector_string
from tidal.controllers import rollout as ro
from tidal.controllers.deployment_status import render_status, requeue_after
from tidal.controllers.loop import Key, Loop, Watch, controller_of
from tidal.controllers.replicaset import ALPHANUMS, claim, controlled_by, owner_reference

COMPONENT = "deployment-controller"
HASH_LABEL = "pod-template-hash"


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


def without_hash(template: Obj) -> Obj:
    """A template minus the pod-template-hash label (`EqualIgnoreHash`, kubectl's undo)."""
    t = copy.deepcopy(template or {})
    labels = (t.get("metadata") or {}).get("labels")
    if isinstance(labels, dict):
        labels.pop(HASH_LABEL, None)
    return t


def rs_view(rs: Obj) -> ro.RSView:
    meta = rs.get("metadata") or {}
    ann = meta.get("annotations") or {}

    def num(key: str) -> int | None:
        try:
            return int(ann[key])
        except (KeyError, TypeError, ValueError):
            return None

    return ro.RSView(
        name=meta.get("name", ""),
        replicas=int((rs.get("spec") or {}).get("replicas", 0) or 0),
        available=int((rs.get("status") or {}).get("availableReplicas", 0) or 0),
        created=parse_time(meta.get("creationTimestamp")) or 0.0,
        revision=num(ro.REVISION) or 0,
        max_replicas=num(ro.MAX_REPLICAS),
        desired=num(ro.DESIRED_REPLICAS),
    )


def find_new(deployment: Obj, rs_list: Iterable[Obj]) -> Obj | None:
    """The ReplicaSet whose template is the Deployment's (the oldest, if several)."""
    want = without_hash((deployment.get("spec") or {}).get("template") or {})
    same = [rs for rs in rs_list if without_hash((rs.get("spec") or {}).get("template")) == want]
    same.sort(
        key=lambda rs: (rs["metadata"].get("creationTimestamp") or "", rs["metadata"]["name"])
    )
    return same[0] if same else None


def rs_annotations(deployment: Obj, revision: int, surge: int, base: Obj | None = None) -> Obj:
    """What the deployment controller writes on its ReplicaSet: the Deployment's annotations
    (change-cause included, last-applied and its own bookkeeping excluded), the revision, and the
    sizes it was made for."""
    replicas = int((deployment.get("spec") or {}).get("replicas", 1))
    out = dict(base or {})
    for k, v in ((deployment.get("metadata") or {}).get("annotations") or {}).items():
        if k not in ro.SKIP_COPY:
            out[k] = v
    old_rev = out.get(ro.REVISION)
    if not (isinstance(old_rev, str) and old_rev.isdigit() and int(old_rev) >= revision):
        out[ro.REVISION] = str(revision)
    out[ro.DESIRED_REPLICAS] = str(replicas)
    out[ro.MAX_REPLICAS] = str(replicas + surge)
    return out


def render_replicaset(deployment: Obj, replicas: int, revision: int, surge: int) -> Obj:
    """The new ReplicaSet for the Deployment's current template."""
    meta = deployment["metadata"]
    spec = deployment.get("spec") or {}
    template = copy.deepcopy(spec.get("template") or {})
    hash_ = template_hash(template)
    tmeta = template.setdefault("metadata", {})
    tmeta["labels"] = {**(tmeta.get("labels") or {}), HASH_LABEL: hash_}
    selector = copy.deepcopy(spec.get("selector") or {})
    selector["matchLabels"] = {**(selector.get("matchLabels") or {}), HASH_LABEL: hash_}
    rs_spec: Obj = {"replicas": replicas, "selector": selector, "template": template}
    if spec.get("minReadySeconds"):
        rs_spec["minReadySeconds"] = spec["minReadySeconds"]
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": f"{meta['name']}-{hash_}",
            "namespace": meta.get("namespace") or "default",
            "labels": dict(tmeta["labels"]),
            "annotations": rs_annotations(deployment, revision, surge),
            "ownerReferences": [owner_reference(deployment)],
        },
        "spec": rs_spec,
    }


# ---- the controller -----------------------------------------------------------------------------
class DeploymentController:
    name = "deployment"
    watches = (Watch("Deployment"), Watch("ReplicaSet", controller_of("Deployment")))

    def __init__(self, client: ApiClient, *, clock: Callable[[], float] = time.time) -> None:
        self.client = client
        self.clock = clock

    async def reconcile(self, key: Key, loop: Loop) -> float | None:
        ns, name = key
        try:
            dep = await self.client.get("Deployment", name, ns)
        except NotFound:
            return None
        meta = dep["metadata"]
        spec = dep.get("spec") or {}
        sel = selector_string(spec.get("selector"))
        listed = await self.client.list("ReplicaSet", ns, label_selector=sel or None)
        rs_list = await claim(self.client, dep, listed.get("items", []), sel)
        now = self.clock()
        if meta.get("deletionTimestamp"):  # syncStatusOnly
            await self._write_status(dep, rs_list, find_new(dep, rs_list), False, False, now)
            return None
        replicas = int(spec.get("replicas", 1))
        strategy = spec.get("strategy") or {}
        recreate = strategy.get("type") == "Recreate"
        ru = strategy.get("rollingUpdate") or {}
        surge, unavailable = (
            (0, 0)
            if recreate
            else ro.fenceposts(ru.get("maxSurge"), ru.get("maxUnavailable"), replicas)
        )
        new = find_new(dep, rs_list)
        old = [rs for rs in rs_list if rs is not new]
        views = [rs_view(rs) for rs in rs_list]
        created = False
        rollout = not spec.get("paused") and not ro.is_scaling_event(replicas, views)
        if new is not None:
            new = await self._sync_revision(dep, new, old, surge)
        if not rollout:
            # paused, or spec.replicas changed: scale what exists (`sync`), no new ReplicaSet
            sizes = ro.scaled_sizes(
                replicas,
                surge,
                rs_view(new) if new else None,
                [rs_view(rs) for rs in old],
                int((dep.get("status") or {}).get("replicas", 0) or 0),
                rolling=not recreate,
            )
            rs_list = await self._apply_sizes(dep, [*old, *([new] if new else [])], sizes, surge)
        elif recreate:
            rs_list, new, created = await self._recreate(dep, rs_list, new, old)
        else:
            rs_list, new, created = await self._rolling(dep, rs_list, new, old, surge, unavailable)
        new_name = (new or {}).get("metadata", {}).get("name")
        old_views = [rs_view(rs) for rs in rs_list if rs["metadata"]["name"] != new_name]
        for victim in ro.history_victims(old_views, spec.get("revisionHistoryLimit")):
            try:
                await self.client.delete("ReplicaSet", victim, ns)
            except NotFound:
                pass
            rs_list = [rs for rs in rs_list if rs["metadata"]["name"] != victim]
        status = await self._write_status(dep, rs_list, new, created, rollout, now)
        return requeue_after(dep, status, now)

    async def _sync_revision(self, dep: Obj, new: Obj, old: list[Obj], surge: int) -> Obj:
        """The existing new ReplicaSet gets the next revision when an older template returns
        (`rollout undo`), and the Deployment the same revision annotation."""
        revision = ro.next_revision(rs_view(rs) for rs in old)
        meta = new["metadata"]
        ann = meta.get("annotations") or {}
        want = rs_annotations(dep, max(rs_view(new).revision, revision), surge, ann)
        want[ro.DESIRED_REPLICAS] = ann.get(ro.DESIRED_REPLICAS, want[ro.DESIRED_REPLICAS])
        want[ro.MAX_REPLICAS] = ann.get(ro.MAX_REPLICAS, want[ro.MAX_REPLICAS])
        if want != ann:
            new = await self.client.update({**new, "metadata": {**meta, "annotations": want}})
        await self._set_dep_revision(dep, want[ro.REVISION])
        return new

    async def _set_dep_revision(self, dep: Obj, revision: str) -> None:
        ann = dep["metadata"].get("annotations") or {}
        if ann.get(ro.REVISION) != revision:
            patch = {"metadata": {"annotations": {ro.REVISION: revision}}}
            got = await self.client.patch("Deployment", dep["metadata"]["name"], patch,
                                          dep["metadata"].get("namespace"))  # fmt: skip
            dep["metadata"] = got["metadata"]

    async def _ensure_new(
        self, dep: Obj, new: Obj | None, old: list[Obj], replicas: int, surge: int
    ) -> tuple[Obj, bool]:
        if new is not None:
            return new, False
        revision = ro.next_revision(rs_view(rs) for rs in old)
        body = render_replicaset(dep, replicas, revision, surge)
        try:
            created = await self.client.create(body)
        except Conflict:  # a ReplicaSet of that name exists but is not this template's
            created = await self.client.get(
                "ReplicaSet", body["metadata"]["name"], body["metadata"]["namespace"]
            )
            if not controlled_by(created, dep["metadata"].get("uid", "")):
                raise
            return created, False
        await self._set_dep_revision(dep, str(revision))
        if replicas > 0:
            await self._event(dep, ro.scaling_message(body["metadata"]["name"], 0, replicas))
        return created, True

    async def _rolling(
        self,
        dep: Obj,
        rs_list: list[Obj],
        new: Obj | None,
        old: list[Obj],
        surge: int,
        unavailable: int,
    ) -> tuple[list[Obj], Obj | None, bool]:
        replicas = int((dep.get("spec") or {}).get("replicas", 1))
        old_views = [rs_view(rs) for rs in old]
        new_view = rs_view(new) if new is not None else ro.RSView(name="", replicas=0)
        all_views = [*old_views, *([new_view] if new is not None else [])]
        size = ro.new_rs_replicas(replicas, surge, all_views, new_view)
        new, created = await self._ensure_new(dep, new, old, size, surge)
        name = new["metadata"]["name"]
        grown = ro.RSView(name=name, replicas=size, available=new_view.available)
        sizes = {name: size, **ro.old_rs_sizes(replicas, unavailable, old_views, grown)}
        rs_list = await self._apply_sizes(dep, [*old, new], sizes, surge)
        new = next(rs for rs in rs_list if rs["metadata"]["name"] == new["metadata"]["name"])
        return rs_list, new, created

    async def _recreate(
        self, dep: Obj, rs_list: list[Obj], new: Obj | None, old: list[Obj]
    ) -> tuple[list[Obj], Obj | None, bool]:
        replicas = int((dep.get("spec") or {}).get("replicas", 1))
        old = await self._apply_sizes(dep, old, {rs["metadata"]["name"]: 0 for rs in old}, 0)
        if await self._old_pods_running(dep, old):
            return [*old, *([new] if new else [])], new, False
        new, created = await self._ensure_new(dep, new, old, replicas, 0)
        [new] = await self._apply_sizes(dep, [new], {new["metadata"]["name"]: replicas}, 0)
        return [*old, new], new, created

    async def _old_pods_running(self, dep: Obj, old: list[Obj]) -> bool:
        uids = {rs["metadata"].get("uid") for rs in old}
        ns = dep["metadata"].get("namespace") or "default"
        sel = selector_string((dep.get("spec") or {}).get("selector"))
        pods = (await self.client.list("Pod", ns, label_selector=sel or None)).get("items", [])
        return any(
            any(controlled_by(p, u or "") for u in uids)
            and (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")
            for p in pods
        )

    async def _apply_sizes(
        self, dep: Obj, rs_list: list[Obj], sizes: dict[str, int], surge: int
    ) -> list[Obj]:
        """Scale each ReplicaSet to its size (annotations with it), with the event."""
        replicas = int((dep.get("spec") or {}).get("replicas", 1))
        out = []
        for rs in rs_list:
            meta = rs["metadata"]
            before = int((rs.get("spec") or {}).get("replicas", 0) or 0)
            after = sizes.get(meta["name"], before)
            ann = dict(meta.get("annotations") or {})
            want = dict(ann)
            if after != before or after > 0:
                want[ro.DESIRED_REPLICAS] = str(replicas)
                want[ro.MAX_REPLICAS] = str(replicas + surge)
            if after == before and want == ann:
                out.append(rs)
                continue
            body = {
                **rs,
                "metadata": {**meta, "annotations": want},
                "spec": {**(rs.get("spec") or {}), "replicas": after},
            }
            rs = await self.client.update(body)
            out.append(rs)
            if after != before:
                await self._event(dep, ro.scaling_message(meta["name"], before, after))
        return out

    async def _event(self, dep: Obj, msg: str) -> None:
        ev = make_event(dep, "ScalingReplicaSet", msg, now=self.clock(), component=COMPONENT)
        await self.client.create(ev)

    async def _write_status(
        self, dep: Obj, rs_list: list[Obj], new: Obj | None, created: bool, rollout: bool,
        now: float,
    ) -> Obj:  # fmt: skip
        status = render_status(dep, rs_list, new, created=created, rollout=rollout, now=now)
        if status == (dep.get("status") or {}):
            return status
        try:
            fresh = await self.client.get(
                "Deployment", dep["metadata"]["name"], dep["metadata"].get("namespace")
            )
        except NotFound:
            return status
        if fresh["metadata"].get("generation") != dep["metadata"].get("generation"):
            return status  # the spec moved on: the next reconcile sees it
        await self.client.update({**fresh, "status": status}, subresource="status")
        return status
