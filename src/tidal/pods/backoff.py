"""Restart back-off, PURE: the kubelet's crash-loop delay.

The kubelet restarts a container that exited for the first time at once, then waits 10 s,
doubling each time up to 5 minutes (`CrashLoopBackOff` while it waits); a container that ran
for 10 minutes (2 × the cap) before it exited starts the sequence again.
"""

from __future__ import annotations

from tidal.api import gotime

INITIAL_S = 10.0
MAX_S = 300.0


def delay(failures: int, initial_s: float = INITIAL_S, max_s: float = MAX_S) -> float:
    """The wait before restarting after the `failures`-th consecutive exit (1 = the first)."""
    if failures <= 1:
        return 0.0
    return min(initial_s * 2 ** (failures - 2), max_s)


def failures_after_exit(failures: int, ran_for_s: float, max_s: float = MAX_S) -> int:
    """The consecutive-exit count once a container exits after running `ran_for_s`."""
    return 1 if ran_for_s >= 2 * max_s else failures + 1


def human(seconds: float) -> str:
    """`10s`, `1m20s`, `5m0s`: Go's duration format of whole seconds, as the kubelet prints it."""
    return gotime.format_duration(int(seconds) * gotime.SECOND)


# The plane's own supervised processes (the router, a Prometheus it runs) restart on the same
# doubling with a smaller start and cap: the first exit after a stable run restarts at once, each
# further exit within 2 x the cap of the last start waits 0.5 s, 1 s, 2 s ... 10 s.
SUPERVISED_INITIAL_S = 0.5
SUPERVISED_MAX_S = 10.0


def supervised_restart(failures: int, ran_for_s: float) -> tuple[int, float]:
    """PURE: (consecutive failures, seconds to wait) once a supervised process that had
    `failures` consecutive failures exits after running `ran_for_s`."""
    n = failures_after_exit(failures, ran_for_s, SUPERVISED_MAX_S)
    return n, delay(n, SUPERVISED_INITIAL_S, SUPERVISED_MAX_S)
