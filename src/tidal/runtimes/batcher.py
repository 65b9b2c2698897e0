"""Adaptive micro-batching: concurrent requests to one model become one `predict` call.

Requests queue while the previous batch runs; the next batch takes everything queued (up to
`max_rows` rows), so under light load a request runs alone with no added wait, and under heavy
load each `predict` amortises the estimator's fixed per-call cost over many requests. An
optional `wait_s` holds a batch open a little longer to gather more. Rows of one batch are
grouped by (dtype, row shape) and stacked; the result is split back by each request's row count.
If a merged call fails, each request of it is retried alone, so one bad request fails alone.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

PredictCall = Callable[[np.ndarray], Awaitable[Any]]


@dataclass(slots=True)
class _Item:
    rows: np.ndarray
    future: asyncio.Future[Any]


@dataclass(slots=True)
class BatchStats:
    """What the batcher did: handy in tests and in the benchmark report."""

    calls: int = 0
    rows: int = 0
    largest: int = 0


class MicroBatcher:
    """Merges concurrent `submit(rows)` calls into `predict(stacked_rows)` calls."""

    def __init__(
        self,
        predict: PredictCall,
        max_rows: int = 256,
        wait_s: float = 0.0,
    ) -> None:
        self._predict = predict
        self.max_rows = max(1, max_rows)
        self.wait_s = wait_s
        self._queue: deque[_Item] = deque()
        self._runner: asyncio.Task[None] | None = None
        self.stats = BatchStats()

    async def submit(self, rows: np.ndarray) -> tuple[Any, float]:
        """Predict `rows` (a 2-D array) as part of whatever batch is forming.

        Returns this request's slice of the result and the seconds its batch's predict took."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queue.append(_Item(rows, future))
        if self._runner is None or self._runner.done():
            self._runner = asyncio.create_task(self._run())
        return await future

    async def _run(self) -> None:
        # Let the loop read every request that is already waiting on a socket before the first
        # batch is cut; later batches gather what arrived while the previous predict ran.
        await asyncio.sleep(0)
        while self._queue:
            if self.wait_s > 0 and _rows(self._queue) < self.max_rows:
                await asyncio.sleep(self.wait_s)
            batch = self._take()
            groups: dict[tuple[Any, ...], list[_Item]] = {}
            for item in batch:
                groups.setdefault((item.rows.dtype, item.rows.shape[1:]), []).append(item)
            for items in groups.values():
                await self._run_group(items)
            await asyncio.sleep(0)

    def _take(self) -> list[_Item]:
        taken: list[_Item] = []
        rows = 0
        while self._queue:
            n = len(self._queue[0].rows)
            if taken and rows + n > self.max_rows:
                break
            taken.append(self._queue.popleft())
            rows += n
        return taken

    async def _run_group(self, items: list[_Item]) -> None:
        if len(items) == 1:
            await self._call(items[0].rows, items)
            return
        stacked = np.concatenate([item.rows for item in items])
        try:
            result, elapsed = await self._timed(stacked)
            if len(result) != len(stacked):
                raise ValueError(
                    f"predict returned {len(result)} rows for {len(stacked)} instances"
                )
        except Exception:
            for item in items:  # isolate the failing request(s)
                await self._call(item.rows, [item])
            return
        start = 0
        for item in items:
            end = start + len(item.rows)
            if not item.future.done():
                item.future.set_result((result[start:end], elapsed))
            start = end

    async def _call(self, rows: np.ndarray, items: list[_Item]) -> None:
        try:
            result, elapsed = await self._timed(rows)
        except Exception as exc:
            for item in items:
                if not item.future.done():
                    item.future.set_exception(exc)
            return
        for item in items:
            if not item.future.done():
                item.future.set_result((result, elapsed))

    async def _timed(self, rows: np.ndarray) -> tuple[Any, float]:
        loop = asyncio.get_running_loop()
        started = loop.time()
        result = await self._predict(rows)
        elapsed = loop.time() - started
        self.stats.calls += 1
        self.stats.rows += len(rows)
        self.stats.largest = max(self.stats.largest, len(rows))
        return result, elapsed


def _rows(queue: deque[_Item]) -> int:
    return sum(len(item.rows) for item in queue)
