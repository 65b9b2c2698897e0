"""Request statistics the router keeps per service and per pod.

Two views of the same counts: Prometheus text on the admin `/metrics` (request count by code,
in-flight, latency histogram per service) and 1 s buckets (requests started, time-weighted
average concurrency, peak in-flight) per service and per pod on the admin `/stats` JSON, which
the KPA and the metrics pipeline read (shape: docs/ARCHITECTURE.md, "Request stats").
"""

from __future__ import annotations

from bisect import bisect_left
from collections import deque

LATENCY_BUCKETS_S: tuple[float, ...] = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)
KEEP_BUCKETS = 60
REQUEST_LOG = 100_000  # requests remembered per service for `tidal record --router` (~8 MB)


class LoadStats:
    """In-flight and request counts of one service or pod, with the last `keep` 1 s buckets.

    A bucket is `[second, requests, concurrency_area, max_in_flight]`: `concurrency_area` is the
    integral of in-flight over that second, so it *is* the average concurrency of a full second
    (Knative's queue-proxy reports the same number). `start`/`finish` run per request: their
    common case (an event in the same second as the previous one) makes no call at all.
    """

    __slots__ = ("_buckets", "_cur", "_keep", "_last_t", "in_flight", "requests_total")

    def __init__(self, keep: int = KEEP_BUCKETS) -> None:
        self.in_flight = 0
        self.requests_total = 0
        self._keep = keep
        self._last_t = 0.0
        self._buckets: deque[list[float]] = deque()
        self._cur: list[float] = [-1.0, 0.0, 0.0, 0.0]  # the newest bucket

    def _bucket(self, sec: int) -> list[float]:
        buckets = self._buckets
        if buckets and buckets[-1][0] >= sec:
            return buckets[-1]  # same second (or the clock stepped back: keep adding to the last)
        b = [float(sec), 0.0, 0.0, float(self.in_flight)]
        buckets.append(b)
        if len(buckets) > self._keep:
            buckets.popleft()
        self._cur = b
        return b

    def _advance(self, now: float) -> None:
        """Add in-flight × elapsed time to the buckets since the last event."""
        last = self._last_t
        if self.in_flight and now > last:
            t = max(last, now - self._keep)
            while t < now:
                sec = int(t)
                end = min(now, sec + 1.0)
                self._bucket(sec)[2] += self.in_flight * (end - t)
                t = end
        self._last_t = now

    def start(self, now: float) -> None:
        b = self._cur
        last = self._last_t
        if b[0] <= last and now < b[0] + 1.0 and now >= last:  # same second as the last event
            b[2] += self.in_flight * (now - last)
            self._last_t = now
        else:
            self._advance(now)
            b = self._bucket(int(now))
        n = self.in_flight + 1
        self.in_flight = n
        self.requests_total += 1
        b[1] += 1
        if n > b[3]:
            b[3] = n

    def finish(self, now: float) -> None:
        b = self._cur
        last = self._last_t
        if b[0] <= last and now < b[0] + 1.0 and now >= last:
            b[2] += self.in_flight * (now - last)
            self._last_t = now
        else:
            self._advance(now)
        self.in_flight -= 1

    def buckets(self, now: float, since: float = 0.0) -> list[dict[str, float]]:
        """Buckets with `t >= since`, oldest first; seconds with nothing in flight are absent."""
        if now >= self._last_t:
            if self.in_flight:
                self._advance(now)
            else:
                self._last_t = now
        return [
            {
                "t": int(b[0]),
                "requests": int(b[1]),
                "concurrency": round(b[2], 6),
                "max_in_flight": int(b[3]),
            }
            for b in self._buckets
            if b[0] >= since
        ]


class ServiceStats(LoadStats):
    """A service's load plus what `/metrics` shows (counts by status code, latency histogram)
    and its last requests (arrival, code, latency: `/requests`, which `tidal record` reads)."""

    __slots__ = ("by_code", "latency_counts", "latency_sum", "log")

    def __init__(self, keep: int = KEEP_BUCKETS, log_size: int = REQUEST_LOG) -> None:
        super().__init__(keep)
        self.by_code: dict[int, int] = {}
        self.latency_counts = [0] * (len(LATENCY_BUCKETS_S) + 1)
        self.latency_sum = 0.0
        self.log: deque[tuple[float, int, float]] = deque(maxlen=log_size)

    def observe(self, code: int, latency_s: float, arrival: float) -> None:
        by_code = self.by_code
        by_code[code] = by_code.get(code, 0) + 1
        self.latency_sum += latency_s
        self.latency_counts[bisect_left(LATENCY_BUCKETS_S, latency_s)] += 1
        self.log.append((arrival, code, latency_s))

    def requests_since(self, since: float) -> list[tuple[float, int, float]]:
        """The remembered requests that arrived at or after `since`, in answer order."""
        return [r for r in self.log if r[0] >= since]


def _labels(namespace: str, name: str) -> str:
    return f'namespace="{namespace}",service="{name}"'


def prometheus_text(services: dict[str, ServiceStats]) -> str:
    """Prometheus exposition of every service's counters (keys are `namespace/name`)."""
    out = [
        "# HELP tidal_router_requests_total Requests the router answered, by service and code.",
        "# TYPE tidal_router_requests_total counter",
    ]
    for key, s in sorted(services.items()):
        lab = _labels(*key.split("/", 1))
        for code, n in sorted(s.by_code.items()):
            out.append(f'tidal_router_requests_total{{{lab},code="{code}"}} {n}')
    out += [
        "# HELP tidal_router_in_flight_requests Requests in flight through the router.",
        "# TYPE tidal_router_in_flight_requests gauge",
    ]
    for key, s in sorted(services.items()):
        out.append(
            f"tidal_router_in_flight_requests{{{_labels(*key.split('/', 1))}}} {s.in_flight}"
        )
    out += [
        "# HELP tidal_router_request_duration_seconds Time to the end of the response.",
        "# TYPE tidal_router_request_duration_seconds histogram",
    ]
    for key, s in sorted(services.items()):
        lab = _labels(*key.split("/", 1))
        acc = 0
        for bound, n in zip(LATENCY_BUCKETS_S, s.latency_counts, strict=False):
            acc += n
            out.append(f'tidal_router_request_duration_seconds_bucket{{{lab},le="{bound}"}} {acc}')
        acc += s.latency_counts[-1]
        out.append(f'tidal_router_request_duration_seconds_bucket{{{lab},le="+Inf"}} {acc}')
        out.append(f"tidal_router_request_duration_seconds_sum{{{lab}}} {s.latency_sum:.6f}")
        out.append(f"tidal_router_request_duration_seconds_count{{{lab}}} {acc}")
    return "\n".join(out) + "\n"
