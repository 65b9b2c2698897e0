"""Tables for the runner's pure parts: scheduling, back-off, pod IPs, status, probes, $(VAR)."""

from __future__ import annotations

from fractions import Fraction

import pytest

from tidal.pods import backoff, ips
from tidal.pods.env import expand
from tidal.pods.probes import Probe, from_container
from tidal.pods.schedule import Node, Requests, pod_requests, schedule
from tidal.pods.status import ContainerState, PodState, phase, qos_class

GPU_MSG = "0/1 nodes are available: 1 Insufficient nvidia.com/gpu."
NODE = Node("n", gpus=("0", "1"), cpu=Fraction(4), memory=Fraction(8 * 2**30))
STRICT = Node("n", gpus=(), cpu=Fraction(2), memory=Fraction(2**30), enforce_capacity=True)

SCHEDULE = {
    "no gpu request fits": (Requests(), NODE, [], [], True, (), ""),
    "one gpu gets the lowest": (Requests(gpus=1), NODE, [], [], True, ("0",), ""),
    "skips gpus in use": (Requests(gpus=1), NODE, [], ["0"], True, ("1",), ""),
    "two of two": (Requests(gpus=2), NODE, [], [], True, ("0", "1"), ""),
    "too many gpus": (Requests(gpus=3), NODE, [], [], False, (), GPU_MSG),
    "gpus all taken": (Requests(gpus=1), NODE, [], ["0", "1"], False, (), GPU_MSG),
    "no gpus on node": (Requests(gpus=1), Node("n"), [], [], False, (), GPU_MSG),
    # ten replicas of --cpu=1 on a 4-core node: recorded, not enforced by default
    "cpu over capacity not enforced": (
        Requests(cpu=Fraction(1)),
        NODE,
        [Requests(cpu=Fraction(1))] * 9,
        [],
        True,
        (),
        "",
    ),
    "cpu over capacity enforced": (
        Requests(cpu=Fraction(1)),
        STRICT,
        [Requests(cpu=Fraction(3, 2))],
        [],
        False,
        (),
        "0/1 nodes are available: 1 Insufficient cpu.",
    ),
    "cpu and memory short, sorted": (
        Requests(cpu=Fraction(3), memory=Fraction(2**31), gpus=1),
        STRICT,
        [],
        [],
        False,
        (),
        "0/1 nodes are available: 1 Insufficient cpu, 1 Insufficient memory, 1 Insufficient nvidia.com/gpu.",
    ),
    "enforced and fits exactly": (
        Requests(cpu=Fraction(1)),
        STRICT,
        [Requests(cpu=Fraction(1))],
        [],
        True,
        (),
        "",
    ),
}


@pytest.mark.parametrize(
    ("req", "node", "held", "gpus_used", "fits", "gpus", "msg"),
    list(SCHEDULE.values()),
    ids=list(SCHEDULE),
)
def test_schedule(req, node, held, gpus_used, fits, gpus, msg) -> None:  # type: ignore[no-untyped-def]
    got = schedule(req, node, held, gpus_used)
    assert (got.fits, got.gpus, got.message) == (fits, gpus, msg)


def test_pod_requests_sums_containers_and_limits_default_requests() -> None:
    pod = {
        "spec": {
            "containers": [
                {"resources": {"requests": {"cpu": "500m", "memory": "200Mi"}}},
                {"resources": {"limits": {"cpu": "1", "nvidia.com/gpu": "1"}}},
            ]
        }
    }
    assert pod_requests(pod) == Requests(Fraction(3, 2), Fraction(200 * 2**20), 1)
    with pytest.raises(ValueError):
        pod_requests({"spec": {"containers": [{"resources": {"requests": {"cpu": "abc"}}}]}})


BACKOFF = {
    "first exit restarts at once": (1, 0.0),
    "second waits 10s": (2, 10.0),
    "third 20s": (3, 20.0),
    "sixth 160s": (6, 160.0),
    "capped at 5 minutes": (7, 300.0),
    "stays capped": (30, 300.0),
}


@pytest.mark.parametrize(("failures", "want"), list(BACKOFF.values()), ids=list(BACKOFF))
def test_backoff_delay(failures: int, want: float) -> None:
    assert backoff.delay(failures) == want


@pytest.mark.parametrize(
    ("failures", "ran_s", "want"),
    [(0, 1, 1), (3, 5, 4), (5, 599, 6), (5, 600, 1)],
    ids=["first", "quick crash counts", "just under reset", "10 minutes resets"],
)
def test_failures_after_exit(failures: int, ran_s: float, want: int) -> None:
    assert backoff.failures_after_exit(failures, ran_s) == want


@pytest.mark.parametrize(
    ("s", "want"), [(10, "10s"), (80, "1m20s"), (300, "5m0s"), (3700, "1h1m40s")]
)
def test_backoff_human(s: float, want: str) -> None:
    assert backoff.human(s) == want


IPS = {
    "first": ((), None, "127.1.0.1"),
    "next free": (("127.1.0.1", "127.1.0.2"), None, "127.1.0.3"),
    "hole reused only when free": (("127.1.0.1", "127.1.0.3"), None, "127.1.0.2"),
    "skips .255 and .0": (("127.1.0.254",), "127.1.0.254", "127.1.1.1"),
    "from a start": ((), "127.9.9.9", "127.9.9.9"),
    "wraps at the end": (("127.255.255.254",), "127.255.255.254", "127.1.0.1"),
}


@pytest.mark.parametrize(("used", "start", "want"), list(IPS.values()), ids=list(IPS))
def test_allocate_ip(used: tuple[str, ...], start: str | None, want: str) -> None:
    assert ips.allocate(used, start) == want


def test_block_start_is_stable_per_home_and_in_range() -> None:
    a, b = ips.block_start("/home/u/.tidal"), ips.block_start("/tmp/other")
    assert a == ips.block_start("/home/u/.tidal")
    for ip in (a, b):
        o = [int(x) for x in ip.split(".")]
        assert o[0] == 127 and 1 <= o[1] <= 250 and o[2:] == [0, 1]


def _c(state: str, restarts: int = 0, code: int = 0, last: bool = False) -> ContainerState:
    return ContainerState(
        "c",
        state=state,
        restart_count=restarts,
        exit_code=code,
        last_terminated={"x": 1} if last else None,
    )


PHASE = {
    "unscheduled": (False, [_c("waiting")], "Always", "Pending"),
    "creating": (True, [_c("waiting")], "Always", "Pending"),
    "running": (True, [_c("running")], "Always", "Running"),
    "crash loop stays running": (True, [_c("waiting", 3, 1, True)], "Always", "Running"),
    "never + success": (True, [_c("terminated", 0, 0)], "Never", "Succeeded"),
    "never + failure": (True, [_c("terminated", 0, 2)], "Never", "Failed"),
    "onfailure + success": (True, [_c("terminated", 0, 0)], "OnFailure", "Succeeded"),
}


@pytest.mark.parametrize(
    ("scheduled", "cs", "policy", "want"), list(PHASE.values()), ids=list(PHASE)
)
def test_phase(scheduled: bool, cs: list[ContainerState], policy: str, want: str) -> None:
    assert phase(PodState(scheduled=scheduled), cs, policy) == want


@pytest.mark.parametrize(
    ("resources", "want"),
    [
        ({}, "BestEffort"),
        ({"requests": {"cpu": "1"}}, "Burstable"),
        (
            {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"cpu": "1", "memory": "1Gi"}},
            "Guaranteed",
        ),
        ({"limits": {"cpu": "1", "memory": "1Gi"}}, "Guaranteed"),
    ],
)
def test_qos_class(resources: dict, want: str) -> None:
    assert qos_class({"spec": {"containers": [{"resources": resources}]}}) == want


PROBES = {
    "default tcp on first port": ({"ports": [{"containerPort": 8080}]}, ("tcp", 8080)),
    "no port, no probe": ({}, ("none", 0)),
    "http by port name": (
        {
            "ports": [{"name": "http", "containerPort": 9000}],
            "readinessProbe": {"httpGet": {"path": "/ready", "port": "http"}},
        },
        ("http", 9000),
    ),
    "tcp explicit": (
        {"readinessProbe": {"tcpSocket": {"port": 81}, "periodSeconds": 2}},
        ("tcp", 81),
    ),
}


@pytest.mark.parametrize(("container", "want"), list(PROBES.values()), ids=list(PROBES))
def test_probe_from_container(container: dict, want: tuple[str, int]) -> None:
    p = from_container(container)
    assert (p.kind, p.port) == want


def test_probe_fields_follow_kubernetes_defaults() -> None:
    p = from_container({"readinessProbe": {"httpGet": {"port": 80}}})
    assert p == Probe(
        "http",
        port=80,
        path="/",
        period_s=10.0,
        timeout_s=1.0,
        success_threshold=1,
        failure_threshold=3,
    )


@pytest.mark.parametrize(
    ("text", "want"),
    [("$(A)-x", "1-x"), ("$$(A)", "$(A)"), ("$(MISSING)", "$(MISSING)"), ("plain $A", "plain $A")],
)
def test_expand(text: str, want: str) -> None:
    assert expand(text, {"A": "1"}) == want
