"""Table cases for the pure window: gauges, counters as `_per_second`, resets, selectors."""

from __future__ import annotations

import pytest

from tidal.metrics.scrape import parse, scrape_target
from tidal.metrics.window import ScrapedSample, SeriesWindow, rate

RATE_CASES = {
    "too few points": ([(0.0, 5.0)], None),
    "steady": ([(0.0, 0.0), (1.0, 10.0), (2.0, 20.0)], 10.0),
    "reset counts from zero": ([(0.0, 100.0), (1.0, 110.0), (2.0, 5.0)], 7.5),  # (10 + 5) / 2
    "zero span": ([(1.0, 1.0), (1.0, 2.0)], None),
}


@pytest.mark.parametrize(("points", "want"), list(RATE_CASES.values()), ids=list(RATE_CASES))
def test_rate(points: list[tuple[float, float]], want: float | None) -> None:
    assert rate(points) == want


def _gauge(v: float, **labels: str) -> ScrapedSample:
    return ScrapedSample("inflight", labels, v)


def _counter(v: float, **labels: str) -> ScrapedSample:
    return ScrapedSample("requests_total", labels, v, counter=True)


def test_gauge_newest_and_selector_sum() -> None:
    w = SeriesWindow(window_s=10)
    w.add([_gauge(1, model="a"), _gauge(2, model="b")], now=0)
    w.add([_gauge(3, model="a"), _gauge(4, model="b")], now=1)
    assert w.value("inflight") == 7
    assert w.value("inflight", lambda labels: labels.get("model") == "a") == 3
    assert w.value("missing") is None


def test_counter_served_raw_and_per_second() -> None:
    w = SeriesWindow(window_s=10)
    for t in range(5):
        w.add([_counter(t * 4.0)], now=float(t))
    assert w.names() == {"requests_total", "requests_per_second"}
    assert w.value("requests_per_second") == 4.0
    assert w.value("requests_total") == 16.0


def test_window_expiry_keeps_rate_spanning_window() -> None:
    w = SeriesWindow(window_s=2)
    for t in range(10):
        w.add([_counter(t * 2.0)], now=float(t))
    pts = w.series[("requests_total", frozenset())].points
    assert pts[0][0] >= 9 - 3 and w.value("requests_per_second") == 2.0


def test_stale_series_disappear() -> None:
    w = SeriesWindow(window_s=2)
    w.add([_gauge(1)], now=0)
    w.add([], now=5)
    assert w.value("inflight") is None


def test_parse_uses_types() -> None:
    text = (
        '# TYPE req counter\nreq_total{code="200"} 3\nreq_created 1.7e9\n'
        '# TYPE vllm:num_requests_waiting gauge\nvllm:num_requests_waiting{model_name="q"} 2\n'
    )
    samples = {s.name: s for s in parse(text)}
    assert samples["req_total"].counter and samples["req_total"].value == 3
    assert not samples["vllm:num_requests_waiting"].counter
    assert "req_created" not in samples


def _pod(ann: dict[str, str] | None = None, ip: str | None = "127.0.1.2") -> dict:
    return {
        "metadata": {"name": "p", "namespace": "ns", "annotations": ann or {}},
        "spec": {"containers": [{"ports": [{"containerPort": 8080}]}]},
        "status": {"podIP": ip},
    }


TARGET_CASES = {
    "default port and path": (_pod(), "http://127.0.1.2:8080/metrics"),
    "annotations override": (
        _pod({"prometheus.io/port": "9090", "prometheus.io/path": "stats"}),
        "http://127.0.1.2:9090/stats",
    ),
    "scrape disabled": (_pod({"prometheus.io/scrape": "false"}), None),
    "no ip yet": (_pod(ip=None), None),
}


@pytest.mark.parametrize(("pod", "url"), list(TARGET_CASES.values()), ids=list(TARGET_CASES))
def test_scrape_target(pod: dict, url: str | None) -> None:
    t = scrape_target(pod)
    assert (t.url if t else None) == url


def test_router_summary_averages_over_window() -> None:
    from tidal.metrics.router_values import CONCURRENCY, IN_FLIGHT, RPS, summarize

    entry = {
        "in_flight": 3,
        "buckets": [
            {"t": 89, "requests": 100, "concurrency": 9.0},  # before the window
            {"t": 95, "requests": 20, "concurrency": 2.0},
            {"t": 99, "requests": 10, "concurrency": 4.0},
            {"t": 100, "requests": 5, "concurrency": 1.0},  # the running second: not yet whole
        ],
    }
    got = summarize(entry, now=100.0, window_s=10.0)
    assert got[RPS] == 3.0 and got[CONCURRENCY] == 0.6 and got[IN_FLIGHT] == 3.0
