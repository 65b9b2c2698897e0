"""Tables for the schedule parser (robfig v1's error texts), Go durations and next firings
beyond the acceptance cases."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tidal.autoscaling.cron import (
    ScheduleError,
    firings,
    last_at_or_before,
    load_zone,
    parse_schedule,
)


def ts(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("", "Empty spec string"),
        ("* * * *", "Expected 5 to 6 fields, found 4: * * * *"),
        ("0 0 0 * * * *", "Expected 5 to 6 fields, found 7: 0 0 0 * * * *"),
        ("60 0 * * *", "End of range (60) above maximum (59): 60"),
        ("0 0 0 1 0 *", "Beginning of range (0) below minimum (1): 0"),
        ("0 0 5-3 * * *", "Beginning of range (5) beyond end of range (3): 5-3"),
        ("5--5 * * * * *", "Too many hyphens: 5--5"),
        ("*/2/3 * * * * *", "Too many slashes: */2/3"),
        ("*/0 * * * * *", "Step of range should be a positive number: */0"),
        ("*/-12 * * * * *", "Negative number (-12) not allowed: -12"),
        (
            "* 5 j * * *",
            'Failed to parse int from j: strconv.Atoi: parsing "j": invalid syntax',
        ),
        ("@DAILY", "Unrecognized descriptor: @DAILY"),
        (
            "@every Xm",
            'Failed to parse duration @every Xm: time: invalid duration "Xm"',
        ),
        (
            "@date 2021-02-29 10:00:00",
            "Failed to parse date 2021-02-29 10:00:00: day is out of range for month",
        ),
    ],
)
def test_errors_say_what_robfig_says(spec: str, message: str) -> None:
    with pytest.raises(ScheduleError) as exc:
        parse_schedule(spec)
    assert str(exc.value) == message


@pytest.mark.parametrize(
    ("spec", "zone", "after", "want"),
    [
        # every second of a fall-back hour fires twice: 01:59:59 EDT, then 01:00:00 EST
        (
            "* * 1 4 11 *",
            "America/New_York",
            "2012-11-04T05:59:58Z",
            ["2012-11-04T05:59:59Z", "2012-11-04T06:00:00Z", "2012-11-04T06:00:01Z"],
        ),
        # Lord Howe moves its clocks by 30 minutes: 02:15 does not exist on Oct 6 2024, 02:45 does
        (
            "0 15,45 2 6 10 *",
            "Australia/Lord_Howe",
            "2024-10-05T14:00:00Z",
            ["2024-10-05T15:45:00Z"],
        ),
        # @date in a zone, and never again after it
        ("@date 2020-11-15 00:00:00", "Asia/Shanghai", "2020-11-14T16:00:00Z", []),
        # a list with an empty part is what Go's FieldsFunc makes of it
        ("0 0 1,,2 * * *", "UTC", "2024-01-01T00:00:00Z", ["2024-01-01T01:00:00Z"]),
    ],
)
def test_more_firings(spec: str, zone: str, after: str, want: list[str]) -> None:
    got = firings(parse_schedule(spec), ts(after), load_zone(zone), len(want) or 1)
    assert [iso(t) for t in got] == want


@pytest.mark.parametrize(
    ("spec", "after", "until", "want"),
    [
        ("* * * * * *", "2024-01-01T00:00:00Z", "2024-03-01T12:00:00.7Z", "2024-03-01T12:00:00Z"),
        ("0 0 12 * * *", "2024-01-01T00:00:00Z", "2024-03-01T11:00:00Z", "2024-02-29T12:00:00Z"),
        ("0 0 0 29 2 *", "2020-03-01T00:00:00Z", "2024-02-28T00:00:00Z", None),
        ("0 0 0 29 2 *", "2019-03-01T00:00:00Z", "2024-02-28T00:00:00Z", "2020-02-29T00:00:00Z"),
        ("@every 1h", "2024-01-01T00:00:00Z", "2024-01-01T05:59:59Z", "2024-01-01T05:00:00Z"),
        ("@every 1h", "2024-01-01T00:00:00Z", "2024-01-01T00:59:59Z", None),
    ],
)
def test_last_at_or_before(spec: str, after: str, until: str, want: str | None) -> None:
    got = last_at_or_before(parse_schedule(spec), ts(after), ts(until), load_zone("UTC"))
    assert (iso(got) if got is not None else None) == want


@pytest.mark.parametrize("zone", ["", "Mars/Olympus_Mons", "../etc/passwd", " UTC", "Local"])
def test_unknown_zones(zone: str) -> None:
    with pytest.raises(ScheduleError):
        load_zone(zone)
