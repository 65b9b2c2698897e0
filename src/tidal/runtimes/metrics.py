"""Prometheus metrics of a runtime: KServe's histograms plus what an autoscaler needs.

| name | type | labels | meaning |
|---|---|---|---|
| request_preprocess_seconds | histogram | model_name | decode + validate one request (KServe's name) |
| request_predict_seconds | histogram | model_name | the predict call that answered the request (KServe's name) |
| request_postprocess_seconds | histogram | model_name | encode one response (KServe's name) |
| request_explain_seconds | histogram | model_name | KServe's name; always empty (no explainer) |
| tidal_requests_total | counter | model_name, code | inference requests answered, by HTTP status |
| tidal_requests_in_flight | gauge | model_name | inference requests received and not yet answered |
| tidal_predict_batch_rows | histogram | model_name | instances per predict call (micro-batching at work) |

With `--workers N` the workers share a PROMETHEUS_MULTIPROC_DIR, so `/metrics` on the port sums
all of them (KServe shows one worker's numbers per scrape: kserve/kserve#2979).
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

PREPROCESS = Histogram("request_preprocess_seconds", "pre-process request latency", ["model_name"])
PREDICT = Histogram("request_predict_seconds", "predict request latency", ["model_name"])
POSTPROCESS = Histogram(
    "request_postprocess_seconds", "post-process request latency", ["model_name"]
)
EXPLAIN = Histogram("request_explain_seconds", "explain request latency", ["model_name"])
REQUESTS = Counter(
    "tidal_requests", "inference requests answered, by HTTP status", ["model_name", "code"]
)
IN_FLIGHT = Gauge(
    "tidal_requests_in_flight",
    "inference requests received and not yet answered",
    ["model_name"],
    multiprocess_mode="livesum",
)
BATCH_ROWS = Histogram(
    "tidal_predict_batch_rows",
    "instances per predict call",
    ["model_name"],
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024),
)


class ModelMetrics:
    """The label children of one model, looked up once (labels() costs a dict and a lock)."""

    def __init__(self, model_name: str) -> None:
        self.model_name = model_name
        self.preprocess = PREPROCESS.labels(model_name)
        self.predict = PREDICT.labels(model_name)
        self.postprocess = POSTPROCESS.labels(model_name)
        self.in_flight = IN_FLIGHT.labels(model_name)
        self.batch_rows = BATCH_ROWS.labels(model_name)
        EXPLAIN.labels(model_name)  # present (empty) from the start, as KServe's
        self._codes: dict[int, Counter] = {}

    def answered(self, code: int) -> None:
        child = self._codes.get(code)
        if child is None:
            child = self._codes[code] = REQUESTS.labels(self.model_name, str(code))
        child.inc()


def exposition() -> tuple[bytes, str]:
    """The /metrics body: this process's registry, or every worker's when multiprocess."""
    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
