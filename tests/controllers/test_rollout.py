"""Tables for the rollout arithmetic (kubernetes' deployment/util and rolling.go cases)."""

from __future__ import annotations

import pytest

from tidal.controllers.rollout import (
    RSView,
    active_or_latest,
    fenceposts,
    history_victims,
    is_scaling_event,
    new_rs_replicas,
    next_revision,
    old_rs_sizes,
    scaled_sizes,
    scaling_message,
)


def rs(name: str, replicas: int, available: int = 0, created: float = 0.0, **kw: object) -> RSView:
    return RSView(name, replicas, available, created, **kw)  # type: ignore[arg-type]


FENCEPOSTS = {
    "defaults of 4": ("25%", "25%", 4, (1, 1)),
    "defaults of 1: surge rounds up, unavailable down": ("25%", "25%", 1, (1, 0)),
    "defaults of 10": ("25%", "25%", 10, (3, 2)),
    "both zero: one may be unavailable": (0, 0, 3, (0, 1)),
    "absolute": (2, 1, 5, (2, 1)),
    "unset is 25%": (None, None, 8, (2, 2)),
}


@pytest.mark.parametrize(("surge", "unav", "n", "want"), FENCEPOSTS.values(), ids=list(FENCEPOSTS))
def test_fenceposts(surge: object, unav: object, n: int, want: tuple[int, int]) -> None:
    assert fenceposts(surge, unav, n) == want


# (replicas, surge, all ReplicaSets, the new one) -> new size (rolling.go's NewRSNewReplicas)
NEW_SIZES = {
    "first rollout grows to replicas": (3, 1, [], rs("n", 0), 3),
    "surge over old": (4, 1, [rs("o", 4)], rs("n", 0), 1),
    "at the ceiling: wait": (4, 1, [rs("o", 4), rs("n", 1)], rs("n", 1), 1),
    "old shrank: grow": (4, 1, [rs("o", 3), rs("n", 1)], rs("n", 1), 2),
    "never past replicas": (2, 5, [rs("n", 1)], rs("n", 1), 2),
}


@pytest.mark.parametrize(
    ("n", "surge", "all_", "new", "want"), NEW_SIZES.values(), ids=list(NEW_SIZES)
)
def test_new_rs_replicas(n: int, surge: int, all_: list[RSView], new: RSView, want: int) -> None:
    assert new_rs_replicas(n, surge, all_, new) == want


# (replicas, unavailable, old, new) -> old sizes (reconcileOldReplicaSets)
OLD_SIZES = {
    "new not available yet, no budget": (1, 0, [rs("o", 1, 1)], rs("n", 1, 0), {"o": 1}),
    "new available: old goes": (1, 0, [rs("o", 1, 1)], rs("n", 1, 1), {"o": 0}),
    "four: one unavailable allowed": (4, 1, [rs("o", 4, 4)], rs("n", 1, 0), {"o": 3}),
    # budget 3+1 pods - 2 min available - 1 new unavailable = 1: one unhealthy old pod goes
    "unhealthy old pods first, within the budget": (3, 1, [rs("o", 3, 1)], rs("n", 1, 0), {"o": 2}),
    "oldest ReplicaSet first": (
        2, 0, [rs("b", 1, 1, created=2.0), rs("a", 1, 1, created=1.0)], rs("n", 2, 2),
        {"a": 0, "b": 0},
    ),
    "oldest first, partial": (
        2, 0, [rs("b", 1, 1, created=2.0), rs("a", 1, 1, created=1.0)], rs("n", 1, 1),
        {"a": 0, "b": 1},
    ),
    "nothing old": (2, 0, [rs("o", 0)], rs("n", 2, 2), {"o": 0}),
}  # fmt: skip


@pytest.mark.parametrize(
    ("n", "unav", "old", "new", "want"), OLD_SIZES.values(), ids=list(OLD_SIZES)
)
def test_old_rs_sizes(n: int, unav: int, old: list[RSView], new: RSView, want: dict) -> None:
    assert old_rs_sizes(n, unav, old, new) == want


SCALES = {
    "one active takes all": (5, 1, rs("n", 2), [rs("o", 0)], 2, {"n": 5, "o": 0}),
    "none active: newest": (3, 1, None, [rs("a", 0, created=1), rs("b", 0, created=2)], 0,
                            {"a": 0, "b": 3}),
    # 2 old + 2 new at max 5 (4+1 surge) -> replicas 8: allowed 9, add 5; each 2*9/5=3.6 -> +2
    "proportional": (8, 1, rs("n", 2, created=2, max_replicas=5),
                     [rs("o", 2, created=1, max_replicas=5)], 4, {"n": 5, "o": 4}),
    "proportional down": (2, 1, rs("n", 2, created=2, max_replicas=5),
                          [rs("o", 2, created=1, max_replicas=5)], 4, {"n": 2, "o": 1}),
    "saturated new: old to zero": (2, 1, rs("n", 2, 2, desired=2), [rs("o", 1)], 3,
                                   {"n": 2, "o": 0}),
}  # fmt: skip


@pytest.mark.parametrize(
    ("n", "surge", "new", "old", "st", "want"), SCALES.values(), ids=list(SCALES)
)
def test_scaled_sizes(
    n: int, surge: int, new: RSView | None, old: list[RSView], st: int, want: dict
) -> None:
    assert scaled_sizes(n, surge, new, old, st) == want


def test_active_or_latest() -> None:
    assert active_or_latest(None, []) is None
    assert active_or_latest(rs("n", 0), [rs("o", 2)]) == rs("o", 2)
    assert active_or_latest(rs("n", 1), [rs("o", 2)]) is None


def test_scaling_event_and_revision() -> None:
    assert is_scaling_event(3, [rs("a", 2, desired=2)])
    assert not is_scaling_event(2, [rs("a", 2, desired=2), rs("b", 0, desired=7)])
    assert not is_scaling_event(3, [rs("a", 2)])  # no annotation: not ours to judge
    assert next_revision([rs("a", 0, revision=3), rs("b", 0, revision=1)]) == 4
    assert next_revision([]) == 1


HISTORY = {
    "within the limit": ([rs("a", 0, revision=1)], 10, []),
    "zero keeps none": ([rs("a", 0, revision=1), rs("b", 0, revision=2)], 0, ["a", "b"]),
    "oldest revision first": (
        [rs("c", 0, revision=3), rs("a", 0, revision=1), rs("b", 0, revision=2)], 1, ["a", "b"],
    ),
    "scaled ones are kept": ([rs("a", 1, revision=1), rs("b", 0, revision=2)], 0, ["b"]),
    "default 10": ([rs(f"r{i:02}", 0, revision=i) for i in range(12)], None, ["r00", "r01"]),
}  # fmt: skip


@pytest.mark.parametrize(("old", "limit", "want"), HISTORY.values(), ids=list(HISTORY))
def test_history_victims(old: list[RSView], limit: int | None, want: list[str]) -> None:
    assert history_victims(old, limit) == want


def test_scaling_message_kubernetes_wording() -> None:
    assert scaling_message("x-abc", 0, 1) == "Scaled up replica set x-abc from 0 to 1"
    assert scaling_message("x-abc", 3, 1) == "Scaled down replica set x-abc from 3 to 1"
