"""A CronHPA's jobs and their status conditions, as the original reconcile keeps them: one
condition per job (keyed by name) with a jobId; a changed job (schedule, targetSize, runOnce) is
resubmitted under a new jobId; a changed target, excludeDates set or time zone resubmits every
job; a runOnce job that has run keeps its final state. Also `next_firing`, the NEXT column of
`tidal get cronhpa`."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from tidal.api.meta import parse_time, rfc3339
from tidal.autoscaling.cron.exclude import excluded_by
from tidal.autoscaling.cron.schedule import (
    EverySpec,
    Schedule,
    ScheduleError,
    load_zone,
    parse_schedule,
)
from tidal.autoscaling.cron.target import submit_failed

Obj = dict[str, Any]

SUBMITTED, SUCCEED, FAILED = "Submitted", "Succeed", "Failed"


@dataclass(frozen=True, slots=True)
class Job:
    name: str
    schedule: str
    target_size: int
    run_once: bool

    @property
    def once(self) -> bool:
        """runOnce, or a `@date` schedule (the original forces run-once for those)."""
        return self.run_once or "@date " in self.schedule


def jobs_of(spec: Obj) -> list[Job]:
    out = []
    for j in spec.get("jobs") or []:
        if not isinstance(j, dict):
            continue
        size = j.get("targetSize")
        out.append(
            Job(
                str(j.get("name", "")),
                str(j.get("schedule", "")),
                size if isinstance(size, int) and not isinstance(size, bool) else 0,
                j.get("runOnce") is True,
            )
        )
    return out


def zone_name(spec: Obj, default_zone: str = "UTC") -> str:
    return str(spec.get("timeZone") or default_zone)


def _ref(r: Any) -> tuple[str, str, str]:
    r = r if isinstance(r, dict) else {}
    return (str(r.get("apiVersion", "")), str(r.get("kind", "")), str(r.get("name", "")))


def _same_job(cond: Obj, job: Job) -> bool:
    return (
        cond.get("schedule") == job.schedule
        and int(cond.get("targetSize") or 0) == job.target_size
        and bool(cond.get("runOnce", False)) == job.run_once
    )


def submission_error(job: Job, zone: str) -> str | None:
    """Why the cron engine would refuse the job (None: it is accepted)."""
    try:
        load_zone(zone)
        parse_schedule(job.schedule)
    except ScheduleError as exc:
        return str(exc)
    return None


def sync_status(
    spec: Obj, status: Obj, now: float, new_id: Callable[[], str], default_zone: str = "UTC"
) -> Obj:
    """The status the object should have: kept conditions for unchanged jobs, fresh `Submitted`
    ones (new jobId) for new or changed jobs, `Failed` for jobs the engine cannot take."""
    status = dict(status or {})
    conditions = [c for c in status.get("conditions") or [] if isinstance(c, dict)]
    spec_ref = spec.get("scaleTargetRef")
    excludes = list(spec.get("excludeDates") or [])
    zone = spec.get("timeZone")
    if (
        _ref(status.get("scaleTargetRef")) != _ref(spec_ref)
        or set(status.get("excludeDates") or []) != set(excludes)
        or status.get("timeZone") != zone
    ):
        conditions = []
    new: Obj = {}
    by_name = {c.get("name"): c for c in conditions}
    out: list[Obj] = []
    for job in jobs_of(spec):
        kept = by_name.get(job.name)
        if kept is not None and _same_job(kept, job):
            out.append(kept)
            continue
        err = submission_error(job, zone_name(spec, default_zone))
        out.append(
            {
                "jobId": new_id(),
                "lastProbeTime": rfc3339(now),
                "message": submit_failed(job.name, err) if err else "",
                "name": job.name,
                "runOnce": job.run_once,
                "schedule": job.schedule,
                "state": FAILED if err else SUBMITTED,
                "targetSize": job.target_size,
            }
        )
    new["conditions"] = out
    if excludes:
        new["excludeDates"] = excludes
    if isinstance(spec_ref, dict):
        new["scaleTargetRef"] = dict(spec_ref)
    if zone:
        new["timeZone"] = zone
    for k, v in status.items():  # keep what others wrote
        if k not in ("conditions", "excludeDates", "scaleTargetRef", "timeZone"):
            new[k] = v
    return new


def finished(job: Job, cond: Obj) -> bool:
    """A run-once job that ran (either way) is not scheduled again."""
    return job.once and cond.get("state") in (SUCCEED, FAILED)


def upcoming(
    schedule: Schedule,
    tz: ZoneInfo,
    base: float,
    now: float,
    excludes: list[str],
    limit: int = 400,
) -> float | None:
    """The next firing after `now` that excludeDates do not skip (`base`: the @every anchor)."""
    if isinstance(schedule, EverySpec):
        k = max(0, math.floor((now - base) / schedule.delay_s))
        t: float | None = math.floor(base) + (k + 1) * schedule.delay_s
    else:
        t = schedule.next_after(max(base, now), tz)
    for _ in range(limit):
        if t is None or not excludes or excluded_by(excludes, t, tz) is None:
            return t
        t = schedule.next_after(t, tz)
    return None


def next_firing(cronhpa: Obj, now: float, default_zone: str = "UTC") -> float | None:
    """The earliest coming firing of any live job of the object (None: nothing will fire);
    `tidal get cronhpa`'s NEXT column."""
    spec = cronhpa.get("spec") or {}
    conds = {c.get("name"): c for c in (cronhpa.get("status") or {}).get("conditions") or []}
    try:
        tz = load_zone(zone_name(spec, default_zone))
    except ScheduleError:
        return None
    created = parse_time((cronhpa.get("metadata") or {}).get("creationTimestamp")) or now
    excludes = [e for e in spec.get("excludeDates") or [] if isinstance(e, str)]
    best: float | None = None
    for job in jobs_of(spec):
        cond = conds.get(job.name)
        if cond is not None and finished(job, cond):
            continue
        try:
            schedule = parse_schedule(job.schedule)
        except ScheduleError:
            continue
        base = parse_time(cond.get("lastProbeTime")) if cond else None
        t = upcoming(schedule, tz, base if base is not None else created, now, excludes)
        if t is not None and (best is None or t < best):
            best = t
    return best
