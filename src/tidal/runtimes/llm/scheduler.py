"""Which sequences run, which wait, and which context a new one gets (PURE: no threads, no clock).

Up to `max_running` sequences run; the rest wait in arrival order. A sequence that is admitted
gets the free context whose cached tokens share the longest prefix with its prompt, so a chat
template's system prompt is not evaluated again.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import Generic, TypeVar

T = TypeVar("T")


class Scheduler(Generic[T]):
    """FIFO admission under a cap; callers hold their own lock."""

    def __init__(self, max_running: int) -> None:
        if max_running < 1:
            raise ValueError("max_running must be >= 1")
        self.max_running = max_running
        self.waiting: deque[T] = deque()
        self.running: list[T] = []

    def add(self, item: T) -> None:
        self.waiting.append(item)

    def drop_waiting(self, item: T) -> bool:
        """Forget a waiting item (its client left); False if it is not waiting."""
        try:
            self.waiting.remove(item)
        except ValueError:
            return False
        return True

    def admit(self) -> list[T]:
        """Move the oldest waiting items into the running set while there is room."""
        admitted = []
        while self.waiting and len(self.running) < self.max_running:
            item = self.waiting.popleft()
            self.running.append(item)
            admitted.append(item)
        return admitted

    def finish(self, item: T) -> None:
        self.running.remove(item)

    def usage(self) -> float:
        """Share of the contexts held by running sequences (`vllm:kv_cache_usage_perc`)."""
        return len(self.running) / self.max_running


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def pick_slot(cached: Sequence[Sequence[int]], prompt: Sequence[int]) -> int:
    """Index of the free context to use: longest shared prefix, then the lowest index."""
    if not cached:
        raise ValueError("no free context")
    best, best_len = 0, -1
    for i, tokens in enumerate(cached):
        n = common_prefix(tokens, prompt)
        if n > best_len:
            best, best_len = i, n
    return best
