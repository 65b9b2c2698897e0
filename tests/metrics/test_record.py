"""Prometheus range results to a trace file (`tidal.metrics.record`), case by case."""

from __future__ import annotations

import math

import pytest

from tidal.metrics.record import sum_series, trace_csv

CASES = [
    ("one series", [[[100, "1"], [101, "2.5"]]], [(100.0, 1.0), (101.0, 2.5)]),
    ("summed by time", [[[100, "1"]], [[100, "2"], [101, "3"]]], [(100.0, 3.0), (101.0, 3.0)]),
    ("NaN and Inf skipped", [[[100, "NaN"], [101, "+Inf"], [102, "4"]]], [(102.0, 4.0)]),
    ("out of order", [[[102, "2"], [100, "1"]]], [(100.0, 1.0), (102.0, 2.0)]),
    ("no series", [], []),
]


@pytest.mark.parametrize(("what", "series", "points"), CASES, ids=[c[0] for c in CASES])
def test_sum_series(what: str, series: list, points: list) -> None:
    assert sum_series(series) == points


def test_trace_counts_time_from_the_start() -> None:
    text = trace_csv([(1000.0, 2.0), (1001.5, 0.25)], "rps", start=999.0)
    assert text == "t,rps\n1,2\n2.5,0.25\n"
    assert trace_csv([(5.0, math.pi)], "load").splitlines()[1] == "0,3.141593"


def test_no_samples_is_an_error() -> None:
    with pytest.raises(ValueError, match="no samples"):
        trace_csv([])
