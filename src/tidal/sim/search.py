"""`tidal tune`'s decisions, PURE: which policies to try next and which is best.

A `Candidate` is a policy kind (`hpa` or `kpa`) and a value for each of its parameters, each
taken from a small grid (`SPACES`); the search starts at the kind's defaults (Kubernetes' HPA,
Knative's KPA; the per-pod target from the scenario) and does coordinate descent: for each
parameter in turn, every value of its grid with the others fixed (`sweep`), then moves to the
best (`best`) if it is strictly better (a parameter that changes nothing keeps its value). Rounds repeat until one changes nothing or the evaluation budget is spent.

Best (`rank`): a policy that meets the SLO beats one that does not; among those that meet it
the lowest replica-seconds wins, then fewer requests over the SLO; among those that do not, the
fewest requests over the SLO wins (the closest), then the lowest cost. Ties break on the
parameters' values, so the choice never depends on the order of evaluation."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

HPA = "hpa"
KPA = "kpa"

# Each kind's parameters and the values tried (seconds for windows and delays).
SPACES: dict[str, dict[str, tuple[float, ...]]] = {
    HPA: {
        "target": (2, 2.5, 3, 3.5, 4, 4.5, 5, 6),  # per pod, in the scenario's metric
        "scaleDownWindow": (0, 15, 30, 60, 120, 300),  # behavior.scaleDown stabilization
        "scaleDownPercent": (10, 25, 50, 100),  # behavior.scaleDown Percent policy per 15 s
        "scaleUpTolerance": (0, 0.02, 0.05, 0.1),  # behavior.scaleUp.tolerance
        "minReplicas": (1, 2, 4, 6, 8),
    },
    KPA: {
        "target": (2, 2.5, 3, 3.5, 4, 4.5, 5, 6),  # autoscaling.knative.dev/target
        "window": (10, 20, 30, 60, 120),  # stable window
        "scaleDownDelay": (0, 15, 30, 60, 120),
        "panicThreshold": (110, 150, 200, 400),  # percent of the target
        "minScale": (0, 1, 2, 4, 6),
    },
}
# Kubernetes' HPA defaults (behavior: scale down 100 % per 15 s after a 300 s window) and
# Knative's KPA defaults (60 s window, no scale-down delay, panic at 200 %, scale to zero).
DEFAULTS: dict[str, dict[str, float]] = {
    HPA: {
        "scaleDownWindow": 300,
        "scaleDownPercent": 100,
        "scaleUpTolerance": 0.1,
        "minReplicas": 1,
    },
    KPA: {"window": 60, "scaleDownDelay": 0, "panicThreshold": 200, "minScale": 0},
}


@dataclass(frozen=True, slots=True)
class Candidate:
    kind: str
    params: tuple[tuple[str, float], ...]  # sorted by name

    @classmethod
    def of(cls, kind: str, params: Mapping[str, float]) -> Candidate:
        return cls(kind, tuple(sorted((k, float(v)) for k, v in params.items())))

    def get(self, name: str) -> float:
        return dict(self.params)[name]

    def with_(self, name: str, value: float) -> Candidate:
        return Candidate.of(self.kind, dict(self.params) | {name: value})

    def label(self) -> str:
        return " ".join(f"{k}={v:g}" for k, v in self.params)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one simulated run of a candidate measured."""

    replica_seconds: float
    bound: float
    p99_s: float
    over: int  # requests over the SLO
    over_share: float
    slo_met: bool

    @property
    def ratio(self) -> float:
        return self.replica_seconds / self.bound if self.bound > 0 else float("inf")


def start(kind: str, target: float) -> Candidate:
    """The kind's defaults with the scenario's per-pod target."""
    return Candidate.of(kind, DEFAULTS[kind] | {"target": target})


def sweep(current: Candidate, name: str, space: Mapping[str, Sequence[float]]) -> list[Candidate]:
    """`current` with each value of `name`'s grid (and its own value, if off the grid)."""
    values = sorted({*space[name], current.get(name)})
    return [current.with_(name, v) for v in values]


def rank(c: Candidate, o: Outcome) -> tuple:
    """Smaller is better (see the module's docstring)."""
    if o.slo_met:
        return (0, o.replica_seconds, o.over, c.params)
    return (1, o.over, o.replica_seconds, c.params)


def _key(c: Candidate, o: Outcome, prefer: Candidate | None) -> tuple:
    """`rank`, with equal outcomes ordered by how few parameters differ from `prefer`."""
    r = rank(c, o)
    if prefer is None:
        return r
    differ = sum(1 for (k, v), (_, w) in zip(c.params, prefer.params, strict=False) if v != w)
    return (*r[:-1], differ, r[-1])


def best(results: Mapping[Candidate, Outcome], prefer: Candidate | None = None) -> Candidate:
    """The best candidate; among equal outcomes the one closest to `prefer` (the start)."""
    return min(results, key=lambda c: _key(c, results[c], prefer))


def top(
    results: Mapping[Candidate, Outcome], n: int, prefer: Candidate | None = None
) -> list[Candidate]:
    return sorted(results, key=lambda c: _key(c, results[c], prefer))[:n]


def descend(
    first: Candidate,
    evaluate: Callable[[list[Candidate]], Mapping[Candidate, Outcome]],
    *,
    space: Mapping[str, Sequence[float]] | None = None,
    budget: int = 40,
    rounds: int = 3,
) -> dict[Candidate, Outcome]:
    """Coordinate descent from `first`; `evaluate` runs a batch (in any order, in parallel);
    at most `budget` evaluations. Returns every result (for the table)."""
    space = space if space is not None else SPACES[first.kind]
    results: dict[Candidate, Outcome] = dict(evaluate([first]))
    current = first
    for _ in range(rounds):
        moved = False
        for name in space:
            batch = sweep(current, name, space)
            todo = [c for c in batch if c not in results][: max(0, budget - len(results))]
            if todo:
                results.update(evaluate(todo))
            here = {c: results[c] for c in batch if c in results}
            chosen = best(here)
            if rank(chosen, results[chosen])[:-1] < rank(current, results[current])[:-1]:
                current, moved = chosen, True  # strictly better: a tie keeps the current value
            if len(results) >= budget:
                return results
        if not moved:
            break
    return results
