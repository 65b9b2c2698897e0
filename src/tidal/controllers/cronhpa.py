"""CronHorizontalPodAutoscaler: scheduled scaling, as kubernetes-cronhpa-controller does it, with
time zones, whole-day excludeDates, HPA-aware targets and restart safety.

The decisions are `tidal.autoscaling.cron`'s (conditions, firing plans, the HPA rules); this
module reads the world, applies them, and records the outcome: the job's condition (state,
lastProbeTime, message) and events, from `CronHorizontalPodAutoscaler` as the original's
recorder is named, on the CronHPA and on its target.

Restart safety: a job's condition keeps its jobId and the instant it last fired (or was
submitted) as `lastProbeTime`; the next firing is searched from there, so a restarted plane
neither forgets a job nor runs a firing twice, and sees what it missed (`firing.plan`). A crash
between scaling and recording can repeat that one firing within the grace window; setting the
same replica count twice is harmless.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from tidal.api.client import ApiClient, Obj
from tidal.api.errors import ApiError, BadRequest, Conflict, MethodNotAllowed, NotFound
from tidal.api.events import make_event
from tidal.api.meta import parse_time, rfc3339
from tidal.api.resources import by_kind
from tidal.autoscaling.cron import firing, target
from tidal.autoscaling.cron.exclude import excluded_by
from tidal.autoscaling.cron.jobs import (
    FAILED,
    SUCCEED,
    Job,
    finished,
    jobs_of,
    sync_status,
    zone_name,
)
from tidal.autoscaling.cron.schedule import ScheduleError, load_zone, parse_schedule
from tidal.controllers.loop import Key, Loop, Watch

log = logging.getLogger(__name__)

KIND = "CronHorizontalPodAutoscaler"
COMPONENT = "CronHorizontalPodAutoscaler"  # the original: GetEventRecorderFor("CronHorizontalPodAutoscaler")
HPA = "HorizontalPodAutoscaler"
RETRY_TIMEOUT_S = 10.0  # the original's maxRetryTimeout
RETRY_INTERVAL_S = 3.0  # and updateRetryInterval


class _ScaleError(Exception):
    """One attempt at scaling the target failed; the text is the original's."""


def normalized_spec(spec: Obj) -> Obj:
    """The spec as the original writes it back (Go `omitempty`: `runOnce: false` dropped)."""
    out = copy.deepcopy(spec)
    for job in out.get("jobs") or []:
        if isinstance(job, dict) and job.get("runOnce") is False:
            del job["runOnce"]
    return out


class CronHPAController:
    name = "cronhpa"
    watches = (Watch(KIND),)

    def __init__(
        self,
        client: ApiClient,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        default_zone: str = "UTC",
        grace_s: float = firing.GRACE_S,
        on_time_s: float = firing.ON_TIME_S,
        retry_timeout_s: float = RETRY_TIMEOUT_S,
        retry_interval_s: float = RETRY_INTERVAL_S,
        new_id: Callable[[], str] = lambda: str(uuid.uuid4()),
    ) -> None:
        self.client = client
        self.clock = clock
        self.sleep = sleep
        self.default_zone = default_zone
        self.grace_s = grace_s
        self.on_time_s = on_time_s  # a simulator stepping coarser than this passes its tick
        self.retry_timeout_s = retry_timeout_s
        self.retry_interval_s = retry_interval_s
        self.new_id = new_id
        # (key, jobId) -> the last scheduled instant acted on in this process (the status has it
        # too, once written); guards against acting twice while a write is in flight.
        self._fired: dict[tuple[Key, str], float] = {}
        self._inflight: dict[tuple[Key, str], asyncio.Task[None]] = {}
        # (involved uid, type, reason, message) -> event name, to count repeats as kubectl shows
        self._events: dict[tuple[str, str, str, str], str] = {}

    # ---- reconcile ------------------------------------------------------------------------
    async def reconcile(self, key: Key, loop: Loop | None = None) -> float | None:
        """Sync the jobs' conditions, start the firings that are due, and return the seconds
        until the next one (None: nothing scheduled)."""
        ns, name = key
        obj = await self._synced(ns, name)
        if obj is None:
            for k in [k for k in self._fired if k[0] == key]:
                del self._fired[k]
            return None
        spec = obj.get("spec") or {}
        try:
            tz = load_zone(zone_name(spec, self.default_zone))
        except ScheduleError:
            return None
        conds = {c.get("name"): c for c in (obj.get("status") or {}).get("conditions") or []}
        live = {c.get("jobId") for c in conds.values()}
        for k in [k for k in self._fired if k[0] == key and k[1] not in live]:
            del self._fired[k]
        now = self.clock()
        wait: float | None = None
        for job in jobs_of(spec):
            cond = conds.get(job.name)
            if cond is None or finished(job, cond):
                continue
            job_id = str(cond.get("jobId", ""))
            if (key, job_id) in self._inflight:
                continue
            try:
                schedule = parse_schedule(job.schedule)
            except ScheduleError:
                continue
            base = max(
                parse_time(cond.get("lastProbeTime")) or now,
                self._fired.get((key, job_id), float("-inf")),
            )
            p = firing.plan(schedule, tz, base, now, grace_s=self.grace_s, on_time_s=self.on_time_s)
            if p.action == "wait":
                if p.due is not None:
                    wait = p.due - now if wait is None else min(wait, p.due - now)
                continue
            assert p.at is not None
            self._fired[(key, job_id)] = p.at
            task = asyncio.create_task(self._fire(key, obj, job, job_id, p, tz, loop))
            self._inflight[(key, job_id)] = task
        return None if wait is None else max(wait, 0.0)

    async def drain(self) -> None:
        """Wait for the firings in flight (tests, the simulator, shutdown)."""
        while self._inflight:
            await asyncio.gather(*list(self._inflight.values()), return_exceptions=True)

    async def _synced(self, ns: str, name: str) -> Obj | None:
        """The object with its conditions brought up to date with its jobs (written when they
        changed); None when it is gone."""
        for attempt in range(5):
            try:
                obj = await self.client.get(KIND, name, ns)
            except NotFound:
                return None
            if (obj.get("metadata") or {}).get("deletionTimestamp"):
                return None
            spec = obj.get("spec") or {}
            status = sync_status(
                spec, obj.get("status") or {}, self.clock(), self.new_id, self.default_zone
            )
            try:
                return await self._write(obj, status)
            except Conflict:
                if attempt == 4:
                    raise  # the loop retries the key with backoff
        raise AssertionError("unreachable")

    async def _write(self, obj: Obj, status: Obj) -> Obj:
        """Write spec (normalized, as the original's Update does) and status; the status goes
        through the status subresource when the main resource ignores it."""
        new = copy.deepcopy(obj)
        if isinstance(new.get("spec"), dict):
            new["spec"] = normalized_spec(new["spec"])
        new["status"] = status
        if new == obj:
            return obj
        updated = obj
        if new.get("spec") != obj.get("spec"):
            updated = await self.client.update(new)
        if (updated.get("status") or {}) != status:
            updated = copy.deepcopy(updated)
            updated["status"] = status
            try:
                updated = await self.client.update(updated, subresource="status")
            except (NotFound, MethodNotAllowed):  # no status subresource (the original's CRD)
                updated = await self.client.update(updated)
        return updated

    # ---- one firing -----------------------------------------------------------------------
    async def _fire(
        self,
        key: Key,
        obj: Obj,
        job: Job,
        job_id: str,
        p: firing.Plan,
        tz: Any,
        loop: Loop | None,
    ) -> None:
        try:
            await self._run(key, obj, job, job_id, p, tz)
        except Exception:
            log.exception("cronhpa %s/%s: job %s", key[0], key[1], job.name)
        finally:
            self._inflight.pop((key, job_id), None)
            if loop is not None:
                loop.enqueue(key)

    async def _run(
        self, key: Key, obj: Obj, job: Job, job_id: str, p: firing.Plan, tz: Any
    ) -> None:
        spec = obj.get("spec") or {}
        ns = key[0]
        assert p.at is not None
        involved: list[Obj] = [obj]
        if p.action == "skip":
            msg = firing.skip_message(job.name, p, self.grace_s)
            await self._record(key, job_id, None, msg, p.at)
            await self._emit(involved, "Warning", "OutOfDate", msg)
            return
        if p.late:
            await self._emit(involved, "Warning", "OutOfDate", firing.rerun_message(job.name))
        entry = excluded_by(
            [e for e in spec.get("excludeDates") or [] if isinstance(e, str)], p.at, tz
        )
        ok = True
        if entry is not None:
            detail = target.excluded(entry)
        else:
            ok, detail, scaled = await self._scale(
                spec.get("scaleTargetRef") or {}, ns, job.target_size
            )
            if scaled is not None:
                involved.append(scaled)
        if ok:
            state, etype = SUCCEED, "Normal"
            msg = target.succeeded(job.name, detail) + firing.late_note(p, self.grace_s)
        else:
            state, etype = FAILED, "Warning"
            msg = target.failed(detail)
        await self._record(key, job_id, state, msg, p.at)
        await self._emit(involved, etype, state, msg)

    async def _record(
        self, key: Key, job_id: str, state: str | None, message: str, at: float
    ) -> None:
        """Replace the job's condition (found by jobId: a job changed meanwhile is left alone)."""
        ns, name = key
        for _ in range(8):
            try:
                obj = await self.client.get(KIND, name, ns)
            except NotFound:
                return
            status = copy.deepcopy(obj.get("status") or {})
            conds = status.get("conditions") or []
            for c in conds:
                if c.get("jobId") == job_id:
                    if state is not None:
                        c["state"] = state
                    c["message"] = message
                    c["lastProbeTime"] = rfc3339(at)
                    break
            else:
                return
            try:
                await self._write(obj, status)
                return
            except Conflict:
                continue
        log.warning("cronhpa %s/%s: could not record job %s", ns, name, job_id)

    # ---- the target -----------------------------------------------------------------------
    async def _scale(self, ref: Obj, ns: str, size: int) -> tuple[bool, str, Obj | None]:
        """Scale with the original's retries: (succeeded, message, target object)."""
        kind, name = str(ref.get("kind", "")), str(ref.get("name", ""))
        start = self.clock()
        times = 0
        err = ""
        while True:
            if self.clock() - start >= self.retry_timeout_s:
                return False, target.gave_up(kind, name, ns, size, times, err), None
            try:
                msg, obj = await self._scale_once(kind, name, ns, size)
                return True, msg, obj
            except _ScaleError as exc:
                err = str(exc)
            except ApiError as exc:
                err = exc.message
            await self.sleep(self.retry_interval_s)
            times += 1

    async def _get(self, kind: str, name: str, ns: str) -> Obj:
        try:
            by_kind(kind)
        except KeyError:
            raise _ScaleError(f"no kind {kind} is served: cannot scale {name}") from None
        try:
            return await self.client.get(kind, name, ns)
        except NotFound:
            raise _ScaleError(target.not_found(kind, name, ns)) from None

    async def _scale_once(self, kind: str, name: str, ns: str, size: int) -> tuple[str, Obj]:
        obj = await self._get(kind, name, ns)
        if kind == HPA:
            return await self._through_hpa(obj, ns, size), obj
        if kind == "Deployment":
            hpas = (await self.client.list(HPA, ns)).get("items") or []
            hpa = target.predictor_hpa(obj, hpas)
            if hpa is not None:
                return await self._through_hpa(hpa, ns, size, isvc=target.isvc_of(obj)), obj
        old = int((obj.get("spec") or {}).get("replicas", 1))
        await self._set_replicas(kind, name, ns, size)
        return target.scaled(old, size), obj

    async def _set_replicas(self, kind: str, name: str, ns: str, size: int) -> None:
        patch = {"spec": {"replicas": size}}
        try:
            await self.client.patch(kind, name, patch, ns, subresource="scale")
        except (NotFound, MethodNotAllowed, BadRequest):
            await self.client.patch(kind, name, patch, ns)  # no scale subresource: the object

    async def _through_hpa(self, hpa: Obj, ns: str, size: int, *, isvc: str | None = None) -> str:
        """The original's ScaleHPA; for a predictor (`isvc`), the InferenceService's min/max are
        moved along with its HPA's, or KServe's reconcile would put the old ones back."""
        spec = hpa.get("spec") or {}
        hpa_name = hpa["metadata"]["name"]
        lo = int(spec.get("minReplicas") or 1)
        hi = int(spec.get("maxReplicas") or lo)
        cur = int((hpa.get("status") or {}).get("currentReplicas") or 0)
        step = target.hpa_step(lo, hi, cur, size)
        if (step.min_replicas, step.max_replicas) != (lo, hi):
            if isvc:
                bounds = {"minReplicas": step.min_replicas, "maxReplicas": step.max_replicas}
                with contextlib.suppress(NotFound):
                    await self.client.patch(
                        "InferenceService", isvc, {"spec": {"predictor": bounds}}, ns
                    )
            await self.client.patch(
                HPA,
                hpa_name,
                {"spec": {"minReplicas": step.min_replicas, "maxReplicas": step.max_replicas}},
                ns,
            )
        ref = spec.get("scaleTargetRef") or {}
        tkind, tname = str(ref.get("kind", "")), str(ref.get("name", ""))
        tobj = await self._get(tkind, tname, ns)
        replicas = int((tobj.get("spec") or {}).get("replicas", 1))
        if step.scale_to is None:
            msg = target.hpa_skipped(hpa_name, ns, replicas, size)
        else:
            await self._set_replicas(tkind, tname, ns, step.scale_to)
            msg = target.scaled(replicas, size)
        if isvc:
            msg += target.steered(hpa_name, isvc, (lo, hi), step)
        return msg

    # ---- events ---------------------------------------------------------------------------
    async def _emit(self, involved: list[Obj], etype: str, reason: str, message: str) -> None:
        """One event per involved object (the CronHPA, then its target); a repeat of the same
        event counts up (`(x5 over 25s)`) instead of piling up, as client-go's recorder does."""
        now = self.clock()
        for obj in involved:
            uid = (obj.get("metadata") or {}).get("uid", "")
            ek = (uid, etype, reason, message)
            try:
                name = self._events.get(ek)
                if name is not None:
                    ns = obj["metadata"].get("namespace") or "default"
                    try:
                        ev = await self.client.get("Event", name, ns)
                        await self.client.patch(
                            "Event",
                            name,
                            {"count": int(ev.get("count") or 1) + 1, "lastTimestamp": rfc3339(now)},
                            ns,
                        )
                        continue
                    except NotFound:
                        pass
                ev = make_event(obj, reason, message, now=now, component=COMPONENT, type_=etype)
                created = await self.client.create(ev)
                self._events[ek] = created["metadata"]["name"]
                if len(self._events) > 4096:
                    self._events.pop(next(iter(self._events)))
            except ApiError as exc:
                log.warning("cronhpa: event %s %s not recorded: %s", reason, message, exc)
