"""The PredictiveHorizontalPodAutoscaler controller: predictive scaling beside the HPA (as
Alibaba's AHPA does), the same code live (the plane's Loop) and in `tidal simulate`.

Each sync of a PredictiveHorizontalPodAutoscaler it:
1. reads its HPA and turns the HPA's own status (`currentMetrics` against the targets, times
   `currentReplicas`) into one sample of demand, in replicas (`needed_replicas`);
2. adds it to the bounded history (kept in an `apps/v1` ControllerRevision
   `<name>-predictive-history` owned by this object, so a restarted plane keeps its history);
3. forecasts the demand `scaleUpForward + sync period` ahead (`forecast`) and decides the floor
   (`decide_floor`);
4. with `scaleStrategy: auto`, sets the HPA's `spec.minReplicas` to that floor, keeping the HPA's
   own minimum in the HPA annotation `autoscaling.tidal.dev/base-min-replicas` (restored when this
   object is deleted); with `observer`, only reports;
5. writes its status (forecast, demand, floor, reason) and an event when the floor moves.

The HPA stays the only writer of the target's replicas: it takes max(its own proposal, the floor)
and keeps its stabilization and policies (docs/PREDICTIVE.md)."""

from __future__ import annotations

import asyncio
import copy
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from tidal.api.client import ApiClient, Obj
from tidal.api.errors import Conflict, NotFound, TidalError
from tidal.api.events import make_event, rfc3339
from tidal.autoscaling import profiles
from tidal.autoscaling.predictive import (
    FloorDecision,
    Forecast,
    History,
    decide_floor,
    forecast,
    needed_replicas,
    params_of,
    record,
)
from tidal.autoscaling.predictive.spec import KIND
from tidal.controllers.hpa import profile_of
from tidal.controllers.loop import Key, Loop, Watch

log = logging.getLogger(__name__)

COMPONENT = "predictive-horizontal-pod-autoscaler"
HPA_KIND = "HorizontalPodAutoscaler"
REVISION_KIND = "ControllerRevision"
REVISION_SUFFIX = "-predictive-history"
BASE_ANNOTATION = "autoscaling.tidal.dev/base-min-replicas"
MIN_PERIOD_S = 5.0  # at most one forecast (and status write) every 5 s, whatever the HPA's period
HISTORY_WRITE_S = 60.0  # the history revision is saved at most once a minute


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one sync saw and did (the simulator prints it)."""

    hpa: str
    demand: float | None
    forecast: Forecast | None
    decision: FloorDecision | None
    previous_floor: int | None  # the HPA's minReplicas before
    applied: bool  # whether the HPA's minReplicas was set
    reason: str


def _round(x: float) -> float:
    return round(x, 3)


def status_of(
    fc: Forecast | None, dec: FloorDecision | None, demand: float | None, now: float, reason: str
) -> Obj:
    """The object's status: what the forecast saw and the floor it set, and why."""
    st: Obj = {"lastUpdateTime": rfc3339(now), "reason": reason}
    if demand is not None:
        st["demand"] = _round(demand)
    if dec is not None:
        st["baseMinReplicas"] = dec.base
        st["floor"] = dec.floor
    if fc is not None:
        f: Obj = {
            "time": rfc3339(now + fc.ahead_s),
            "aheadSeconds": round(fc.ahead_s, 3),
            "value": _round(fc.value),
            "point": _round(fc.point),
            "level": _round(fc.level),
            "trendPerMinute": _round(fc.trend_per_s * 60),
            "margin": _round(fc.margin),
            "method": fc.method,
            "samples": fc.samples,
        }
        for name, delta in fc.seasonal:
            f[name] = _round(delta)
        st["forecast"] = f
    return st


class PredictiveController:
    """Reconciler for `tidal.controllers.loop.Loop`; `sync(obj)` is one forecast."""

    name = "predictive"
    watches = (Watch(KIND),)

    def __init__(
        self,
        client: ApiClient,
        *,
        profile: profiles.Profile | str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self.profile = profile if isinstance(profile, profiles.Profile) else profiles.get(profile)
        self.clock = clock
        self._history: dict[Key, History] = {}
        self._revisions: dict[Key, Obj] = {}
        self._saved_at: dict[Key, float] = {}
        self._last: dict[Key, float] = {}
        self._hpas: dict[Key, str] = {}  # our object -> the HPA whose floor it set

    # -- loop entry ------------------------------------------------------------------------------
    async def reconcile(self, key: Key, loop: Loop | None = None) -> float | None:
        ns, name = key
        try:
            obj = await self.client.get(KIND, name, ns)
        except NotFound:
            await self.forget(key)
            return None
        now = self.clock()
        period = await self._period(obj)
        last = self._last.get(key)
        if last is not None and now - last < period - 1e-9:
            return period - (now - last)
        await self.sync(obj)
        return period

    async def forget(self, key: Key) -> None:
        """The object is gone: give its HPA back its own minimum."""
        hpa_name = self._hpas.pop(key, None)
        for d in (self._history, self._revisions, self._saved_at, self._last):
            d.pop(key, None)
        if hpa_name is not None:
            await self._restore(key[0], hpa_name)

    async def _period(self, obj: Obj) -> float:
        ns = (obj.get("metadata") or {}).get("namespace") or "default"
        hpa_name = ((obj.get("spec") or {}).get("hpaRef") or {}).get("name") or ""
        try:
            hpa = await self.client.get(HPA_KIND, hpa_name, ns)
        except TidalError:
            return max(self.profile.sync_period_s, MIN_PERIOD_S)
        return max(profile_of(hpa, self.profile)[1], MIN_PERIOD_S)

    def due(self, obj: Obj, hpa: Obj | None, now: float) -> bool:
        meta = obj.get("metadata") or {}
        last = self._last.get((meta.get("namespace") or "default", meta.get("name", "")))
        if last is None:
            return True
        period = profile_of(hpa, self.profile)[1] if hpa else self.profile.sync_period_s
        return now - last >= max(period, MIN_PERIOD_S) - 1e-9

    async def sync_due(self) -> list[tuple[Obj, Outcome]]:
        """Sync every object whose period has passed (the simulator drives this)."""
        now = self.clock()
        out = []
        for obj in (await self.client.list(KIND)).get("items", []):
            ns = obj["metadata"].get("namespace") or "default"
            hpa_name = ((obj.get("spec") or {}).get("hpaRef") or {}).get("name") or ""
            try:
                hpa: Obj | None = await self.client.get(HPA_KIND, hpa_name, ns)
            except TidalError:
                hpa = None
            if self.due(obj, hpa, now):
                out.append((obj, await self.sync(obj)))
        return out

    # -- one sync --------------------------------------------------------------------------------
    async def sync(self, obj: Obj) -> Outcome:
        meta = obj.get("metadata") or {}
        ns, name = meta.get("namespace") or "default", meta.get("name", "")
        key = (ns, name)
        now = self.clock()
        self._last[key] = now
        params = params_of(obj.get("spec") or {})
        try:
            hpa = await self.client.get(HPA_KIND, params.hpa, ns)
        except NotFound:
            reason = f'HorizontalPodAutoscaler "{params.hpa}" not found'
            await self._write_status(obj, {"lastUpdateTime": rfc3339(now), "reason": reason})
            return Outcome(params.hpa, None, None, None, None, False, reason)
        if self._hpas.get(key) not in (None, params.hpa):  # the reference moved: undo ours
            await self._restore(ns, self._hpas[key])
        hspec = hpa.get("spec") or {}
        ann = (hpa.get("metadata") or {}).get("annotations") or {}
        current_min = int(hspec.get("minReplicas") if hspec.get("minReplicas") is not None else 1)
        if params.min_replicas is not None:
            base = params.min_replicas
        elif ann.get(BASE_ANNOTATION, "").isdigit():
            base = int(ann[BASE_ANNOTATION])
        else:
            base = current_min
        _, hpa_period = profile_of(hpa, self.profile)
        period = max(hpa_period, MIN_PERIOD_S)
        history = await self._read_history(obj)
        demand = needed_replicas(hpa)
        if demand is not None:
            history = record(history, now, demand, recent_s=params.trend_window_s)
        self._history[key] = history
        fc = forecast(
            history,
            now,
            params.scale_up_forward_s + period,
            trend_window_s=params.trend_window_s,
            quantile=params.quantile,
            periods=params.periods,
        )
        dec = decide_floor(fc, base=base, hpa_max=int(hspec.get("maxReplicas") or base))
        reason = dec.reason
        applied = False
        if params.strategy == "auto":
            if dec.floor != current_min or BASE_ANNOTATION not in ann:
                err = await self._set_floor(ns, params.hpa, dec.floor, base)
                if err is None:
                    applied = dec.floor != current_min
                    self._hpas[key] = params.hpa
                    if applied:
                        verb = "FloorRaised" if dec.floor > current_min else "FloorLowered"
                        await self._event(
                            obj,
                            verb,
                            f"HPA {params.hpa} minReplicas {current_min} -> {dec.floor}: {reason}",
                            now,
                        )
                else:
                    reason = f"{reason}; setting the HPA's minReplicas failed: {err}"
                    await self._event(obj, "FailedSetFloor", err, now, type_="Warning")
            self._hpas[key] = params.hpa
        else:
            reason = f"observer: would set floor {dec.floor}; {reason}"
            if BASE_ANNOTATION in ann:  # switched from auto: give the HPA its minimum back
                await self._restore(ns, params.hpa)
        await self._write_status(obj, status_of(fc, dec, demand, now, reason))
        if now - self._saved_at.get(key, float("-inf")) >= HISTORY_WRITE_S:
            await self._write_history(obj, history)
            self._saved_at[key] = now
        return Outcome(params.hpa, demand, fc, dec, current_min, applied, reason)

    # -- I/O helpers -----------------------------------------------------------------------------
    async def _set_floor(self, ns: str, hpa: str, floor: int, base: int) -> str | None:
        body = {
            "metadata": {"annotations": {BASE_ANNOTATION: str(base)}},
            "spec": {"minReplicas": floor},
        }
        for attempt in range(3):
            try:
                await self.client.patch(HPA_KIND, hpa, body, ns)
                return None
            except Conflict as exc:
                if attempt == 2:
                    return str(exc)
            except TidalError as exc:
                return str(exc) or type(exc).__name__
        return "conflict"

    async def _restore(self, ns: str, hpa_name: str) -> None:
        """Put the HPA's own minReplicas back and drop the annotation (best effort, logged)."""
        try:
            hpa = await self.client.get(HPA_KIND, hpa_name, ns)
        except TidalError:
            return
        ann = (hpa.get("metadata") or {}).get("annotations") or {}
        base = ann.get(BASE_ANNOTATION, "")
        if not base.isdigit():
            return
        body = {
            "metadata": {"annotations": {BASE_ANNOTATION: None}},
            "spec": {"minReplicas": int(base)},
        }
        try:
            await self.client.patch(HPA_KIND, hpa_name, body, ns)
        except TidalError as exc:
            log.warning("predictive: restoring %s/%s minReplicas: %s", ns, hpa_name, exc)

    async def _read_history(self, obj: Obj) -> History:
        meta = obj.get("metadata") or {}
        key = (meta.get("namespace") or "default", meta.get("name", ""))
        if key in self._history:
            return self._history[key]
        try:
            rev = await self.client.get(REVISION_KIND, key[1] + REVISION_SUFFIX, key[0])
        except TidalError:
            return History()
        uid = meta.get("uid")
        refs = (rev.get("metadata") or {}).get("ownerReferences") or []
        if uid and not any(r.get("uid") == uid for r in refs):
            return History()  # left by a deleted object of the same name
        self._revisions[key] = rev
        return History.from_dict(rev.get("data"))

    async def _write_history(self, obj: Obj, history: History) -> None:
        meta = obj.get("metadata") or {}
        ns, name = meta.get("namespace") or "default", meta.get("name", "")
        rev = self._revisions.get((ns, name))
        owner = {
            "apiVersion": obj.get("apiVersion") or "autoscaling.tidal.dev/v1alpha1",
            "kind": KIND,
            "name": name,
            "uid": meta.get("uid", ""),
            "controller": True,
            "blockOwnerDeletion": True,
        }
        for _ in range(3):
            try:
                if rev is None:
                    body = {
                        "apiVersion": "apps/v1",
                        "kind": REVISION_KIND,
                        "metadata": {
                            "name": name + REVISION_SUFFIX,
                            "namespace": ns,
                            "ownerReferences": [owner],
                        },
                        "data": history.to_dict(),
                        "revision": 1,
                    }
                    rev = await self.client.create(body, namespace=ns)
                else:
                    body = copy.deepcopy(rev)
                    body["data"] = history.to_dict()
                    body["revision"] = int(rev.get("revision") or 0) + 1
                    body["metadata"]["ownerReferences"] = [owner]
                    rev = await self.client.update(body)
                self._revisions[(ns, name)] = rev
                return
            except (Conflict, NotFound, TidalError) as exc:
                if not isinstance(exc, Conflict | NotFound):
                    log.warning("predictive %s/%s: saving history: %s", ns, name, exc)
                    return
                try:
                    rev = await self.client.get(REVISION_KIND, name + REVISION_SUFFIX, ns)
                except NotFound:
                    rev = None
                except TidalError:
                    return

    async def _write_status(self, obj: Obj, status: Obj) -> None:
        meta = obj.get("metadata") or {}
        body = copy.deepcopy(obj)
        body["status"] = status
        for _ in range(3):
            try:
                await self.client.update(body, subresource="status")
                return
            except Conflict:
                try:
                    body = await self.client.get(KIND, meta.get("name", ""), meta.get("namespace"))
                except TidalError:
                    return
                body["status"] = status
            except TidalError as exc:
                log.warning("predictive %s: status: %s", meta.get("name"), exc)
                return

    async def _event(
        self, obj: Obj, reason: str, message: str, now: float, type_: str = "Normal"
    ) -> None:
        try:
            await self.client.create(
                make_event(obj, reason, message, now=now, component=COMPONENT, type_=type_)
            )
        except TidalError as exc:
            log.warning("predictive: event %s: %s", reason, exc)


async def run(
    client: ApiClient, *, profile: str | None = None, stop: asyncio.Event | None = None
) -> None:
    """Run the controller on its own Loop until `stop` is set."""
    controller = PredictiveController(client, profile=profile)
    loop = Loop(client, controller, resync_s=max(controller.profile.sync_period_s, MIN_PERIOD_S))
    await loop.start()
    try:
        await (stop or asyncio.Event()).wait()
    finally:
        await loop.stop()
