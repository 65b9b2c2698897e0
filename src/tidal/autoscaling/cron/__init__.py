"""CronHPA's pure decisions: schedules and their next firings (`schedule`), excludeDates
(`exclude`), what a firing does to its target (`target`), when a job fires and what a missed
firing becomes (`firing`), and the jobs' status conditions (`jobs`). The controller in
`tidal.controllers.cronhpa` only gathers inputs and applies these."""

from tidal.autoscaling.cron.jobs import next_firing
from tidal.autoscaling.cron.schedule import (
    CronSpec,
    EverySpec,
    Schedule,
    ScheduleError,
    firings,
    last_at_or_before,
    load_zone,
    next_after,
    parse_schedule,
)

__all__ = [
    "CronSpec",
    "EverySpec",
    "Schedule",
    "ScheduleError",
    "firings",
    "last_at_or_before",
    "load_zone",
    "next_after",
    "next_firing",
    "parse_schedule",
]
