"""Least-outstanding-requests choice: one named row per behaviour."""

from __future__ import annotations

import pytest

from tidal.router.choose import choose

CASES = {
    "no endpoints": ((), 0, frozenset(), -1),
    "single endpoint": ((5,), 0, frozenset(), 0),
    "least loaded wins": ((3, 1, 2), 0, frozenset(), 1),
    "tie broken by start": ((0, 0, 0), 2, frozenset(), 2),
    "tie rotation wraps": ((1, 0, 0), 3, frozenset(), 1),  # start 3 % 3 = 0 -> 0 is loaded, 1 wins
    "start past less loaded still finds min": ((0, 4, 4), 1, frozenset(), 0),
    "excluded skipped even if least": ((0, 2, 1), 0, frozenset({0}), 2),
    "all excluded": ((0, 1), 0, frozenset({0, 1}), -1),
    "tie among loaded after exclusion": ((0, 3, 3), 0, frozenset({0}), 1),
}


@pytest.mark.parametrize(
    ("loads", "start", "exclude", "want"), list(CASES.values()), ids=list(CASES)
)
def test_choose(loads: tuple[int, ...], start: int, exclude: frozenset[int], want: int) -> None:
    assert choose(loads, start, exclude) == want


def test_rotation_spreads_equal_load() -> None:
    picks = [choose((0, 0, 0), start) for start in range(6)]
    assert picks == [0, 1, 2, 0, 1, 2]
