"""Pods with a capacity: routing, queueing, the LLM's decode slowdown, holds, drains, a shared
node; each request's latency computed exactly on virtual time."""

from __future__ import annotations

import pytest

from tidal.sim.load import Expr
from tidal.sim.serve import DRAIN_GRACE_S, ServeWorld, Service, ServiceModel
from tidal.sim.traces import Arrival


def _svc(arrivals: list[Arrival], cap: int = 1, model: ServiceModel | None = None, **kw) -> Service:
    model = model or ServiceModel(seconds=Expr("s"))
    return Service("web", model, cap, arrivals, kw.get("hold"))


def _run(world: ServeWorld, pods: dict[str, list[tuple[list[str], list[str]]]] | None, ticks: int):
    """Tick the world; `pods[name][k]` gives (existing, ready) at tick k (the last repeats)."""
    for k in range(ticks):
        for s in world.services:
            plan = (pods or {}).get(s.name) or [(["p0"], ["p0"])]
            existing, ready = plan[min(k, len(plan) - 1)]
            s.sync_pods(float(k), existing, ready)
        world.tick(float(k), 1.0)


def _lat(s: Service) -> list[tuple[float, float, int]]:
    return sorted((r.arrival_s, round(r.latency_s, 6), r.status) for r in s.records)


def test_a_full_pod_queues_in_arrival_order() -> None:
    s = _svc([Arrival(0.25, {"s": 1.5}), Arrival(0.5, {"s": 1.0}), Arrival(0.75, {"s": 1.0})])
    _run(ServeWorld([s]), None, 6)
    assert _lat(s) == [(0.25, 1.5, 200), (0.5, 2.25, 200), (0.75, 3.0, 200)]
    q = sorted(s.records, key=lambda r: r.arrival_s)
    assert [round(r.queued_s, 6) for r in q] == [0, 1.25, 2.0]
    assert [r.service_s for r in q] == [1.5, 1.0, 1.0]


def test_the_router_sends_to_the_least_outstanding_pod() -> None:
    s = _svc([Arrival(0.1 * i, {"s": 5.0}) for i in range(4)])
    _run(ServeWorld([s]), {"web": [(["a", "b"], ["a", "b"])]}, 12)
    assert [lat for _, lat, _ in _lat(s)] == [5.0, 5.0, 9.8, 9.8]  # 2 per pod, each its queue
    assert s.stats.arrived == 0 and s._outstanding == 0


def test_llm_decode_slows_as_the_batch_grows() -> None:
    # 10 tokens/s alone, 5 tokens/s each with 2 running; no prefill.
    model = ServiceModel(decode_rate=Expr("10 / running"), prefill_rate=0.0)
    s = _svc(
        [Arrival(0.0, {"GeneratedTokens": 10}), Arrival(0.0, {"GeneratedTokens": 20})],
        cap=2,
        model=model,
    )
    _run(ServeWorld([s]), None, 5)
    # both at 5 tok/s until the first ends at 2 s (10 tokens); the second has 10 left, alone at
    # 10 tok/s: ends at 3 s.
    assert _lat(s) == [(0.0, 2.0, 200), (0.0, 3.0, 200)]
    assert {r.service_s for r in s.records} == {2.0, 4.0}  # nominal: on a full pod (5 tok/s)


def test_prefill_then_decode() -> None:
    model = ServiceModel(decode_rate=Expr("10"), prefill_rate=100.0)
    s = _svc([Arrival(0.0, {"ContextTokens": 50, "GeneratedTokens": 10})], model=model)
    _run(ServeWorld([s]), None, 3)
    assert _lat(s) == [(0.0, 1.5, 200)]


def test_held_at_zero_then_forwarded_or_503() -> None:
    s = _svc([Arrival(0.5, {"s": 1.0}), Arrival(1.5, {"s": 1.0})], hold=2.0)
    plan = {"web": [([], []), ([], []), (["p0"], ["p0"])]}
    _run(ServeWorld([s]), plan, 5)
    got = sorted(s.records, key=lambda r: r.arrival_s)
    assert [(r.held_s, round(r.latency_s, 6), r.status) for r in got] == [
        (1.5, 2.5, 200),  # forwarded at t=2 when the pod is ready, served 1 s
        (0.5, 2.5, 200),  # then behind it on the one pod
    ]
    late = _svc([Arrival(0.5, {"s": 1.0})], hold=2.0)
    _run(ServeWorld([late]), {"web": [([], [])]}, 5)
    assert [(r.status, r.held_s) for r in late.records] == [(503, 2.5)]  # timed out at t=3


def test_a_removed_pod_drains_then_its_rest_gets_503() -> None:
    s = _svc([Arrival(0.0, {"s": 2.0}), Arrival(0.0, {"s": 100.0})], cap=2)
    plan = {"web": [(["p0"], ["p0"]), ([], [])]}
    _run(ServeWorld([s]), plan, int(DRAIN_GRACE_S) + 3)
    got = sorted((r.service_s, r.status, round(r.latency_s, 6)) for r in s.records)
    assert got == [(2.0, 200, 2.0), (100.0, 503, 1.0 + DRAIN_GRACE_S)]
    assert s.pods == {}


def test_pods_on_a_shared_node_share_its_speed() -> None:
    a = _svc([Arrival(0.0, {"s": 1.0})])
    b = Service("other", ServiceModel(seconds=Expr("s")), 1, [Arrival(0.0, {"s": 1.0})], None)
    _run(ServeWorld([a, b], node_concurrency=1), {"other": [(["q0"], ["q0"])]}, 4)
    assert _lat(a) == [(0.0, 2.0, 200)] and _lat(b) == [(0.0, 2.0, 200)]
    alone = _svc([Arrival(0.0, {"s": 1.0})])
    _run(ServeWorld([alone], node_concurrency=1), None, 3)
    assert _lat(alone) == [(0.0, 1.0, 200)]


@pytest.mark.parametrize("node", [None, 1000.0])
def test_node_and_lazy_paths_agree(node: float | None) -> None:
    arr = [Arrival(0.37 * i, {"s": 0.5 + (i % 7) * 0.9}) for i in range(60)]
    s = _svc(arr, cap=3)
    plan = {"web": [(["a"], ["a"])] * 5 + [(["a", "b"], ["a", "b"])] * 10 + [(["b"], ["b"])]}
    _run(ServeWorld([s], node_concurrency=node), plan, 60)
    ref = _svc(arr, cap=3)
    _run(ServeWorld([ref], node_concurrency=None), plan, 60)
    assert _lat(s) == _lat(ref) and len(s.records) == 60


def test_finish_run_records_what_is_still_outstanding() -> None:
    s = _svc([Arrival(0.0, {"s": 10.0}), Arrival(0.5, {"s": 10.0})])
    _run(ServeWorld([s]), None, 2)
    s.finish_run(2.0)
    assert sorted((r.status, r.latency_s) for r in s.records) == [(0, 1.5), (0, 2.0)]


def test_ttft_is_hold_queue_and_prefill() -> None:
    model = ServiceModel(decode_rate=Expr("10"), prefill_rate=100.0)
    s = _svc(
        [
            Arrival(0.0, {"ContextTokens": 50, "GeneratedTokens": 10}),
            Arrival(0.0, {"ContextTokens": 0, "GeneratedTokens": 5}),
        ],
        model=model,
    )
    _run(ServeWorld([s]), None, 4)
    got = sorted((r.latency_s, r.ttft_s) for r in s.records)
    # first: prefill 0.5 s then 1 s of decode; second queued 1.5 s, no prefill, 0.5 s decode
    assert got == [
        (pytest.approx(1.5), pytest.approx(0.5)),
        (pytest.approx(2.0), pytest.approx(1.5)),
    ]
    fixed = _svc([Arrival(0.0, {"s": 1.0})])
    _run(ServeWorld([fixed]), None, 2)
    assert fixed.records[0].ttft_s is None  # not an LLM: the SLO judges the latency
