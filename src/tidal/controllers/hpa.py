"""The HorizontalPodAutoscaler controller (`horizontal.go`): gathers the target's /scale, its
pods and their metrics, calls the pure `tidal.autoscaling.hpa.decide`, and writes /scale, the
HPA status (only when it changed) and events (`horizontal-pod-autoscaler`).

Sync period: the profile's (15 s in `kubernetes`, 1 s in `fast`), per HPA overridable with the
annotations `autoscaling.tidal.dev/profile` and `autoscaling.tidal.dev/sync-period` (`5s`).
Like Kubernetes, a new HPA or a spec change is processed at once, status-only updates wait for
the period. The recommendation and scale-event history Kubernetes keeps in memory is kept in an
`apps/v1` ControllerRevision `<hpa>-hpa-history` owned by the HPA (deleted with it), so a
restarted plane continues where it stopped; `describe hpa` shows nothing of it.

Over 400 lines on purpose: gathering one HPA's inputs means reading five metric source types
through three metrics APIs with upstream's error texts (`computeReplicasForMetrics`), and
writing its history, status and events; each step is small, none is a separate job.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from tidal.api.client import ApiClient, Obj
from tidal.api.errors import Conflict, Invalid, NotFound, TidalError
from tidal.api.events import make_event
from tidal.api.meta import rfc3339, selector_string
from tidal.api.resources import by_kind
from tidal.api.wellknown import PROFILE_ANNOTATION, SYNC_PERIOD_ANNOTATION
from tidal.autoscaling import profiles
from tidal.autoscaling.hpa import (
    Decision,
    History,
    Inputs,
    MetricData,
    Scale,
    decide,
    default_spec,
    rescale_failed,
)
from tidal.autoscaling.hpa.observe import (
    external_data,
    object_data,
    pod_from_obj,
    pods_data,
    resource_data,
)
from tidal.controllers.loop import Key, Loop, SelectorIndex, Watch

log = logging.getLogger(__name__)

COMPONENT = "horizontal-pod-autoscaler"
KIND = "HorizontalPodAutoscaler"
REVISION_KIND = "ControllerRevision"
REVISION_SUFFIX = "-hpa-history"


def history_data(h: History) -> Obj:
    """The ControllerRevision's `data`: `History.to_dict` with times rounded to the millisecond."""
    d = h.to_dict()
    for key in d:
        d[key] = [[round(a, 3), n] for a, n in d[key]]
    return d


def revision_name(hpa_name: str) -> str:
    return hpa_name + REVISION_SUFFIX


def owner_reference(hpa: Obj) -> Obj:
    meta = hpa.get("metadata") or {}
    return {
        "apiVersion": hpa.get("apiVersion") or "autoscaling/v2",
        "kind": KIND,
        "name": meta.get("name", ""),
        "uid": meta.get("uid", ""),
        "controller": True,
        "blockOwnerDeletion": True,
    }


def owned_by(rev: Obj, hpa: Obj) -> bool:
    """Whether `rev` belongs to this HPA (not to a deleted one of the same name)."""
    uid = (hpa.get("metadata") or {}).get("uid")
    refs = (rev.get("metadata") or {}).get("ownerReferences") or []
    return not uid or any(r.get("uid") == uid and r.get("controller") for r in refs)


def history_from_revision(rev: Obj | None, hpa: Obj) -> History | None:
    """The history in `rev`; None when there is no revision of this HPA."""
    if rev is None or not owned_by(rev, hpa):
        return None
    return History.from_dict(rev.get("data"))


def new_revision(hpa: Obj, data: Obj, revision: int) -> Obj:
    meta = hpa.get("metadata") or {}
    return {
        "apiVersion": "apps/v1",
        "kind": REVISION_KIND,
        "metadata": {
            "name": revision_name(meta.get("name", "")),
            "namespace": meta.get("namespace") or "default",
            "ownerReferences": [owner_reference(hpa)],
        },
        "data": data,
        "revision": revision,
    }


def profile_of(hpa: Obj, default: profiles.Profile) -> tuple[profiles.Profile, float]:
    """The HPA's profile and sync period (annotations win; bad values fall back, logged)."""
    ann = (hpa.get("metadata") or {}).get("annotations") or {}
    prof = default
    if ann.get(PROFILE_ANNOTATION):
        try:
            prof = profiles.get(ann[PROFILE_ANNOTATION])
        except ValueError as exc:
            log.warning("hpa %s: %s", (hpa.get("metadata") or {}).get("name"), exc)
    period = prof.sync_period_s
    if ann.get(SYNC_PERIOD_ANNOTATION):
        try:
            period = profiles.parse_duration(ann[SYNC_PERIOD_ANNOTATION])
        except ValueError as exc:
            log.warning("hpa %s: %s", (hpa.get("metadata") or {}).get("name"), exc)
    return prof, period


class HPAController:
    """Reconciler for `tidal.controllers.loop.Loop`; `sync(hpa)` is one Kubernetes reconcile."""

    name = "hpa"
    watches = (Watch(KIND),)

    def __init__(
        self,
        client: ApiClient,
        *,
        profile: profiles.Profile | str | None = None,
        sync_period_s: float | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self.profile = profile if isinstance(profile, profiles.Profile) else profiles.get(profile)
        if sync_period_s is not None:  # the global setting; the per-HPA annotation still wins
            self.profile = replace(self.profile, sync_period_s=sync_period_s)
        self.clock = clock
        self._last: dict[Key, tuple[float, Any]] = {}  # key -> (last sync, spec then)
        self._events: dict[tuple[Key, str, str, str], tuple[str, int]] = {}
        self._selectors = SelectorIndex()  # the last target selector of each HPA
        self._revisions: dict[Key, Obj] = {}  # our last written history ControllerRevision

    # -- loop entry ------------------------------------------------------------------------------
    async def reconcile(self, key: Key, loop: Loop | None = None) -> float | None:
        ns, name = key
        try:  # fresh, not the informer's copy: our own last status write must be seen
            hpa = await self.client.get(KIND, name, ns)
        except NotFound:
            self.forget(key)
            return None
        _, period = profile_of(hpa, self.profile)
        now = self.clock()
        last = self._last.get(key)
        spec = hpa.get("spec")
        if last is not None and last[1] == spec and now - last[0] < period:
            return period - (now - last[0])  # status-only change: wait for the period
        await self.sync(hpa)
        return period

    def forget(self, key: Key) -> None:
        self._last.pop(key, None)
        self._selectors.remove(key)
        self._revisions.pop(key, None)
        for k in [k for k in self._events if k[0] == key]:
            del self._events[k]

    def due(self, hpa: Obj, now: float) -> bool:
        meta = hpa.get("metadata") or {}
        last = self._last.get((meta.get("namespace") or "default", meta.get("name", "")))
        if last is None or last[1] != hpa.get("spec"):
            return True
        return now - last[0] >= profile_of(hpa, self.profile)[1] - 1e-9

    async def sync_due(self) -> list[tuple[Obj, Decision]]:
        """Sync every HPA whose period has passed (the simulator drives this on virtual time)."""
        now = self.clock()
        done = []
        for hpa in (await self.client.list(KIND)).get("items", []):
            if self.due(hpa, now):
                done.append((hpa, await self.sync(hpa)))
        return done

    # -- one reconcile ---------------------------------------------------------------------------
    async def sync(self, hpa: Obj) -> Decision:
        meta = hpa.get("metadata") or {}
        ns, name = meta.get("namespace") or "default", meta.get("name", "")
        now = self.clock()
        self._last[(ns, name)] = (now, copy.deepcopy(hpa.get("spec")))
        prof, _ = profile_of(hpa, self.profile)
        spec = default_spec(hpa.get("spec") or {})
        ref = spec.get("scaleTargetRef") or {}
        status = hpa.get("status") or {}
        rev = await self._read_revision(hpa)
        stored = history_from_revision(rev, hpa)
        history = stored if stored is not None else History()

        scale_obj: Obj | None = None
        scale_error = None
        try:
            scale_obj = await self.client.get(
                ref.get("kind", ""), ref.get("name", ""), ns, subresource="scale"
            )
        except (TidalError, KeyError) as exc:
            scale_error = str(exc) or type(exc).__name__
        scale = None
        pods: tuple = ()
        metrics: tuple[MetricData, ...] = ()
        selecting: tuple[str, ...] = ()
        if scale_obj is not None:
            scale = Scale(
                int((scale_obj.get("spec") or {}).get("replicas") or 0),
                int((scale_obj.get("status") or {}).get("replicas") or 0),
                (scale_obj.get("status") or {}).get("selector") or None,
            )
            if scale.selector:
                self._selectors.set((ns, name), ns, scale.selector)
                pods, metrics, pod_labels = await self._observe(ns, scale.selector, spec)
                selecting = self._selecting(ns, pod_labels)
        inputs = Inputs(
            now=now,
            spec=spec,
            scale=scale,
            pods=pods,
            metrics=metrics,
            history=history,
            status=status,
            settings=prof.settings,
            scale_error=scale_error,
            namespace=ns,
            selecting_hpas=selecting,
        )
        decision = decide(inputs)
        if decision.rescale and scale_obj is not None:
            err = await self._write_scale(ref, ns, decision.replicas)
            if err is not None:
                decision = rescale_failed(inputs, decision, err)
        for ev in decision.events:
            await self._event(hpa, ev.type, ev.reason, ev.message, now)
        await self._write_status(hpa, decision.status)
        if (
            stored is None
            or not history.seen
            or history_data(decision.history) != history_data(history)
        ):
            await self._write_history(hpa, rev, decision.history)
        return decision

    async def _read_revision(self, hpa: Obj) -> Obj | None:
        """The HPA's history revision: our last write when it is this HPA's, else the API's."""
        meta = hpa.get("metadata") or {}
        key = (meta.get("namespace") or "default", meta.get("name", ""))
        cached = self._revisions.get(key)
        if cached is not None and owned_by(cached, hpa):
            return cached
        try:
            rev = await self.client.get(REVISION_KIND, revision_name(key[1]), key[0])
        except NotFound:
            return None
        except TidalError as exc:
            log.warning("hpa %s/%s: reading history: %s", key[0], key[1], exc)
            return None
        self._revisions[key] = rev
        return rev

    async def _write_history(self, hpa: Obj, rev: Obj | None, history: History) -> bool:
        """Create or update the history ControllerRevision (`revision` + 1 on each write); False
        when it could not be saved.
        NotFound and Conflict re-read and retry; a server that keeps `data` immutable (Kubernetes
        itself) gets the revision replaced instead."""
        meta = hpa.get("metadata") or {}
        ns, name = meta.get("namespace") or "default", meta.get("name", "")
        data = history_data(history)
        for _ in range(4):
            try:
                if rev is None:
                    rev = await self.client.create(new_revision(hpa, data, 1), namespace=ns)
                else:
                    body = copy.deepcopy(rev)
                    body["data"] = data
                    body["revision"] = int(rev.get("revision") or 0) + 1
                    body["metadata"]["ownerReferences"] = [owner_reference(hpa)]
                    try:
                        rev = await self.client.update(body)
                    except Invalid:
                        await self.client.delete(REVISION_KIND, revision_name(name), ns)
                        rev = await self.client.create(
                            new_revision(hpa, data, body["revision"]), namespace=ns
                        )
                self._revisions[(ns, name)] = rev
                return True
            except (Conflict, NotFound):
                self._revisions.pop((ns, name), None)
                try:
                    rev = await self.client.get(REVISION_KIND, revision_name(name), ns)
                except NotFound:
                    rev = None
                except TidalError as exc:
                    log.warning("hpa %s/%s: saving history: %s", ns, name, exc)
                    return False
            except TidalError as exc:
                self._revisions.pop((ns, name), None)
                log.warning("hpa %s/%s: saving history: %s", ns, name, exc)
                return False
        log.warning("hpa %s/%s: saving history: gave up after repeated conflicts", ns, name)
        return False

    def _selecting(self, ns: str, pod_labels: list[dict[str, str]]) -> tuple[str, ...]:
        """HPAs (`ns/name`) whose last known target selector matches any of these pods."""
        found: set[Key] = set()
        for labels in pod_labels:
            found |= self._selectors.matching(ns, labels)
        return tuple(f"{hns}/{hname}" for hns, hname in sorted(found))

    async def _observe(
        self, ns: str, selector: str, spec: Obj
    ) -> tuple[tuple, tuple[MetricData, ...], list[dict[str, str]]]:
        try:
            pod_objs = (await self.client.list("Pod", ns, label_selector=selector)).get("items", [])
        except TidalError as exc:
            log.warning("hpa: listing pods %s: %s", selector, exc)
            pod_objs = []
        pods = tuple(pod_from_obj(p) for p in pod_objs)
        pod_metrics: tuple[list | None, str | None] | None = None
        out: list[MetricData] = []
        for m in spec.get("metrics") or ():
            kind = m.get("type")
            if kind in ("Resource", "ContainerResource"):
                if pod_metrics is None:
                    pod_metrics = await self._raw_items(
                        f"/apis/metrics.k8s.io/v1beta1/namespaces/{ns}/pods",
                        {"labelSelector": selector},
                    )
                src = m.get("resource" if kind == "Resource" else "containerResource") or {}
                container = src.get("container", "") if kind == "ContainerResource" else ""
                out.append(
                    resource_data(pod_metrics[0], src.get("name", ""), container, pod_metrics[1])
                )
            elif kind == "Pods":
                metric = (m.get("pods") or {}).get("metric") or {}
                params = {"labelSelector": selector}
                if metric.get("selector"):
                    params["metricLabelSelector"] = selector_string(metric["selector"])
                body, err = await self._raw(
                    f"/apis/custom.metrics.k8s.io/v1beta2/namespaces/{ns}/pods/*/{metric.get('name', '')}",
                    params,
                )
                out.append(pods_data(body, err))
            elif kind == "Object":
                src = m.get("object") or {}
                metric, obj = src.get("metric") or {}, src.get("describedObject") or {}
                if obj.get("kind") == "Namespace":
                    path = f"/apis/custom.metrics.k8s.io/v1beta2/namespaces/{obj.get('name', '')}/metrics/{metric.get('name', '')}"
                else:
                    try:
                        plural = by_kind(obj.get("kind", "")).plural
                    except KeyError:
                        plural = obj.get("kind", "").lower() + "s"
                    path = f"/apis/custom.metrics.k8s.io/v1beta2/namespaces/{ns}/{plural}/{obj.get('name', '')}/{metric.get('name', '')}"
                params = (
                    {"metricLabelSelector": selector_string(metric["selector"])}
                    if metric.get("selector")
                    else None
                )
                body, err = await self._raw(path, params)
                out.append(object_data(body, err))
            elif kind == "External":
                metric = (m.get("external") or {}).get("metric") or {}
                params = (
                    {"labelSelector": selector_string(metric["selector"])}
                    if metric.get("selector")
                    else None
                )
                body, err = await self._raw(
                    f"/apis/external.metrics.k8s.io/v1beta1/namespaces/{ns}/{metric.get('name', '')}",
                    params,
                )
                out.append(external_data(body, err))
            else:
                out.append(MetricData(error=f"unknown metric source type {kind!r}"))
        labels = [(p.get("metadata") or {}).get("labels") or {} for p in pod_objs]
        return pods, tuple(out), labels

    async def _raw(self, path: str, params: dict[str, str] | None) -> tuple[Obj | None, str | None]:
        try:
            return await self.client.get_raw(path, params=params), None
        except (TidalError, OSError) as exc:
            return None, str(exc) or type(exc).__name__

    async def _raw_items(self, path: str, params: dict[str, str]) -> tuple[list | None, str | None]:
        body, err = await self._raw(path, params)
        return ((body or {}).get("items") if err is None else None), err

    async def _write_scale(self, ref: Obj, ns: str, replicas: int) -> str | None:
        """Set the target's /scale `spec.replicas` (retried on conflict); the error text on failure."""
        for attempt in range(5):
            try:
                await self.client.patch(
                    ref.get("kind", ""),
                    ref.get("name", ""),
                    {"spec": {"replicas": replicas}},
                    ns,
                    subresource="scale",
                )
                return None
            except Conflict as exc:
                if attempt == 4:
                    return str(exc)
            except TidalError as exc:
                return str(exc)
        return "conflict"

    async def _write_status(self, hpa: Obj, status: Obj) -> None:
        """`updateStatusIfNeeded`: nothing is written when the status is unchanged."""
        if status == (hpa.get("status") or {}):
            return
        obj = {**hpa, "status": status}  # a new top level; the API copies what it stores
        meta = hpa.get("metadata") or {}
        for _ in range(3):
            try:
                await self.client.update(obj, subresource="status")
                return
            except Conflict:
                try:
                    fresh = await self.client.get(KIND, meta.get("name", ""), meta.get("namespace"))
                except TidalError:
                    return
                fresh["status"] = status
                obj = fresh
            except TidalError as exc:
                await self._event(hpa, "Warning", "FailedUpdateStatus", str(exc), self.clock())
                return

    async def _event(self, hpa: Obj, type_: str, reason: str, message: str, now: float) -> None:
        """Record an event; a repeat of the same one bumps its count (as the event recorder)."""
        meta = hpa.get("metadata") or {}
        key = ((meta.get("namespace") or "default", meta.get("name", "")), type_, reason, message)
        seen = self._events.get(key)
        if seen is not None:
            name, count = seen
            try:
                await self.client.patch(
                    "Event",
                    name,
                    {"count": count + 1, "lastTimestamp": rfc3339(now)},
                    meta.get("namespace") or "default",
                )
                self._events[key] = (name, count + 1)
                return
            except TidalError:
                pass
        ev = make_event(hpa, reason, message, now=now, component=COMPONENT, type_=type_)
        try:
            await self.client.create(ev)
            self._events[key] = (ev["metadata"]["name"], 1)
        except TidalError as exc:
            log.warning("hpa %s: event %s: %s", meta.get("name"), reason, exc)


async def run(
    client: ApiClient, *, profile: str | None = None, stop: asyncio.Event | None = None
) -> None:
    """Run the controller on its own Loop until `stop` is set (the plane composes it)."""
    controller = HPAController(client, profile=profile)
    loop = Loop(client, controller, resync_s=controller.profile.sync_period_s)
    await loop.start()
    try:
        await (stop or asyncio.Event()).wait()
    finally:
        await loop.stop()
