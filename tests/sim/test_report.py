"""The report's pure arithmetic: percentiles, share over the SLO, the lower bound, demand."""

from __future__ import annotations

import math

import pytest

from tidal.sim.report import (
    ReplicaSample,
    RequestRecord,
    Slo,
    demand_from_requests,
    lines,
    lower_bound,
    percentile,
    report,
)


@pytest.mark.parametrize(
    ("values", "p", "want"),
    [
        ([], 99, 0.0),
        ([1.0], 50, 1.0),
        ([float(i) for i in range(1, 101)], 99, 99.0),
        ([float(i) for i in range(1, 101)], 50, 50.0),
        ([float(i) for i in range(1, 101)], 100, 100.0),
        ([1.0, 2.0, 3.0], 95, 3.0),
    ],
)
def test_percentile_nearest_rank(values: list[float], p: float, want: float) -> None:
    assert percentile(values, p) == want


@pytest.mark.parametrize(
    ("demands", "capacity", "want"),
    [
        ([0, 0, 0], 4, 0),
        ([1, 4, 5], 4, 1 + 1 + 2),
        ([8.0, 8.0000000001], 4, 4),  # float noise does not add a pod
        ([3.5], 1, 4),
    ],
)
def test_lower_bound_is_ceil_of_demand_each_tick(
    demands: list[float], capacity: float, want: float
) -> None:
    samples = [ReplicaSample(float(i), 0, 0, d) for i, d in enumerate(demands)]
    assert lower_bound(samples, 2.0, capacity) == want * 2.0


def test_lower_bound_refuses_zero_capacity() -> None:
    with pytest.raises(ValueError, match="capacity"):
        lower_bound([], 1.0, 0)


def test_report_counts_slo_503s_cold_waits_and_ratio() -> None:
    reqs = [RequestRecord(float(i), 1.0) for i in range(97)]
    reqs += [
        RequestRecord(97.0, 3.0, held_s=2.5),
        RequestRecord(98.0, 2.0),  # exactly at the objective: within
        RequestRecord(99.0, 60.0, status=503, held_s=60.0),
    ]
    samples = [ReplicaSample(float(t), 2, 1, 3.0) for t in range(10)]
    slo = Slo(2.0, 99)
    row = report("web", reqs, samples, tick_s=1.0, capacity=4, slo=slo)
    assert (row.requests, row.ok, row.errors_503) == (100, 99, 1)
    assert row.over_slo == 2 and row.over_slo_share == pytest.approx(0.02)
    assert row.slo_met is False  # 2 % over, 1 % allowed
    assert row.cold_start_waits == 2 and row.max_cold_start_wait_s == 60.0
    assert row.p50_s == 1.0 and row.p99_s == 3.0  # over the 99 answered
    assert (row.replica_seconds, row.bound_replica_seconds, row.max_replicas) == (20, 10, 2)
    assert row.ratio == 2.0
    text = "\n".join(lines([row], slo))
    assert "SLO: p99 <= 2s" in text and "2.00%" in text and "2.00x" in text


def test_report_without_slo_or_load() -> None:
    row = report("idle", [], [ReplicaSample(0, 1, 1, 0)], tick_s=1.0, capacity=1)
    assert row.slo_met is None and row.over_slo == 0 and row.p99_s == 0
    assert math.isinf(row.ratio)
    assert report("none", [], [], tick_s=1.0, capacity=1).ratio == 1.0


def test_demand_from_requests_averages_service_over_each_tick() -> None:
    reqs = [
        RequestRecord(0.0, 5.0, service_s=2.0),  # busy 0..2
        RequestRecord(1.0, 4.0, queued_s=1.0, held_s=1.0),  # service 2 s: busy 1..3
        RequestRecord(1.5, 0.1, status=503),  # never served, no service time: no demand
        RequestRecord(3.25, 0.5, status=503, service_s=0.5),  # timed out, would have been served
    ]
    assert demand_from_requests(reqs, 0.0, 1.0, 5) == [1.0, 2.0, 1.0, 0.5, 0.0]
    assert demand_from_requests(reqs, 0.0, 2.0, 2) == [1.5, 0.75]


def test_an_slo_on_ttft_judges_the_first_token() -> None:
    reqs = [
        RequestRecord(0.0, 30.0, ttft_s=0.5),
        RequestRecord(1.0, 3.0, ttft_s=2.5),
        RequestRecord(2.0, 3.0),  # no TTFT known: its latency is judged
    ]
    samples = [ReplicaSample(0.0, 1, 1, 1.0)]
    row = report("llm", reqs, samples, tick_s=1.0, capacity=1, slo=Slo(2.0, 50, "ttft"))
    assert row.over_slo == 2 and row.ttft_p99_s == 2.5
    assert "SLO: ttft p50 <= 2s" in "\n".join(lines([row], Slo(2.0, 50, "ttft")))
    assert report("llm", reqs, samples, tick_s=1.0, capacity=1, slo=Slo(2.0)).over_slo == 3
