"""Micro-batching: concurrent submits merge into few predict calls; results go back in order."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from tidal.runtimes.batcher import MicroBatcher


def run(coro):
    return asyncio.run(coro)


async def _double(rows: np.ndarray) -> np.ndarray:
    await asyncio.sleep(0)
    return rows[:, 0] * 2


def test_concurrent_requests_share_predict_calls_and_get_their_own_rows() -> None:
    calls: list[int] = []

    async def predict(rows: np.ndarray) -> np.ndarray:
        calls.append(len(rows))
        return await _double(rows)

    async def main() -> list[tuple[object, float]]:
        batcher = MicroBatcher(predict, max_rows=1000)
        requests = [np.full((i % 3 + 1, 2), float(i)) for i in range(30)]
        return await asyncio.gather(*(batcher.submit(r) for r in requests))

    results = run(main())
    for i, (rows, seconds) in enumerate(results):
        assert rows.tolist() == [2.0 * i] * (i % 3 + 1)
        assert seconds >= 0
    assert sum(calls) == sum(i % 3 + 1 for i in range(30))
    assert len(calls) < 30  # merged: all 30 were queued before the first batch was cut


def test_max_rows_bounds_a_batch_but_never_splits_a_request() -> None:
    calls: list[int] = []

    async def predict(rows: np.ndarray) -> np.ndarray:
        calls.append(len(rows))
        return rows[:, 0]

    async def main() -> None:
        batcher = MicroBatcher(predict, max_rows=5)
        await asyncio.gather(*(batcher.submit(np.ones((3, 1))) for _ in range(4)))
        await batcher.submit(np.ones((9, 1)))  # bigger than the bound: runs alone, whole

    run(main())
    assert calls == [3, 3, 3, 3, 9]


def test_a_bad_request_fails_alone() -> None:
    async def predict(rows: np.ndarray) -> np.ndarray:
        if (rows < 0).any():
            raise ValueError("negative")
        return rows[:, 0]

    async def main() -> list[object]:
        batcher = MicroBatcher(predict)
        good = [batcher.submit(np.array([[float(i)]])) for i in range(3)]
        bad = batcher.submit(np.array([[-1.0]]))
        return await asyncio.gather(*good, bad, return_exceptions=True)

    *good, bad = run(main())
    assert [g[0].tolist() for g in good] == [[0.0], [1.0], [2.0]]
    assert isinstance(bad, ValueError)


def test_rows_of_different_width_or_dtype_are_predicted_apart() -> None:
    widths: list[tuple[int, str]] = []

    async def predict(rows: np.ndarray) -> np.ndarray:
        widths.append((rows.shape[1], rows.dtype.name))
        return rows[:, 0]

    async def main() -> None:
        batcher = MicroBatcher(predict)
        await asyncio.gather(
            batcher.submit(np.ones((1, 2))),
            batcher.submit(np.ones((1, 3))),
            batcher.submit(np.ones((1, 2), dtype=np.float32)),
            batcher.submit(np.ones((1, 2))),
        )

    run(main())
    assert sorted(widths) == [(2, "float32"), (2, "float64"), (3, "float64")]


def test_a_model_returning_the_wrong_row_count_is_isolated_per_request() -> None:
    async def predict(rows: np.ndarray) -> np.ndarray:
        return np.zeros(1)  # always one row

    async def main() -> list[object]:
        batcher = MicroBatcher(predict)
        return await asyncio.gather(
            batcher.submit(np.ones((1, 1))), batcher.submit(np.ones((1, 1)))
        )

    assert [r[0].tolist() for r in run(main())] == [[0.0], [0.0]]


@pytest.mark.parametrize("wait_s", [0.0, 0.001])
def test_wait_window_still_answers_everyone(wait_s: float) -> None:
    async def main() -> list[object]:
        batcher = MicroBatcher(_double, wait_s=wait_s)
        return await asyncio.gather(*(batcher.submit(np.ones((1, 1))) for _ in range(5)))

    assert [r[0].tolist() for r in run(main())] == [[2.0]] * 5
