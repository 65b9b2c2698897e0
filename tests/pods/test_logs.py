"""Container logs: per container, the previous instance, line times (tables), and real pods."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from tests.pods.test_runner import until
from tests.support import stop_runner
from tidal.api.errors import ApiError, BadRequest, Invalid
from tidal.pods import logs
from tidal.pods.runner import PodRunner, RunnerSettings
from tidal.server.app import ApiServer
from tidal.server.inprocess import InProcessClient
from tidal.server.registry import Registry

T0 = 1_700_000_000.0
TIMES = [(4, T0), (8, T0 + 10), (12, T0 + 20)]  # "a1\nb1\n" by T0, ... (offset, time)

LINES = {
    "each line takes its chunk's time": (b"aaa\nbbb\nccc\n", 0, TIMES, [T0, T0 + 10, T0 + 20]),
    "a line ending inside a chunk takes that chunk's": (b"a\nb\nc\n", 0, TIMES, [T0, T0, T0 + 10]),
    "not yet noted: the fallback": (b"aaa\nbbb\nccc\nddd\n", 0, TIMES, [T0, T0 + 10, T0 + 20, 99]),
    "read from an offset": (b"ccc\n", 8, TIMES, [T0 + 20]),
    "no times at all": (b"x\ny\n", 0, [], [99, 99]),
}


@pytest.mark.parametrize(("data", "start", "chunks", "want"), list(LINES.values()), ids=list(LINES))
def test_lines_with_times(
    data: bytes, start: int, chunks: list[tuple[int, float]], want: list[float]
) -> None:
    got = logs.lines_with_times(data, start, chunks, 99)
    assert [t for t, _ in got] == want
    assert b"".join(line for _, line in got) == data


LINES3 = [(T0, b"one\n"), (T0 + 10, b"two\n"), (T0 + 20, b"three\n")]
SELECT: dict[str, tuple[dict[str, Any], bytes]] = {
    "all": ({}, b"one\ntwo\nthree\n"),
    "tail 2": ({"tail_lines": 2}, b"two\nthree\n"),
    "tail 0": ({"tail_lines": 0}, b""),
    "since seconds (now = T0+25)": ({"since_seconds": 16}, b"two\nthree\n"),
    "since time": ({"since_time": T0 + 20}, b"three\n"),
    "tail then since": ({"tail_lines": 1, "since_seconds": 100}, b"three\n"),
    "limit bytes": ({"limit_bytes": 6}, b"one\ntw"),
    "timestamps": (
        {"timestamps": True, "tail_lines": 1},
        b"2023-11-14T22:13:40.000000000Z three\n",
    ),
}


@pytest.mark.parametrize(("opts", "want"), list(SELECT.values()), ids=list(SELECT))
def test_select(opts: dict[str, Any], want: bytes) -> None:
    assert logs.select(LINES3, logs.LogOptions("c", **opts), T0 + 25) == want


OPTIONS: dict[str, tuple[dict[str, str], list[str], Any]] = {
    "one container: defaulted": ({}, ["a"], logs.LogOptions("a")),
    "named": ({"container": "b", "previous": "true"}, ["a", "b"], logs.LogOptions("b", True)),
    "two containers, none named": (
        {},
        ["a", "b"],
        (BadRequest, "a container name must be specified for pod p, choose one of: [a b]"),
    ),
    "unknown container": ({"container": "z"}, ["a"], (BadRequest, "container z is not valid")),
    "since both ways": (
        {"sinceSeconds": "5", "sinceTime": "2024-01-01T00:00:00Z"},
        ["a"],
        (Invalid, "at most one of `sinceTime` or `sinceSeconds`"),
    ),
    "since 0": ({"sinceSeconds": "0"}, ["a"], (Invalid, "must be greater than 0")),
    "tail -1": ({"tailLines": "-1"}, ["a"], (Invalid, "greater than or equal to 0")),
    "bad time": ({"sinceTime": "yesterday"}, ["a"], (BadRequest, "sinceTime")),
    "since time parsed": (
        {"sinceTime": "2023-11-14T22:13:20Z"},
        ["a"],
        logs.LogOptions("a", since_time=T0),
    ),
}


@pytest.mark.parametrize(("query", "containers", "want"), list(OPTIONS.values()), ids=list(OPTIONS))
def test_options(query: dict[str, str], containers: list[str], want: Any) -> None:
    if isinstance(want, logs.LogOptions):
        assert logs.options(query, "p", containers) == want
        return
    kind, text = want
    with pytest.raises(kind) as err:
        logs.options(query, "p", containers)
    assert text in str(err.value)


def test_log_clock_notes_chunks_and_restarts_after_rotation(tmp_path: Path) -> None:
    now = [T0]
    clock = logs.LogClock(lambda: now[0])
    path = tmp_path / "log"
    path.write_bytes(b"a\n")
    clock.tick([path])
    now[0] = T0 + 5
    clock.tick([path])  # nothing new: nothing noted
    with path.open("ab") as f:
        f.write(b"b\n")
    clock.tick([path])
    assert logs.read_times(path) == [(2, T0), (4, T0 + 5)]
    logs.rotate(path)
    assert logs.read_times(logs.previous(path)) == [(2, T0), (4, T0 + 5)]
    path.write_bytes(b"c\n")
    now[0] = T0 + 9
    clock.tick([path])
    assert logs.read_times(path) == [(2, T0 + 9)]
    opts = logs.LogOptions("c", timestamps=True)
    assert logs.read(path, opts, T0 + 10).endswith(b" c\n")
    assert logs.read(path, logs.LogOptions("c", previous=True), T0) == b"a\nb\n"


def test_two_containers_previous_and_since_on_real_pods(tmp_path: Path) -> None:
    """Container b's log is b's; after a restart --previous is the instance before."""
    marker = tmp_path / "crashed-once"
    spec = {
        "containers": [
            {"name": "a", "image": "x", "command": ["sh", "-c", "echo from-a; exec sleep 300"]},
            {
                "name": "b",
                "image": "x",
                "command": [
                    "sh",
                    "-c",
                    f"if [ -e {marker} ]; then echo second-b; exec sleep 300; fi; "
                    f"touch {marker}; echo first-b; exit 3",
                ],
            },
        ]
    }
    manifest = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "two"}, "spec": spec}
    home = tmp_path / "home"

    async def main() -> None:
        registry = Registry.open(home)
        app = ApiServer(registry, home, "token")
        client = InProcessClient(registry, raw=app.get_raw)
        settings = RunnerSettings(endpoint_drain_s=0.05, backoff_initial_s=0.2)
        runner = PodRunner(client, home, settings=settings)
        task = asyncio.create_task(runner.run())
        path = "/api/v1/namespaces/default/pods/two/log"

        async def get(**params: str) -> str:
            return (await app.get_raw(path, params)).decode()

        try:
            await client.create(manifest, namespace="default")

            async def b_restarted() -> bool:
                p = await client.get("Pod", "two", "default")
                b = next(s for s in p["status"].get("containerStatuses", []) if s["name"] == "b")
                return b["restartCount"] >= 1 and "running" in b["state"]

            await until(b_restarted, "b restarted once")
            assert "from-a" in await until(lambda: get(container="a"), "a's log")
            b_now = await until(lambda: get(container="b"), "b's log")
            assert "second-b" in b_now and "first-b" not in b_now and "from-a" not in b_now
            assert await get(container="b", previous="true") == "first-b\n"
            with pytest.raises(ApiError) as err:
                await get(container="a", previous="true")
            assert 'previous terminated container "a" in pod "two" not found' in str(err.value)
            with pytest.raises(ApiError):
                await get()  # two containers: one must be named
            stamped = await get(container="a", timestamps="true")
            assert stamped.split(" ", 1)[1] == "from-a\n" and stamped[:4].isdigit()
            # a time far in the future: no line yet
            assert await get(container="a", sinceTime="2999-01-01T00:00:00Z") == ""
            assert await get(container="a", sinceSeconds="3600") == "from-a\n"
        finally:
            await stop_runner(runner, task)
            registry.close()

    asyncio.run(main())
