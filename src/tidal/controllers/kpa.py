"""The KPA controller: Knative's Pod Autoscaler for PodAutoscalers of class
`kpa.autoscaling.knative.dev`, with the router as activator.

Per PodAutoscaler it keeps what Knative's autoscaler process keeps in memory — the four 1 s
bucket windows fed from the router's request stats and the Scale state (panic mode, the
scale-down-delay window) — and on every reconcile (every 2 s, Knative's tick, or at once after
`poke`) it gathers inputs, calls the pure decisions in `tidal.autoscaling.kpa` and applies their
outputs: the Deployment's `/scale` and the PodAutoscaler's status (DesiredScale, ActualScale,
Active with Knative's reasons). Nothing is decided here.

Naming: the PodAutoscaler's `spec.scaleTargetRef` names the Deployment; the router service whose
requests it scales on is `status.serviceName`, else the PodAutoscaler's own name.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

from tidal.api import gotime
from tidal.api.client import ApiClient, Obj
from tidal.api.conditions import keep_transition_times
from tidal.api.errors import Conflict, NotFound
from tidal.api.meta import rfc3339
from tidal.api.wellknown import ISVC_API_VERSION, ISVC_LABEL, KNATIVE_CLASS, POKE_ANNOTATION
from tidal.autoscaling.kpa import autoscaler as asc
from tidal.autoscaling.kpa import scaler
from tidal.autoscaling.kpa.collector import Stat, Windows
from tidal.autoscaling.kpa.config import KPA, TICK_INTERVAL, Config
from tidal.autoscaling.kpa.decider import DeciderSpec, MetricSpec, make_decider, make_metric
from tidal.autoscaling.kpa.podautoscaler import from_object
from tidal.autoscaling.kpa.status import Status, compute_status, sks_mode
from tidal.controllers.loop import Key, Loop, Watch
from tidal.metrics.requests import Load, RequestStats

log = logging.getLogger(__name__)
TICK_S = TICK_INTERVAL / gotime.SECOND
ROUTER_KEEPS_S = 60  # seconds of 1 s buckets the router keeps (tidal/router/stats.py)
CLASS_ANNOTATION = KNATIVE_CLASS
POKE_FRESH_S = 30.0  # an older poke stamp (read after a restart, say) is history, not a request

# (namespace, service) -> "a pod of it is reachable through the router now" (Knative's probe).
RouterProbe = Callable[[str, str], tuple[bool, str | None]]


def _always_reachable(_ns: str, _svc: str) -> tuple[bool, str | None]:
    """tidal's router holds any service's requests while it has no ready pod."""
    return True, None


@dataclass(slots=True)
class _Decider:
    """Knative's per-revision autoscaler and collector state, held for one PodAutoscaler."""

    metric: MetricSpec
    windows: Windows
    state: asc.AutoscalerState
    want: int = -1
    ebc: int = 0
    last_scale_ns: int | None = None
    fed_until: int = 0  # Unix second of the last router bucket recorded
    proxy_since: int | None = None
    mode: str = "Serve"


def activation_requested(stamp: str | None, seen: str | None, now: float) -> bool:
    """PURE: does the PodAutoscaler's `autoscaling.tidal.dev/activation-requested` stamp (the
    router's poke: the Unix time it held a request) ask for a decision now? Only a stamp not
    seen before and at most POKE_FRESH_S old; an unreadable one never does."""
    if not stamp or stamp == seen:
        return False
    try:
        t = float(stamp)
    except ValueError:
        return False
    return now - t <= POKE_FRESH_S


def service_name(pa_obj: Obj) -> str:
    return str((pa_obj.get("status") or {}).get("serviceName") or pa_obj["metadata"]["name"])


def target_name(pa_obj: Obj) -> str:
    ref = (pa_obj.get("spec") or {}).get("scaleTargetRef") or {}
    return str(ref.get("name") or pa_obj["metadata"]["name"])


def is_kpa(pa_obj: Obj) -> bool:
    anns = (pa_obj.get("metadata") or {}).get("annotations") or {}
    return anns.get(CLASS_ANNOTATION, KPA) == KPA


def _pas_of_deployment(obj: Obj, loop: Loop) -> Iterable[Key]:
    ns = (obj.get("metadata") or {}).get("namespace") or "default"
    name = (obj.get("metadata") or {}).get("name")
    for pa in loop.informer("PodAutoscaler").list(ns):
        if target_name(pa) == name:
            yield (ns, pa["metadata"]["name"])


def render_podautoscaler(isvc: Obj, name: str, uid: str | None = None) -> Obj:
    """The PodAutoscaler for an InferenceService's predictor (PURE), with the annotations
    KServe puts on the Knative revision: min-scale (default 1), max-scale when set, class KPA
    unless given, target from `scaleTarget`, metric from `scaleMetric`; the InferenceService's
    own `autoscaling.knative.dev/*` annotations pass through. `name` is the predictor
    Deployment's (and Service's) name."""
    meta = isvc.get("metadata") or {}
    pred = (isvc.get("spec") or {}).get("predictor") or {}
    anns = {
        k: str(v)
        for k, v in (meta.get("annotations") or {}).items()
        if k.startswith("autoscaling.knative.dev/")
    }
    lo = pred.get("minReplicas")
    anns.setdefault("autoscaling.knative.dev/min-scale", str(1 if lo is None else lo))
    if pred.get("maxReplicas"):
        anns.setdefault("autoscaling.knative.dev/max-scale", str(pred["maxReplicas"]))
    anns.setdefault(CLASS_ANNOTATION, KPA)
    if pred.get("scaleTarget") is not None:
        anns["autoscaling.knative.dev/target"] = str(pred["scaleTarget"])
    if pred.get("scaleMetric") is not None:
        anns["autoscaling.knative.dev/metric"] = str(pred["scaleMetric"])
    out: Obj = {
        "apiVersion": "autoscaling.internal.knative.dev/v1alpha1",
        "kind": "PodAutoscaler",
        "metadata": {
            "name": name,
            "namespace": meta.get("namespace") or "default",
            "labels": {ISVC_LABEL: meta.get("name", "")},
            "annotations": anns,
        },
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "containerConcurrency": int(pred.get("containerConcurrency") or 0),
            "protocolType": "http1",
        },
    }
    if uid:
        out["metadata"]["ownerReferences"] = [
            {
                "apiVersion": isvc.get("apiVersion", ISVC_API_VERSION),
                "kind": "InferenceService",
                "name": meta.get("name", ""),
                "uid": uid,
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ]
    return out


def _cond(ctype: str, status: str, reason: str = "", message: str = "", at: int = 0) -> Obj:
    c: Obj = {"type": ctype, "status": status}
    if at > 0:
        c["lastTransitionTime"] = rfc3339(at / gotime.SECOND)
    if reason:
        c["reason"] = reason
    if message:
        c["message"] = message
    return c


def render_status(old: Obj, st: Status, service: str, generation: int | None) -> Obj:
    """The PodAutoscaler status Knative writes: scales, service names and the Active, Ready,
    ScaleTargetInitialized and SKSReady conditions (Ready follows Active and initialisation)."""
    a = st.active
    now_active = _cond("Active", a.status, a.reason, a.message, a.last_transition)
    sti = _cond("ScaleTargetInitialized", "True" if st.scale_target_initialized else "Unknown")
    if a.status == "False":
        ready = _cond("Ready", "False", a.reason, a.message)
    elif a.status == "Unknown" or not st.scale_target_initialized:
        ready = _cond("Ready", "Unknown", a.reason, a.message)
    else:
        ready = _cond("Ready", "True")
    conditions = keep_transition_times(
        old.get("conditions"),
        [now_active, ready, sti, _cond("SKSReady", "True")],
        now_active.get("lastTransitionTime", ""),  # a new condition dates from the Active one
    )
    out: Obj = dict(old)
    out.update(
        {
            "actualScale": st.actual_scale,
            "serviceName": service,
            "metricsServiceName": service,
            "conditions": conditions,
        }
    )
    if st.desired_scale is not None:
        out["desiredScale"] = st.desired_scale
    if generation is not None:
        out["observedGeneration"] = generation
    return out


class KpaController:
    """Reconciles PodAutoscalers; `poke` starts a scale-from-zero without waiting for a tick."""

    name = "kpa"
    watches = (Watch("PodAutoscaler"), Watch("Deployment", _pas_of_deployment))

    def __init__(
        self,
        client: ApiClient,
        stats: RequestStats,
        *,
        config: Config | None = None,
        clock: Callable[[], float] = time.time,
        progress_deadline_s: float = 600.0,
        probe: RouterProbe = _always_reachable,
    ) -> None:
        self.client = client
        self.stats = stats
        self.config = config or Config()
        self.clock = clock
        self.progress_deadline = int(progress_deadline_s * gotime.SECOND)
        self.probe = probe
        self.deciders: dict[Key, _Decider] = {}
        self._pokes: set[Key] = set()
        self._stamps: dict[Key, str] = {}  # the last poke stamp read per PodAutoscaler
        self._services: dict[Key, tuple[str, str]] = {}  # PA -> (router service, Deployment)
        self._loop: Loop | None = None

    # --- the activator's entry point -----------------------------------------------------------

    def poke(self, namespace: str, service: str) -> bool:
        """A request is waiting for `service`: decide now (Knative's Poke) — the PodAutoscaler is
        queued at once and its next reconcile takes a decision whatever the tick. True when a
        PodAutoscaler this controller has reconciled scales that service."""
        keys = [k for k, svc in self._services.items() if k[0] == namespace and service in svc]
        for key in keys:
            self._pokes.add(key)
            if self._loop is not None:
                self._loop.enqueue(key)
        return bool(keys)

    # --- reconcile -------------------------------------------------------------------------------

    async def reconcile(self, key: Key, loop: Loop | None = None) -> float | None:
        if loop is not None:
            self._loop = loop
        ns, name = key
        try:
            obj = await self.client.get("PodAutoscaler", name, ns)
        except NotFound:
            self._forget(key)
            return None
        if not is_kpa(obj) or (obj.get("metadata") or {}).get("deletionTimestamp"):
            self._forget(key)
            return None
        now = self.clock()
        now_ns = int(now * gotime.SECOND)
        pa = from_object(obj)
        cfg = self.config
        spec = make_decider(pa, cfg)
        service = service_name(obj)
        self._services[key] = (service, target_name(obj))
        metric = make_metric(pa, cfg, service)
        ready, current = await self._scale_target(ns, target_name(obj))
        d = self._decider(key, spec, metric, ready, now_ns)
        load = (await self.stats.snapshot()).service(ns, service)
        stamp = ((obj.get("metadata") or {}).get("annotations") or {}).get(POKE_ANNOTATION)
        poked = key in self._pokes or activation_requested(stamp, self._stamps.get(key), now)
        if stamp:
            self._stamps[key] = stamp
        self._pokes.discard(key)
        self._feed(d, load, now, poked)

        if poked or d.last_scale_ns is None or now_ns - d.last_scale_ns >= TICK_INTERVAL:
            observed = d.windows.observed(spec.scaling_metric, now_ns)
            result, d.state = asc.scale(spec, d.state, ready, observed, now_ns)
            d.last_scale_ns = now_ns
            if result.valid:
                d.want, d.ebc = result.desired, result.excess_burst_capacity

        # The ServerlessService as the last reconcile left it decides the timing; its new mode
        # follows from what is wanted now (Knative's order).
        sks = scaler.SKS(d.mode, d.proxy_since)  # type: ignore[arg-type]
        outcome = scaler.scale(
            pa,
            sks,
            d.want,
            current,
            cfg,
            now_ns,
            lambda: self.probe(ns, service),
            progress_deadline=self.progress_deadline,
        )
        mode = sks_mode(outcome.desired_scale, d.ebc, pa)
        if mode != d.mode:
            d.mode = mode
            d.proxy_since = now_ns if mode == "Proxy" else None
        if outcome.patch_to is not None and current is not None:
            await self._apply_scale(ns, target_name(obj), outcome.patch_to)
        st = compute_status(pa, outcome.desired_scale, ready, cfg, now_ns, has_service=True)
        await self._write_status(obj, st, service)

        after = [TICK_S, *(r / gotime.SECOND for r in outcome.requeue_after)]
        if outcome.start_async_probe:
            after.append(scaler.REENQUEUE_PERIOD / gotime.SECOND)
        return max(min(after), 0.05)

    def _forget(self, key: Key) -> None:
        self.deciders.pop(key, None)
        self._services.pop(key, None)
        self._pokes.discard(key)
        self._stamps.pop(key, None)

    def _decider(
        self, key: Key, spec: DeciderSpec, metric: MetricSpec, ready: int, now_ns: int
    ) -> _Decider:
        d = self.deciders.get(key)
        if d is None:
            d = _Decider(metric, Windows.new(metric), asc.new_state(spec, ready, now_ns))
            d.ebc = int(asc.initial_ebc(spec))
            self.deciders[key] = d
        elif d.metric != metric:
            w = d.windows
            d.windows = replace(
                w,
                stable_concurrency=w.stable_concurrency.resize(metric.stable_window, now_ns),
                panic_concurrency=w.panic_concurrency.resize(metric.panic_window, now_ns),
                stable_rps=w.stable_rps.resize(metric.stable_window, now_ns),
                panic_rps=w.panic_rps.resize(metric.panic_window, now_ns),
            )
            d.metric = metric
        return d

    @staticmethod
    def _feed(d: _Decider, load: Load | None, now: float, poked: bool) -> None:
        """Record every completed second since the last one recorded: the router's bucket, or 0
        for a second it saw nothing in flight (a queue-proxy reports those zeros too). On a
        poke, also what is in flight (or held) right now, so scale-from-zero does not wait for
        the second to end. A router that does not report the service records nothing."""
        if load is not None:
            by_t = {b.t: b for b in load.buckets}
            last_done = int(now) - 1
            if d.fed_until:
                first = max(d.fed_until + 1, last_done - ROUTER_KEEPS_S)
            else:  # a new collector starts with what the router still has, not a zero history
                first = min((b.t for b in load.buckets), default=last_done)
                first = max(first, last_done - ROUTER_KEEPS_S)
            for t in range(first, last_done + 1):
                b = by_t.get(t)
                conc, reqs = (b.concurrency, float(b.requests)) if b else (0.0, 0.0)
                d.windows = d.windows.record(Stat(t * gotime.SECOND, conc, reqs))
            d.fed_until = max(d.fed_until, last_done)
        if poked:
            waiting = max(load.in_flight, load.held, 1) if load is not None else 1
            d.windows = d.windows.record(
                Stat(int(now * gotime.SECOND), float(waiting), float(waiting))
            )
            d.fed_until = max(d.fed_until, int(now))

    async def _scale_target(self, ns: str, name: str) -> tuple[int, int | None]:
        """(ready pods, spec.replicas); a missing Deployment has 0 ready pods (NotFound)."""
        try:
            dep = await self.client.get("Deployment", name, ns)
        except NotFound:
            return 0, None
        replicas = (dep.get("spec") or {}).get("replicas")
        ready = int((dep.get("status") or {}).get("readyReplicas") or 0)
        return ready, (1 if replicas is None else int(replicas))

    async def _apply_scale(self, ns: str, name: str, replicas: int) -> None:
        try:
            await self.client.patch(
                "Deployment", name, {"spec": {"replicas": replicas}}, ns, subresource="scale"
            )
        except NotFound:
            log.info("kpa: scale target %s/%s not found", ns, name)

    async def _write_status(self, obj: Obj, st: Status, service: str) -> None:
        old = obj.get("status") or {}
        new = render_status(old, st, service, (obj.get("metadata") or {}).get("generation"))
        if new == old:
            return
        obj = dict(obj)
        obj["status"] = new
        try:
            await self.client.update(obj, subresource="status")
        except (Conflict, NotFound):
            pass  # the next reconcile writes it from the fresh object
