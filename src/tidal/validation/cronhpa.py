"""Admission of CronHorizontalPodAutoscaler (autoscaling.alibabacloud.com/v1beta1).

The original CRD requires `jobs` and `scaleTargetRef` and checks nothing else: a bad schedule
surfaced only as a `Failed` condition, a bad excludeDates entry could crash the controller
(cronhpa issues #22, #23). Here every job schedule and excludeDates entry is parsed at admission
by the same parser the controller runs (so this module imports it from
`tidal.autoscaling.cron`), and the one addition, `spec.timeZone`, must name an IANA zone."""

from __future__ import annotations

from typing import Any

from tidal.api.errors import Cause
from tidal.autoscaling.cron.schedule import EverySpec, ScheduleError, load_zone, parse_schedule
from tidal.validation.field import (
    INT32_MAX,
    duplicate,
    invalid,
    is_int,
    object_required,
    required,
)

Obj = dict[str, Any]


def _string(field: str, value: Any, *, need: bool = True) -> list[Cause]:
    if value is None or value == "":
        return [required(field)] if need else []
    if not isinstance(value, str):
        return [invalid(field, value, "must be a string")]
    return []


def _ref(spec: Obj) -> list[Cause]:
    ref = spec.get("scaleTargetRef")
    if not isinstance(ref, dict):
        return object_required("spec.scaleTargetRef", ref)
    causes: list[Cause] = []
    for key in ("apiVersion", "kind", "name"):
        causes += _string(f"spec.scaleTargetRef.{key}", ref.get(key))
    return causes


def _job(i: int, job: Any) -> list[Cause]:
    base = f"spec.jobs[{i}]"
    if not isinstance(job, dict):
        return [invalid(base, job, "must be an object")]
    causes = _string(f"{base}.name", job.get("name"))
    schedule = job.get("schedule")
    causes += _string(f"{base}.schedule", schedule)
    if isinstance(schedule, str) and schedule:
        try:
            parse_schedule(schedule)
        except ScheduleError as exc:
            causes.append(invalid(f"{base}.schedule", schedule, str(exc)))
    size = job.get("targetSize")
    if size is None:
        causes.append(required(f"{base}.targetSize"))
    elif not is_int(size):
        causes.append(invalid(f"{base}.targetSize", size, "must be an integer"))
    elif size < 0:
        causes.append(invalid(f"{base}.targetSize", size, "must be greater than or equal to 0"))
    elif size > INT32_MAX:
        causes.append(
            invalid(f"{base}.targetSize", size, f"must be less than or equal to {INT32_MAX}")
        )
    once = job.get("runOnce")
    if once is not None and not isinstance(once, bool):
        causes.append(invalid(f"{base}.runOnce", once, "must be a boolean"))
    return causes


def _excludes(spec: Obj) -> list[Cause]:
    dates = spec.get("excludeDates")
    if dates is None:
        return []
    if not isinstance(dates, list):
        return [invalid("spec.excludeDates", dates, "must be a list of schedule expressions")]
    causes: list[Cause] = []
    for i, entry in enumerate(dates):
        field = f"spec.excludeDates[{i}]"
        if not isinstance(entry, str):
            causes.append(invalid(field, entry, "must be a string"))
            continue
        try:
            parsed = parse_schedule(entry)
        except ScheduleError as exc:
            causes.append(invalid(field, entry, str(exc)))
            continue
        if isinstance(parsed, EverySpec):
            causes.append(invalid(field, entry, "@every names no calendar day"))
    return causes


def validate(obj: Obj) -> list[Cause]:
    """Every field error of a CronHPA (empty when it is valid)."""
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return object_required("spec", spec)
    causes = _ref(spec)
    jobs = spec.get("jobs")
    if jobs is None:
        causes.append(required("spec.jobs"))
    elif not isinstance(jobs, list):
        causes.append(invalid("spec.jobs", jobs, "must be a list"))
    else:
        seen: set[str] = set()
        for i, job in enumerate(jobs):
            causes += _job(i, job)
            name = job.get("name") if isinstance(job, dict) else None
            if isinstance(name, str) and name:
                if name in seen:
                    causes.append(duplicate(f"spec.jobs[{i}].name", name))
                seen.add(name)
    causes += _excludes(spec)
    zone = spec.get("timeZone")
    if zone is not None:
        if not isinstance(zone, str) or not zone:
            causes.append(invalid("spec.timeZone", zone, "must be an IANA time zone name"))
        else:
            try:
                load_zone(zone)
            except ScheduleError:
                causes.append(invalid("spec.timeZone", zone, "unknown time zone"))
    return causes


def default(obj: Obj) -> Obj:
    """The original CRD declares no defaults; an absent timeZone means the plane's zone and is
    resolved when the job runs, not stored. Returns the object unchanged."""
    return obj
