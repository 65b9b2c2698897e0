"""Cron schedules as kubernetes-cronhpa-controller reads them (its cron library is
ringtail/go-cron, a fork of robfig/cron v1): seconds first, six fields or five (day-of-week
omitted), names, `?`, lists, ranges, steps, the day-of-month/day-of-week OR rule, descriptors,
`@every <Go duration>` and the fork's `@date YYYY-MM-DD hh:mm:ss`; firings in an IANA time zone
with DST handled as robfig v3's `Next` does (a wall time that does not exist that day does not
fire; one that occurs twice fires at both instants).

Why not croniter: run over the acceptance cases (tests/acceptance/cron_cases) with
`second_at_beginning=True`, croniter 7.0.0 fails 30 of 106 schedule cases. It reads five fields
minute-first, fires non-existent DST times at the next hour, counts `*/n` in a day field as a
restriction (robfig v1 counts it as `*`), accepts weekday 7, seven fields, wrapping ranges and
upper-case descriptors, and has no `@every` or `@date`. The parser below is robfig v1's
`parser.go`, error texts included; the search is a walk over local days.

Everything here is pure: instants are float seconds since the epoch, passed in.
"""

from __future__ import annotations

import bisect
import math
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tidal.api.gotime import DurationError, parse_duration

# robfig searches at most five years past the starting year before giving up.
YEAR_LIMIT = 5

_MONTHS = {
    n: i + 1 for i, n in enumerate("jan feb mar apr may jun jul aug sep oct nov dec".split())
}
_DOWS = {n: i for i, n in enumerate("sun mon tue wed thu fri sat".split())}
_INT = re.compile(r"^[+-]?[0-9]+$")
_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2}) (\d{1,2}):(\d{2}):(\d{2})$")


class ScheduleError(ValueError):
    """A schedule (or time zone) that cannot be used; the message says why, in robfig's words."""


@dataclass(frozen=True, slots=True)
class _Bounds:
    lo: int
    hi: int
    names: dict[str, int] | None = None


_SECONDS = _Bounds(0, 59)
_MINUTES = _Bounds(0, 59)
_HOURS = _Bounds(0, 23)
_DOM = _Bounds(1, 31)
_MONTH = _Bounds(1, 12, _MONTHS)
_DOW = _Bounds(0, 6, _DOWS)


@lru_cache(maxsize=256)
def load_zone(name: str) -> ZoneInfo:
    """The IANA zone `name`; ScheduleError when there is no such zone."""
    if not name or name != name.strip():
        raise ScheduleError(f"unknown time zone {name}")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise ScheduleError(f"unknown time zone {name}") from exc


@dataclass(frozen=True, slots=True)
class CronSpec:
    """A field schedule. `dom_star`/`dow_star`: the field had a part starting with `*` or `?`
    (robfig v1's star bit), which makes the two day fields combine with AND instead of OR.
    `year` pins `@date` schedules to their one year."""

    seconds: frozenset[int]
    minutes: frozenset[int]
    hours: frozenset[int]
    dom: frozenset[int]
    months: frozenset[int]
    dow: frozenset[int]
    dom_star: bool = False
    dow_star: bool = False
    year: int | None = None
    run_once: bool = False
    _offsets: tuple[int, ...] = field(default=(), compare=False, repr=False)
    _hours: tuple[int, ...] = field(default=(), compare=False, repr=False)

    def __post_init__(self) -> None:
        offsets = sorted(60 * m + s for m in self.minutes for s in self.seconds)
        object.__setattr__(self, "_offsets", tuple(offsets))
        object.__setattr__(self, "_hours", tuple(sorted(self.hours)))

    def day_matches(self, d: date) -> bool:
        if self.year is not None and d.year != self.year:
            return False
        if d.month not in self.months:
            return False
        dom_match = d.day in self.dom
        dow_match = (d.weekday() + 1) % 7 in self.dow
        if self.dom_star or self.dow_star:
            return dom_match and dow_match
        return dom_match or dow_match

    def next_after(self, after: float, tz: ZoneInfo) -> float | None:
        """The first firing strictly after `after` (whole seconds), or None when there is none
        within five years of it."""
        start = math.floor(after) + 1
        local = datetime.fromtimestamp(start, tz)
        d = local.date()
        first_hour = max(local.hour - 3, 0)  # margin: the same wall hour may recur after a DST fold
        while d.year <= local.year + YEAR_LIMIT:
            if d.month not in self.months:
                d = date(d.year + (d.month == 12), d.month % 12 + 1, 1)
                first_hour = 0
                continue
            if self.day_matches(d):
                found = self._first_in_day(d, tz, start, first_hour)
                if found is not None:
                    return found
            d += timedelta(days=1)
            first_hour = 0
        return None

    def _first_in_day(self, d: date, tz: ZoneInfo, start: int, first_hour: int) -> float | None:
        for h in self._hours:
            if h < first_hour:
                continue
            top = datetime(d.year, d.month, d.day, h, 0, 0, tzinfo=tz)
            end = datetime(d.year, d.month, d.day, h, 59, 59, tzinfo=tz)
            regular = (
                top.utcoffset() == end.utcoffset() == top.replace(fold=1).utcoffset()
                and end.utcoffset() == end.replace(fold=1).utcoffset()
            )
            if regular:  # one offset all hour: instants are the hour's start plus the offsets
                base = int(top.timestamp())
                i = bisect.bisect_left(self._offsets, start - base)
                if i < len(self._offsets):
                    return float(base + self._offsets[i])
                continue
            found = self._first_in_irregular_hour(d, h, tz, start)
            if found is not None:
                return found
        return None

    def _first_in_irregular_hour(self, d: date, h: int, tz: ZoneInfo, start: int) -> float | None:
        """An hour a DST change touches: only wall times that exist fire, and a wall time that
        occurs twice fires at both instants (all earlier-offset instants come first)."""
        for fold in (0, 1):
            for off in self._offsets:
                m, s = divmod(off, 60)
                dt = datetime(d.year, d.month, d.day, h, m, s, fold=fold, tzinfo=tz)
                ts = int(dt.timestamp())
                back = datetime.fromtimestamp(ts, tz)
                if (back.day, back.hour, back.minute, back.second) != (d.day, h, m, s):
                    continue  # does not exist that day
                if fold == 1 and ts == int(dt.replace(fold=0).timestamp()):
                    continue  # not ambiguous: already seen with fold 0
                if ts >= start:
                    return float(ts)
        return None


@dataclass(frozen=True, slots=True)
class EverySpec:
    """`@every d`: fires at anchor + d, + 2d, ... (robfig's ConstantDelaySchedule)."""

    delay_s: int
    run_once: bool = False

    def next_after(self, after: float, tz: ZoneInfo | None = None) -> float | None:
        return float(math.floor(after) + self.delay_s)


Schedule = CronSpec | EverySpec


def _atoi(text: str) -> int:
    if not _INT.match(text):
        raise ScheduleError(
            f'Failed to parse int from {text}: strconv.Atoi: parsing "{text}": invalid syntax'
        )
    num = int(text)
    if num < 0:
        raise ScheduleError(f"Negative number ({num}) not allowed: {text}")
    return num


def _int_or_name(text: str, names: dict[str, int] | None) -> int:
    if names is not None and text.lower() in names:
        return names[text.lower()]
    return _atoi(text)


def _range(expr: str, b: _Bounds) -> tuple[set[int], bool]:
    range_and_step = expr.split("/")
    low_high = range_and_step[0].split("-")
    single = len(low_high) == 1
    star = False
    if low_high[0] in ("*", "?"):
        start, end, star = b.lo, b.hi, True
    else:
        start = _int_or_name(low_high[0], b.names)
        if len(low_high) == 1:
            end = start
        elif len(low_high) == 2:
            end = _int_or_name(low_high[1], b.names)
        else:
            raise ScheduleError(f"Too many hyphens: {expr}")
    if len(range_and_step) == 1:
        step = 1
    elif len(range_and_step) == 2:
        step = _atoi(range_and_step[1])
        if single:  # "N/step" means "N-max/step"
            end = b.hi
    else:
        raise ScheduleError(f"Too many slashes: {expr}")
    if start < b.lo:
        raise ScheduleError(f"Beginning of range ({start}) below minimum ({b.lo}): {expr}")
    if end > b.hi:
        raise ScheduleError(f"End of range ({end}) above maximum ({b.hi}): {expr}")
    if start > end:
        raise ScheduleError(f"Beginning of range ({start}) beyond end of range ({end}): {expr}")
    if step == 0:
        raise ScheduleError(f"Step of range should be a positive number: {expr}")
    return set(range(start, end + 1, step)), star


def _field(text: str, b: _Bounds) -> tuple[frozenset[int], bool]:
    values: set[int] = set()
    star = False
    for part in (p for p in text.split(",") if p):
        got, is_star = _range(part, b)
        values |= got
        star = star or is_star
    return frozenset(values), star


def _all(b: _Bounds) -> frozenset[int]:
    return frozenset(range(b.lo, b.hi + 1))


def _fixed(
    sec: int,
    minute: int,
    hour: int,
    dom: frozenset[int] | None,
    month: frozenset[int] | None,
    dow: frozenset[int] | None,
) -> CronSpec:
    return CronSpec(
        frozenset({sec}),
        frozenset({minute}),
        frozenset({hour}),
        dom if dom is not None else _all(_DOM),
        month if month is not None else _all(_MONTH),
        dow if dow is not None else _all(_DOW),
        dom_star=dom is None,
        dow_star=dow is None,
    )


_DESCRIPTORS: dict[str, CronSpec] = {
    "@yearly": _fixed(0, 0, 0, frozenset({1}), frozenset({1}), None),
    "@annually": _fixed(0, 0, 0, frozenset({1}), frozenset({1}), None),
    "@monthly": _fixed(0, 0, 0, frozenset({1}), None, None),
    "@weekly": _fixed(0, 0, 0, None, None, frozenset({0})),
    "@daily": _fixed(0, 0, 0, None, None, None),
    "@midnight": _fixed(0, 0, 0, None, None, None),
    "@hourly": CronSpec(
        frozenset({0}),
        frozenset({0}),
        _all(_HOURS),
        _all(_DOM),
        _all(_MONTH),
        _all(_DOW),
        dom_star=True,
        dow_star=True,
    ),
}


def _descriptor(spec: str) -> Schedule:
    if spec in _DESCRIPTORS:
        return _DESCRIPTORS[spec]
    if spec.startswith("@every "):
        try:
            ns = parse_duration(spec[len("@every ") :])
        except DurationError as exc:
            raise ScheduleError(f"Failed to parse duration {spec}: {exc}") from exc
        ns = max(ns, 1_000_000_000)
        return EverySpec(ns // 1_000_000_000)
    if spec.startswith("@date "):
        text = spec[len("@date ") :]
        m = _DATE.match(text)
        try:
            if not m:
                raise ValueError(f'cannot parse "{text}" as "2006-01-02 15:04:05"')
            y, mo, d, h, mi, s = (int(g) for g in m.groups())
            datetime(y, mo, d, h, mi, s)
        except ValueError as exc:
            raise ScheduleError(f"Failed to parse date {text}: {exc}") from exc
        return CronSpec(
            frozenset({s}),
            frozenset({mi}),
            frozenset({h}),
            frozenset({d}),
            frozenset({mo}),
            _all(_DOW),
            dom_star=False,
            dow_star=True,
            year=y,
            run_once=True,
        )
    raise ScheduleError(f"Unrecognized descriptor: {spec}")


@lru_cache(maxsize=1024)
def parse_schedule(spec: str) -> Schedule:
    """Parse a job schedule (or an excludeDates entry); ScheduleError with robfig's message."""
    if not spec:
        raise ScheduleError("Empty spec string")
    if spec[0] == "@":
        return _descriptor(spec)
    fields = spec.split()
    if not 5 <= len(fields) <= 6:
        raise ScheduleError(f"Expected 5 to 6 fields, found {len(fields)}: {spec}")
    if len(fields) == 5:
        fields.append("*")  # the day of week is the optional field
    sec, _ = _field(fields[0], _SECONDS)
    minute, _ = _field(fields[1], _MINUTES)
    hour, _ = _field(fields[2], _HOURS)
    dom, dom_star = _field(fields[3], _DOM)
    month, _ = _field(fields[4], _MONTH)
    dow, dow_star = _field(fields[5], _DOW)
    return CronSpec(sec, minute, hour, dom, month, dow, dom_star=dom_star, dow_star=dow_star)


def next_after(schedule: Schedule, after: float, tz: ZoneInfo) -> float | None:
    """The first firing strictly after `after`; for `@every`, `after` is the anchor."""
    return schedule.next_after(after, tz)


def firings(schedule: Schedule, after: float, tz: ZoneInfo, count: int) -> list[float]:
    """Up to `count` successive firings after `after` (fewer when the schedule runs out)."""
    out: list[float] = []
    t: float | None = after
    while len(out) < count:
        t = schedule.next_after(t, tz)
        if t is None:
            break
        out.append(t)
    return out


def last_at_or_before(schedule: Schedule, after: float, until: float, tz: ZoneInfo) -> float | None:
    """The latest firing in (after, until], or None. For `@every`, `after` is the anchor. Dense
    schedules are searched from just before `until`, widening the window until one is found."""
    if until <= after:
        return None
    if isinstance(schedule, EverySpec):
        n = math.floor((math.floor(until) - math.floor(after)) / schedule.delay_s)
        return float(math.floor(after) + n * schedule.delay_s) if n >= 1 else None
    for window in (64, 3600, 86400, 32 * 86400, 367 * 86400, None):
        lo = after if window is None else max(after, until - window)
        last: float | None = None
        t = schedule.next_after(lo, tz)
        while t is not None and t <= until:
            last = t
            t = schedule.next_after(t, tz)
        if last is not None or window is None or lo == after:
            return last
    return None
