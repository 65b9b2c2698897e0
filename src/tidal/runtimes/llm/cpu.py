"""How many threads a llama.cpp step may use: all cores when they are free, one when they are not.

llama.cpp's threads meet at a barrier after every graph node (hundreds per token), and this
build's OpenMP barrier spins before it sleeps. When other processes want the cores too, one of
the two threads is descheduled while the other spins at the barrier: measured on the 2-core
machine (SmolLM2-135M, 4 contexts stepped in turn, one busy process beside it), 2 threads made
20 tokens/s with single steps of up to 0.3 s, one thread 54 tokens/s with steps under 31 ms; with
two busy processes 12 vs 36 tokens/s and steps of 3.4 s vs 47 ms. On a quiet machine 2 threads
are 1.6x as fast. So the engine measures, from /proc/stat, how much CPU the *other* processes
use, and steps with the cores they leave (`threads_for`, PURE), never fewer than one.
"""

from __future__ import annotations

import math
import os
import time
from collections import deque
from collections.abc import Callable, Sequence

# A window's others-load counts as "a core taken" from this share of a core on: below it (the
# benchmark client, a log line) two threads still win; above it a thread gets descheduled.
BUSY_SHARE = 0.35
WINDOW_S = 0.25  # how often the engine samples /proc/stat while it generates
HISTORY = 4  # windows remembered: back to all cores only after ~1 s without competition


def cpu_threads() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def threads_for(others: Sequence[float], cores: int) -> int:
    """Threads for the next steps, from the recent windows' CPU use of other processes (cores).

    The worst recent window counts: stepping too wide on a busy machine costs seconds per token,
    stepping too narrow on a quiet one costs a fraction of its speed.
    """
    if cores <= 1:
        return 1
    taken = max(others, default=0.0)
    busy = math.ceil(taken - BUSY_SHARE) if taken > BUSY_SHARE else 0
    return max(1, min(cores, cores - busy))


def read_proc_stat(path: str = "/proc/stat") -> tuple[float, float] | None:
    """(busy, total) CPU seconds of the whole machine, or None where there is no /proc/stat."""
    try:
        with open(path, encoding="ascii") as f:
            fields = f.readline().split()
    except OSError:
        return None
    if not fields or fields[0] != "cpu":
        return None
    ticks = [int(x) for x in fields[1:9]]  # user nice system idle iowait irq softirq steal
    hz = os.sysconf("SC_CLK_TCK")
    idle = ticks[3] + ticks[4]
    total = sum(ticks)
    return (total - idle) / hz, total / hz


class OtherLoad:
    """Samples the CPU used by other processes, in cores, at most once per `WINDOW_S`."""

    def __init__(
        self,
        cores: int,
        stat: Callable[[], tuple[float, float] | None] = read_proc_stat,
        own: Callable[[], float] = time.process_time,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.cores = cores
        self._stat, self._own, self._clock = stat, own, clock
        self._history: deque[float] = deque(maxlen=HISTORY)
        self._last: tuple[float, float, float] | None = None  # (at, machine busy, own)
        self.threads = cores
        self.poll()  # the first window starts now

    def poll(self) -> int:
        """The thread count to use now (re-decided once per window)."""
        now = self._clock()
        if self._last is not None and now - self._last[0] < WINDOW_S:
            return self.threads
        stat = self._stat()
        if stat is None:
            return self.threads
        own = self._own()
        if self._last is not None:
            at, busy, own_before = self._last
            others = max(0.0, (stat[0] - busy) - (own - own_before)) / (now - at)
            if now - at > HISTORY * WINDOW_S:  # the engine was idle: older windows are stale
                self._history.clear()
            self._history.append(others)
            self.threads = threads_for(self._history, self.cores)
        self._last = (now, stat[0], own)
        return self.threads
