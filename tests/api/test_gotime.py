"""Go's duration parsing and printing (`time.ParseDuration`, `Duration.String`) and the time
arithmetic Knative's autoscaler relies on, against values Go itself gives."""

from __future__ import annotations

import pytest

from tidal.api import gotime
from tidal.api.gotime import DurationError, format_duration, parse_duration

S = gotime.SECOND


@pytest.mark.parametrize(
    ("text", "ns"),
    [
        ("0", 0),
        ("+0", 0),
        ("1h30m", 5400 * S),
        ("1.5h", 5400 * S),
        ("15m50ns", 900 * S + 50),
        ("300ms", 300 * gotime.MS),
        ("-1.5s", -1500 * gotime.MS),
        ("2\u00b5s", 2000),  # the micro sign
        ("2\u03bcs", 2000),  # the Greek mu
        ("3us", 3000),
        (".5s", 500 * gotime.MS),
        ("1.s", S),
        ("1h1h", 2 * gotime.HOUR),
        ("0.5ns0.5ns", 0),  # each part truncates to whole nanoseconds, as Go
        ("2562047h47m16.854775807s", gotime.MAX_DURATION),
        ("-2562047h47m16.854775808s", gotime.MIN_DURATION),
    ],
)
def test_parse_duration(text: str, ns: int) -> None:
    assert parse_duration(text) == ns


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", 'time: invalid duration ""'),
        ("1", 'time: missing unit in duration "1"'),
        ("h", 'time: invalid duration "h"'),
        ("1x", 'time: unknown unit "x" in duration "1x"'),
        (".s", 'time: invalid duration ".s"'),
        ("1h-2m", 'time: unknown unit "h-" in duration "1h-2m"'),  # Go reads the unit to a digit
        ("+", 'time: invalid duration "+"'),
        ("9999999999h", 'time: invalid duration "9999999999h"'),
        ("2562047h47m16.854775808s", 'time: invalid duration "2562047h47m16.854775808s"'),
    ],
)
def test_parse_duration_errors_are_gos(text: str, message: str) -> None:
    with pytest.raises(DurationError) as exc:
        parse_duration(text)
    assert str(exc.value) == message


@pytest.mark.parametrize(
    ("ns", "text"),
    [
        (0, "0s"),
        (1, "1ns"),
        (1100, "1.1\u00b5s"),
        (2200 * gotime.US, "2.2ms"),
        (15 * S, "15s"),
        (1500 * gotime.MS, "1.5s"),
        (60 * S, "1m0s"),
        (90250 * gotime.MS, "1m30.25s"),
        (gotime.HOUR, "1h0m0s"),
        (-4 * S, "-4s"),
        (gotime.MAX_DURATION, "2562047h47m16.854775807s"),
    ],
)
def test_format_duration(ns: int, text: str) -> None:
    assert format_duration(ns) == text
    assert parse_duration(text) == ns


@pytest.mark.parametrize(
    ("a", "b", "want"), [(7, 2, 3), (-7, 2, -3), (7, -2, -3), (-7, -2, 3), (0, 5, 0)]
)
def test_go_div_truncates_toward_zero(a: int, b: int, want: int) -> None:
    assert gotime.go_div(a, b) == want


@pytest.mark.parametrize(
    ("d", "m", "rounded", "truncated"),
    [
        (1500, 1000, 2000, 1000),  # halfway: away from zero
        (-1500, 1000, -2000, -1000),
        (1499, 1000, 1000, 1000),
        (1234, 0, 1234, 1234),  # m <= 0: unchanged
    ],
)
def test_round_and_truncate_duration(d: int, m: int, rounded: int, truncated: int) -> None:
    assert gotime.round_duration(d, m) == rounded
    assert gotime.truncate_duration(d, m) == truncated


def test_truncate_counts_from_year_one() -> None:
    # 1970-01-01 is not a whole number of weeks after 0001-01-01: Truncate(week) of the Unix
    # epoch lands on the Monday before it, as Go's does.
    week = 7 * 24 * gotime.HOUR
    assert gotime.truncate(0, week) == -3 * 24 * gotime.HOUR
    assert gotime.truncate(5 * S + 7, S) == 5 * S
    assert gotime.truncate(123, 0) == 123


def test_sub_saturates() -> None:
    assert gotime.sub(gotime.MAX_DURATION, -1) == gotime.MAX_DURATION
    assert gotime.sub(gotime.ZERO, 0) == gotime.MIN_DURATION  # time.Time{}.Sub(t) saturates
