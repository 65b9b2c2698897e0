"""Go's `time.ParseDuration`, which `@every <duration>` schedules are written in (`1h30m`,
`1.5h`, `15m50ns`, `300ms`). Exact: the value is kept in integer nanoseconds, as Go does."""

from __future__ import annotations

from fractions import Fraction

_UNITS: dict[str, int] = {
    "ns": 1,
    "us": 1_000,
    "\u00b5s": 1_000,  # µs, the micro sign
    "\u03bcs": 1_000,  # μs, the Greek letter mu
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60 * 1_000_000_000,
    "h": 3600 * 1_000_000_000,
}
_MAX_NS = 2**63 - 1


class DurationError(ValueError):
    """The text is not a Go duration; the message is Go's."""


def parse_duration_ns(text: str) -> int:
    """Nanoseconds of a Go duration string (`[-+]?([0-9]*(\\.[0-9]*)?[a-z]+)+`, or `0`)."""
    quoted = f'"{text}"'
    s = text
    neg = False
    if s[:1] in ("-", "+"):
        neg = s[0] == "-"
        s = s[1:]
    if s == "0":
        return 0
    if not s:
        raise DurationError(f"time: invalid duration {quoted}")
    total = Fraction(0)
    while s:
        if not (s[0] == "." or s[0].isascii() and s[0].isdigit()):
            raise DurationError(f"time: invalid duration {quoted}")
        i = 0
        while i < len(s) and s[i].isascii() and s[i].isdigit():
            i += 1
        whole, s = s[:i], s[i:]
        frac = ""
        if s[:1] == ".":
            j = 1
            while j < len(s) and s[j].isascii() and s[j].isdigit():
                j += 1
            frac, s = s[1:j], s[j:]
            if not whole and not frac:
                raise DurationError(f"time: invalid duration {quoted}")
        elif not whole:
            raise DurationError(f"time: invalid duration {quoted}")
        k = 0
        while k < len(s) and s[k] != "." and not (s[k].isascii() and s[k].isdigit()):
            k += 1
        if k == 0:
            raise DurationError(f"time: missing unit in duration {quoted}")
        unit, s = s[:k], s[k:]
        if unit not in _UNITS:
            raise DurationError(f'time: unknown unit "{unit}" in duration {quoted}')
        value = Fraction(int(whole or "0")) + (Fraction(int(frac), 10 ** len(frac)) if frac else 0)
        total += value * _UNITS[unit]
        if total > _MAX_NS:
            raise DurationError(f"time: invalid duration {quoted}")
    ns = int(total)  # Go truncates the fractional nanoseconds
    return -ns if neg else ns
