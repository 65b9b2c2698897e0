"""1 s request buckets and the /metrics text: events at injected times, one row per behaviour."""

from __future__ import annotations

import pytest

from tidal.router.stats import LATENCY_BUCKETS_S, LoadStats, ServiceStats, prometheus_text

# events: ("s", t) start, ("f", t) finish; then read at `now`: {second: (requests, concurrency, max)}
CASES = {
    "one short request": ([("s", 10.2), ("f", 10.7)], 11.0, {10: (1, 0.5, 1)}),
    "spans three seconds": (
        [("s", 10.5), ("f", 12.25)],
        13.0,
        {10: (1, 0.5, 1), 11: (0, 1.0, 1), 12: (0, 0.25, 1)},
    ),
    "overlap doubles the area": (
        [("s", 10.0), ("s", 10.5), ("f", 10.75), ("f", 11.0)],
        11.5,
        {10: (2, 1.25, 2)},  # 1×0.5 + 2×0.25 + 1×0.25
    ),
    "still in flight when read": (
        [("s", 10.5)],
        12.5,
        {10: (1, 0.5, 1), 11: (0, 1.0, 1), 12: (0, 0.5, 1)},
    ),
    "idle seconds are absent": (
        [("s", 10.0), ("f", 10.5), ("s", 15.0), ("f", 15.25)],
        16.0,
        {10: (1, 0.5, 1), 15: (1, 0.25, 1)},
    ),
    "peak carried into a new second": (
        [("s", 10.9), ("s", 10.95), ("f", 11.5), ("f", 11.5)],
        12.0,
        {10: (2, 0.15, 2), 11: (0, 1.0, 2)},  # 1×0.05 + 2×0.05; then 2×0.5
    ),
}


@pytest.mark.parametrize(("events", "now", "want"), list(CASES.values()), ids=list(CASES))
def test_buckets(
    events: list[tuple[str, float]], now: float, want: dict[int, tuple[int, float, int]]
) -> None:
    s = LoadStats()
    for kind, t in events:
        (s.start if kind == "s" else s.finish)(t)
    got = {
        b["t"]: (b["requests"], pytest.approx(b["concurrency"]), b["max_in_flight"])
        for b in s.buckets(now)
    }
    assert got == want


def test_since_keep_and_totals() -> None:
    s = LoadStats(keep=3)
    for sec in range(10, 16):
        s.start(sec + 0.1)
        s.finish(sec + 0.6)
    assert [b["t"] for b in s.buckets(20.0)] == [13, 14, 15]
    assert [b["t"] for b in s.buckets(20.0, since=14)] == [14, 15]
    assert (s.requests_total, s.in_flight) == (6, 0)


def test_observe_and_prometheus_text() -> None:
    s = ServiceStats()
    for code, latency in ((200, 0.003), (200, 0.2), (503, 20.0)):
        s.start(1.0)
        s.finish(1.0)
        s.observe(code, latency, 1.0)
    assert s.latency_counts[0] == 1 and s.latency_counts[LATENCY_BUCKETS_S.index(0.25)] == 1
    assert s.latency_counts[-1] == 1
    text = prometheus_text({"default/iris": s})
    assert 'tidal_router_requests_total{namespace="default",service="iris",code="200"} 2' in text
    assert 'tidal_router_requests_total{namespace="default",service="iris",code="503"} 1' in text
    assert (
        'tidal_router_request_duration_seconds_bucket{namespace="default",service="iris",le="0.005"} 1'
        in text
    )
    assert (
        'tidal_router_request_duration_seconds_bucket{namespace="default",service="iris",le="10.0"} 2'
        in text
    )
    assert (
        'tidal_router_request_duration_seconds_bucket{namespace="default",service="iris",le="+Inf"} 3'
        in text
    )
    assert 'tidal_router_in_flight_requests{namespace="default",service="iris"} 0' in text


def test_request_log_is_bounded_and_filtered_by_arrival() -> None:
    s = ServiceStats(log_size=3)
    for i in range(5):
        s.observe(200 if i % 2 == 0 else 503, 0.1 * i, float(i))
    assert s.requests_since(0.0) == [
        (2.0, 200, 0.2),
        (3.0, 503, 0.30000000000000004),
        (4.0, 200, 0.4),
    ]
    assert s.requests_since(3.5) == [(4.0, 200, 0.4)]
