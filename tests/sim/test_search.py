"""tune's pure decisions: the ranking of outcomes and the coordinate descent."""

from __future__ import annotations

import pytest

from tidal.sim import search
from tidal.sim.search import Candidate, Outcome


def _o(cost: float, over: int, met: bool) -> Outcome:
    return Outcome(cost, 100.0, 1.0, over, over / 1000, met)


A = Candidate.of("hpa", {"target": 4, "minReplicas": 1})
B = Candidate.of("hpa", {"target": 5, "minReplicas": 1})


@pytest.mark.parametrize(
    ("a", "b", "winner", "why"),
    [
        (_o(200, 5, True), _o(100, 50, False), "a", "meeting the SLO beats being cheaper"),
        (_o(120, 5, True), _o(110, 9, True), "b", "both meet: the cheaper wins"),
        (_o(110, 5, True), _o(110, 9, True), "a", "same cost: fewer over the SLO"),
        (_o(100, 30, False), _o(300, 20, False), "b", "neither meets: the closest wins"),
        (_o(100, 20, False), _o(300, 20, False), "a", "equally close: the cheaper"),
        (_o(100, 20, True), _o(100, 20, True), "a", "a tie breaks on the parameters"),
    ],
)
def test_best(a: Outcome, b: Outcome, winner: str, why: str) -> None:
    got = search.best({A: a, B: b})
    assert got == (A if winner == "a" else B), why
    assert search.best({B: b, A: a}) == got, "the order of evaluation does not matter"


def test_sweep_covers_the_grid_and_the_current_value() -> None:
    c = Candidate.of("hpa", {"target": 3.7, "minReplicas": 1})
    got = search.sweep(c, "target", {"target": (2, 4)})
    assert [x.get("target") for x in got] == [2, 3.7, 4]
    assert all(x.get("minReplicas") == 1 for x in got)


def test_start_is_the_kinds_defaults_with_the_target() -> None:
    c = search.start("hpa", 4)
    assert c.get("scaleDownWindow") == 300 and c.get("target") == 4
    k = search.start("kpa", 2)
    assert k.get("window") == 60 and k.get("minScale") == 0 and k.get("panicThreshold") == 200


def _fake(cost_of: dict[str, float]) -> tuple[list[int], object]:
    """A cost surface: cost = sum of per-value costs; meets the SLO when x >= 2."""
    batches: list[int] = []

    def evaluate(batch: list[Candidate]) -> dict[Candidate, Outcome]:
        batches.append(len(batch))
        out = {}
        for c in batch:
            x, y = c.get("x"), c.get("y")
            out[c] = _o(cost_of[f"x{x:g}"] + cost_of[f"y{y:g}"], 0 if x >= 2 else 50, x >= 2)
        return out

    return batches, evaluate


SPACE = {"x": (1, 2, 3), "y": (1, 2, 3)}
COSTS = {"x1": 1, "x2": 5, "x3": 9, "y1": 7, "y2": 1, "y3": 4}


def test_descend_finds_the_cheapest_that_meets_the_slo() -> None:
    batches, evaluate = _fake(COSTS)
    res = search.descend(Candidate.of("t", {"x": 3, "y": 3}), evaluate, space=SPACE, budget=50)
    best = search.best(res)
    assert (best.get("x"), best.get("y")) == (2, 2)  # x=1 is cheaper but misses the SLO
    assert len(res) == sum(batches) and len(res) <= 9


def test_descend_stops_at_the_budget() -> None:
    batches, evaluate = _fake(COSTS)
    res = search.descend(Candidate.of("t", {"x": 3, "y": 3}), evaluate, space=SPACE, budget=3)
    assert len(res) == 3 and sum(batches) == 3


def test_descend_when_nothing_meets_reports_the_closest() -> None:
    def evaluate(batch: list[Candidate]) -> dict[Candidate, Outcome]:
        return {c: _o(10, int(10 * c.get("x")), False) for c in batch}

    res = search.descend(Candidate.of("t", {"x": 3}), evaluate, space={"x": (1, 2, 3)})
    assert search.best(res).get("x") == 1 and not res[search.best(res)].slo_met


def test_descend_keeps_a_value_that_changes_nothing() -> None:
    def evaluate(batch: list[Candidate]) -> dict[Candidate, Outcome]:
        return {c: _o(10 * c.get("x"), 0, True) for c in batch}  # y changes nothing

    first = Candidate.of("t", {"x": 3, "y": 2})
    res = search.descend(first, evaluate, space={"x": (1, 2, 3), "y": (1, 2, 3)})
    assert search.best(res).get("x") == 1
    # the descent stayed at y=2 (its y sweep found only ties), though y=1 sorts first
    assert Candidate.of("t", {"x": 1, "y": 2}) in res


def test_equal_outcomes_prefer_the_fewest_changes_from_the_start() -> None:
    start = Candidate.of("t", {"x": 3, "y": 3})
    same = _o(10, 0, True)
    results = {
        Candidate.of("t", {"x": 1, "y": 1}): same,
        Candidate.of("t", {"x": 1, "y": 3}): same,
        Candidate.of("t", {"x": 2, "y": 2}): _o(11, 0, True),
    }
    assert search.best(results, prefer=start) == Candidate.of("t", {"x": 1, "y": 3})
    assert search.best(results) == Candidate.of("t", {"x": 1, "y": 1})
