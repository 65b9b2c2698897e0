"""Go's `time.Duration` and `time.Time` arithmetic, the one home of Go durations in tidal:
`ParseDuration` (CronHPA's `@every 1h30m`, Knative's annotations and config-autoscaler, the
HPA's sync-period annotation, PodMetrics' `window`), `Duration.String` (PodMetrics' `window`,
the KPA's messages), and what Knative's autoscaler relies on: integer nanoseconds, `Truncate`
relative to year 1, truncating integer division.

Instants are `int` nanoseconds since the Unix epoch; Go's zero `time.Time{}` is `ZERO`. Keeping
Go's rounding rules (not Python's floor) is what makes the bucket indexes and the window counts
match Knative's to the bucket.
"""

from __future__ import annotations

import re

NS = 1
US = 1_000
MS = 1_000_000
SECOND = 1_000_000_000
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE
MAX_DURATION = (1 << 63) - 1
MIN_DURATION = -(1 << 63)
# time.Time{} (0001-01-01 00:00:00 UTC) in Unix nanoseconds.
ZERO = -62135596800 * SECOND

_UNITS = {
    "ns": NS,
    "us": US,
    "µs": US,  # U+00B5
    "μs": US,  # U+03BC
    "ms": MS,
    "s": SECOND,
    "m": MINUTE,
    "h": HOUR,
}
_PART = re.compile(r"([0-9]*(?:\.[0-9]*)?)([^0-9.]*)")


class DurationError(ValueError):
    """A string `time.ParseDuration` rejects; the message is Go's."""


def parse_duration(text: str) -> int:
    """`time.ParseDuration`: `"1h2m3.5s"`, `"-1.5ms"`, `"0"`; nanoseconds, or DurationError."""
    orig = text
    neg = False
    if text and text[0] in "+-":
        neg = text[0] == "-"
        text = text[1:]
    if text == "0":
        return 0
    if not text:
        raise DurationError(f'time: invalid duration "{orig}"')
    total = 0
    pos = 0
    while pos < len(text):
        m = _PART.match(text, pos)
        if not m or m.group(1) in ("", "."):
            raise DurationError(f'time: invalid duration "{orig}"')
        number, unit = m.group(1), m.group(2)
        if not unit:
            raise DurationError(f'time: missing unit in duration "{orig}"')
        if unit not in _UNITS:
            raise DurationError(f'time: unknown unit "{unit}" in duration "{orig}"')
        whole, _, frac = number.partition(".")
        scale = _UNITS[unit]
        value = int(whole or "0") * scale
        if frac:
            value += int(frac) * scale // (10 ** len(frac))
        total += value
        if total > (1 << 63) - (0 if neg else 1):
            raise DurationError(f'time: invalid duration "{orig}"')
        pos = m.end()
    return -total if neg else total


def _fmt_frac(v: int, prec: int) -> str:
    whole, frac = divmod(v, 10**prec)
    digits = f"{frac:0{prec}d}".rstrip("0")
    return f"{whole}.{digits}" if digits else str(whole)


def format_duration(d: int) -> str:
    """`Duration.String()`: `"1m0s"`, `"1.5s"`, `"500ms"`, `"0s"`."""
    if d == 0:
        return "0s"
    sign = "-" if d < 0 else ""
    u = abs(d)
    if u < SECOND:
        if u < US:
            return f"{sign}{u}ns"
        if u < MS:
            return f"{sign}{_fmt_frac(u, 3)}µs"
        return f"{sign}{_fmt_frac(u, 6)}ms"
    hours, rem = divmod(u, HOUR)
    minutes, rem = divmod(rem, MINUTE)
    secs = _fmt_frac(rem, 9)
    if hours:
        return f"{sign}{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{sign}{minutes}m{secs}s"
    return f"{sign}{secs}s"


def go_div(a: int, b: int) -> int:
    """Go's integer division: truncates toward zero."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


def saturate(d: int) -> int:
    return max(MIN_DURATION, min(MAX_DURATION, d))


def sub(t: int, u: int) -> int:
    """`t.Sub(u)`, saturating as Go does."""
    return saturate(t - u)


def truncate(t: int, d: int) -> int:
    """`t.Truncate(d)`: round down to a multiple of `d` since year 1 (d <= 0: unchanged)."""
    if d <= 0:
        return t
    return t - (t - ZERO) % d


def _go_mod(a: int, b: int) -> int:
    """Go's `%`: the result takes the dividend's sign."""
    return a - go_div(a, b) * b


def round_duration(d: int, m: int) -> int:
    """`Duration.Round(m)`: halfway values round away from zero."""
    if m <= 0:
        return d
    r = _go_mod(d, m)
    if d < 0:
        r = -r
        if r + r < m:
            return d + r
        return saturate(d - m + r)
    if r + r < m:
        return d - r
    return saturate(d + m - r)


def truncate_duration(d: int, m: int) -> int:
    """`Duration.Truncate(m)`: toward zero."""
    if m <= 0:
        return d
    return d - _go_mod(d, m)


def unix_seconds(t: int) -> int:
    """`t.Unix()`: whole seconds, rounded down."""
    return t // SECOND
