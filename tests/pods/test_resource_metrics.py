"""Resource metrics: the CPU-rate table, the metrics.k8s.io shapes, and a real busy process."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from dataclasses import dataclass, field

import pytest

from tests.support import stop_process, wait_until
from tidal.api import errors
from tidal.metrics.resource import (
    ResourceMetricsApi,
    ResourceSampler,
    Sample,
    Usage,
    go_duration,
    read_tree,
    usage,
)

USAGE = {
    "one sample: nothing yet": ([Sample(0, 1.0, 10)], 30, None),
    "two samples": ([Sample(0, 1.0, 10), Sample(15, 4.0, 20)], 30, Usage(0.2, 20, 15, 15)),
    "window picks the oldest inside": (
        [Sample(0, 0.0, 1), Sample(10, 1.0, 1), Sample(20, 6.0, 1), Sample(30, 11.0, 5)],
        20,
        Usage(0.5, 5, 30, 20),  # (11 - 1) / (30 - 10)
    ),
    "short window falls back to the last two": (
        [Sample(0, 0.0, 1), Sample(10, 5.0, 2)],
        1,
        Usage(0.5, 2, 10, 10),
    ),
    "counter went back: clamp to 0": (
        [Sample(0, 5.0, 1), Sample(10, 4.0, 1)],
        30,
        Usage(0.0, 1, 10, 10),
    ),
}


@pytest.mark.parametrize(("samples", "window", "want"), list(USAGE.values()), ids=list(USAGE))
def test_usage(samples: list[Sample], window: float, want: Usage | None) -> None:
    assert usage(samples, window) == want


@pytest.mark.parametrize(
    ("s", "want"), [(15, "15s"), (1.5, "1.5s"), (60, "1m0s"), (90.25, "1m30.25s"), (3600, "1h0m0s")]
)
def test_go_duration(s: float, want: str) -> None:
    assert go_duration(s) == want


@dataclass
class T:
    namespace: str
    name: str
    labels: dict[str, str]
    creation_timestamp: str = "2026-01-01T00:00:00Z"
    containers: list[tuple[str, int]] = field(default_factory=list)


def test_sampler_and_api_shapes() -> None:
    now = [1000.0]
    cpu = {101: 0.0, 202: 0.0}
    targets = [
        T("default", "iris-a", {"app": "iris"}, containers=[("kserve-container", 101)]),
        T("default", "other", {"app": "x"}, containers=[("main", 202)]),
    ]
    sampler = ResourceSampler(
        lambda: targets,
        resolution_s=1,
        window_s=10,
        clock=lambda: now[0],
        reader=lambda pid: (cpu[pid], 52 * 2**20),
    )
    api = ResourceMetricsApi(sampler)
    sampler.sample()
    assert asyncio.run(api.get("v1beta1", "namespaces/default/pods", {}))["items"] == []
    now[0] += 2
    cpu[101] = 1.0  # half a core over 2 s
    sampler.sample()
    got = asyncio.run(api.get("v1beta1", "namespaces/default/pods", {"labelSelector": "app=iris"}))
    assert got["kind"] == "PodMetricsList" and [i["metadata"]["name"] for i in got["items"]] == [
        "iris-a"
    ]
    item = got["items"][0]
    assert item["window"] == "2s" and item["timestamp"] == "1970-01-01T00:16:42Z"
    assert item["containers"] == [
        {"name": "kserve-container", "usage": {"cpu": "500000000n", "memory": "53248Ki"}}
    ]
    one = asyncio.run(api.get("v1beta1", "namespaces/default/pods/other", {}))
    assert one["kind"] == "PodMetrics" and one["containers"][0]["usage"]["cpu"] == "0n"
    with pytest.raises(errors.NotFound):
        asyncio.run(api.get("v1beta1", "namespaces/default/pods/missing", {}))
    with pytest.raises(errors.BadRequest):
        asyncio.run(api.get("v1beta1", "pods", {"labelSelector": "a in ("}))
    # a restart (new pid) starts the window again
    targets[0].containers = [("kserve-container", 202)]
    sampler.sample()
    assert sampler.pod_usage("default", "iris-a") is None
    assert asyncio.run(api.get("v1beta1", "", {}))["groupVersion"] == "metrics.k8s.io/v1beta1"


@pytest.mark.process
def test_read_tree_counts_children_of_a_real_process_tree() -> None:
    busy = "import time\nt=time.time()\nwhile True: pass"
    proc = subprocess.Popen(
        ["sh", "-c", f"{sys.executable} -c '{busy}' & wait"], start_new_session=True
    )
    try:
        first = wait_until(lambda: read_tree(proc.pid), what="tree readable")
        wait_until(
            lambda: (read_tree(proc.pid) or (0, 0))[0] > first[0] + 0.2,
            what="the child's CPU shows in the tree",
        )
        cpu, rss = read_tree(proc.pid)  # type: ignore[misc]
        assert rss > 5 * 2**20  # sh + a python interpreter
    finally:
        stop_process(proc)
    assert read_tree(proc.pid) is None
