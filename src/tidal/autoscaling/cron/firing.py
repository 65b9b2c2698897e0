"""When a job fires, and what becomes of a firing that was missed (the controller was down, or
stalled): pure functions of the schedule, the instant the job last fired or was submitted
(its condition's lastProbeTime), and `now`.

The original controller has no catch-up at restart and a 10-minute GC that reruns jobs more
than 5 minutes overdue. Here: a missed firing within a short grace window runs once, late, and
the message says so; older ones are skipped, and that is said too. Since the last instant acted
on is kept in the object's status, a restart neither loses a job nor runs a firing twice."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from zoneinfo import ZoneInfo

from tidal.api.meta import rfc3339
from tidal.autoscaling.cron.schedule import Schedule, last_at_or_before

# A firing acted on within this long of its time is on time (the controller's own latency).
ON_TIME_S = 2.0
# A missed firing up to this old still runs (once); older ones are skipped.
GRACE_S = 60.0


@dataclass(frozen=True, slots=True)
class Plan:
    """`wait` until `due` (None: never again); `run` the firing at `at`; `skip` it (too old).
    `late`: `at` is past the on-time margin. `first_missed`: the earliest firing that did not
    run at its time (earlier than `at` when several were missed)."""

    action: Literal["wait", "run", "skip"]
    due: float | None = None
    at: float | None = None
    late: bool = False
    first_missed: float | None = None


def plan(
    schedule: Schedule,
    tz: ZoneInfo,
    base: float,
    now: float,
    *,
    grace_s: float = GRACE_S,
    on_time_s: float = ON_TIME_S,
) -> Plan:
    """What to do for a job whose last firing (or submission) was at `base`."""
    due = schedule.next_after(base, tz)
    if due is None or due > now:
        return Plan("wait", due=due)
    last = last_at_or_before(schedule, base, now, tz) or due
    if now - last <= on_time_s and last == due:
        return Plan("run", at=last)
    if now - last <= grace_s:
        return Plan("run", at=last, late=True, first_missed=due)
    return Plan("skip", at=last, late=True, first_missed=due)


def late_note(p: Plan, grace_s: float = GRACE_S) -> str:
    """What is appended to the job's message when it ran late."""
    if not p.late or p.at is None:
        return ""
    note = f" Ran late: the firing at {rfc3339(p.at)} was missed and is within the {grace_s:g}s grace window."
    if p.first_missed is not None and p.first_missed < p.at:
        note += f" Earlier missed firings since {rfc3339(p.first_missed)} were skipped."
    return note


def skip_message(job: str, p: Plan, grace_s: float = GRACE_S) -> str:
    """The job's message (and the OutOfDate event) when a missed firing is skipped."""
    at = rfc3339(p.at or 0.0)
    since = p.first_missed if p.first_missed is not None and p.first_missed < (p.at or 0) else None
    text = f"skip out of date job {job}: the firing at {at} was missed and is older than the {grace_s:g}s grace window"
    if since is not None:
        text += f" (missed firings since {rfc3339(since)})"
    return text + "."


def rerun_message(job: str) -> str:
    """The original's OutOfDate event text when a job is run late."""
    return f"rerun out of date job: {job}"
