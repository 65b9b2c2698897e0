"""excludeDates: a firing is skipped when its calendar day, in the job's time zone, is a day on
which one of the entries (schedule expressions, `* * * 15 11 *`) fires at any time.

The controller this copies compared month and hour instead of the day (its date layout
`11-15-1990` is not a Go layout; cronhpa issue #35); its README says "the minimum unit is day",
and that is what is done here."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from tidal.autoscaling.cron.schedule import CronSpec, ScheduleError, parse_schedule


def day_bounds(d: date, tz: ZoneInfo) -> tuple[float, float]:
    """[first instant, first instant of the next day) of local day `d`."""

    def start(x: date) -> float:
        # fold=0 maps a midnight lost to DST onto the day's first real instant
        return datetime(x.year, x.month, x.day, tzinfo=tz).timestamp()

    return start(d), start(d + timedelta(days=1))


def fires_on_day(spec: CronSpec, d: date, tz: ZoneInfo) -> bool:
    if not spec.day_matches(d):
        return False
    lo, hi = day_bounds(d, tz)
    t = spec.next_after(lo - 1, tz)
    return t is not None and t < hi


def excluded_by(entries: list[str] | tuple[str, ...], at: float, tz: ZoneInfo) -> str | None:
    """The first entry that excludes a firing at `at`, or None. Entries that do not parse, and
    `@every` entries (no calendar meaning), exclude nothing; validation refuses them."""
    d = datetime.fromtimestamp(at, tz).date()
    for entry in entries:
        try:
            spec = parse_schedule(entry)
        except ScheduleError:
            continue
        if isinstance(spec, CronSpec) and fires_on_day(spec, d, tz):
            return entry
    return None
