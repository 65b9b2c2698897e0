"""Container logs as the kubelet keeps and serves them: per container, the previous instance
kept on restart, and a time for every line (`--since`, `--sinceTime`, `--timestamps`).

A container writes its stdout and stderr straight into its file (so it keeps logging while no
plane runs): `log` for the first container, `log.<name>` for the others, in the pod's folder.
On a restart the file becomes `<file>.previous` (`kubectl logs --previous`). Times are kept per
chunk beside it, in `<file>.times` (`<byte offset> <unix time>` lines): the runner's `LogClock`
notes the file's size a few times a second, so a line's time is when the chunk holding it was
first seen, within `CLOCK_S` of its write (the kubelet stamps lines when it reads the pipe).
Lines written while no plane ran take the time the next plane saw them, or the file's
modification time for the newest. A file without times (written by hand) uses its mtime.

Reading is pure over (bytes, times, options, now): `select`.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import os
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tidal.api import params
from tidal.api.errors import BadRequest, Invalid
from tidal.api.meta import parse_time, rfc3339_micro

CLOCK_S = 0.25


def log_file(pod_dir: Path, containers: list[str], name: str) -> Path:
    """The current log of container `name` (the first container's is `log`)."""
    first = containers[0] if containers else name
    return pod_dir / ("log" if name == first else f"log.{name}")


def previous(path: Path) -> Path:
    return path.with_name(path.name + ".previous")


def times(path: Path) -> Path:
    return path.with_name(path.name + ".times")


def rotate(path: Path) -> None:
    """A new instance starts: the current log (and its times) becomes the previous one."""
    for src, dst in ((path, previous(path)), (times(path), times(previous(path)))):
        if src.exists():
            os.replace(src, dst)
        else:
            with contextlib.suppress(FileNotFoundError):
                dst.unlink()


def read_times(path: Path) -> list[tuple[int, float]]:
    out: list[tuple[int, float]] = []
    try:
        text = times(path).read_text()
    except OSError:
        return out
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2:
            with contextlib.suppress(ValueError):
                out.append((int(parts[0]), float(parts[1])))
    out.sort()
    return out


class LogClock:
    """Notes each running container's log size with the time (the chunk times)."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.seen: dict[Path, int] = {}

    def tick(self, paths: Iterable[Path], *, prune: bool = True) -> None:
        """Note the sizes of `paths` (the running containers' logs; `prune` forgets others)."""
        now = self.clock()
        live = set()
        for path in paths:
            live.add(path)
            try:
                size = path.stat().st_size
            except OSError:
                continue
            last = self.seen.get(path)
            if last is None:
                known = read_times(path)
                last = known[-1][0] if known else 0
            if size < last:
                last = 0  # a new file (rotated): its times start again
            if size > last:
                with contextlib.suppress(OSError), times(path).open("a") as f:
                    f.write(f"{size} {now:.6f}\n")
            self.seen[path] = size
        for gone in set(self.seen) - live if prune else ():
            del self.seen[gone]


@dataclass(frozen=True, slots=True)
class LogOptions:
    container: str
    previous: bool = False
    follow: bool = False
    timestamps: bool = False
    tail_lines: int | None = None
    limit_bytes: int | None = None
    since_seconds: int | None = None
    since_time: float | None = None

    def since(self, now: float) -> float | None:
        if self.since_seconds is not None:
            return now - self.since_seconds
        return self.since_time


def _int(query: Any, key: str, minimum: int) -> int | None:
    value = params.int_param(query, key)
    if value is not None and value < minimum:
        word = "greater than 0" if minimum == 1 else "greater than or equal to 0"
        raise Invalid(f'PodLogOptions "" is invalid: {key}: Invalid value: {value}: must be {word}')
    return value


def options(query: Any, pod_name: str, containers: list[str]) -> LogOptions:
    """PodLogOptions from the query, checked as the API server does (BadRequest)."""
    container = query.get("container") or ""
    if not container:
        if len(containers) == 1:
            container = containers[0]
        elif not containers:
            raise BadRequest(f"a container name must be specified for pod {pod_name}")
        else:
            raise BadRequest(
                f"a container name must be specified for pod {pod_name}, "
                f"choose one of: [{' '.join(containers)}]"
            )
    if container not in containers:
        raise BadRequest(f"container {container} is not valid for pod {pod_name}")
    since_seconds = _int(query, "sinceSeconds", 1)
    since_time = None
    if query.get("sinceTime"):
        since_time = parse_time(query["sinceTime"])
        if since_time is None:
            raise BadRequest(f"sinceTime: Invalid value: {query['sinceTime']!r}: not RFC 3339")
    if since_seconds is not None and since_time is not None:
        raise Invalid(
            'PodLogOptions "" is invalid: sinceSeconds: Forbidden: at most one of `sinceTime` '
            "or `sinceSeconds` may be specified"
        )
    return LogOptions(
        container=container,
        previous=params.bool_param(query, "previous"),
        follow=params.bool_param(query, "follow"),
        timestamps=params.bool_param(query, "timestamps"),
        tail_lines=_int(query, "tailLines", 0),
        limit_bytes=_int(query, "limitBytes", 1),
        since_seconds=since_seconds,
        since_time=since_time,
    )


def stamp(at: float) -> bytes:
    """The kubelet's `--timestamps` prefix: RFC 3339 with nanoseconds, UTC."""
    return rfc3339_micro(at).replace("Z", "000Z").encode() + b" "


def lines_with_times(
    data: bytes, start: int, chunk_times: list[tuple[int, float]], fallback: float
) -> list[tuple[float, bytes]]:
    """Each line of `data` (which starts at byte `start` of the file) with its time: that of the
    first chunk noted at or after the line's end; `fallback` when none was noted yet. PURE."""
    offsets = [o for o, _ in chunk_times]
    out = []
    pos = start
    for line in data.splitlines(keepends=True):
        pos += len(line)
        i = bisect.bisect_left(offsets, pos)
        out.append((chunk_times[i][1] if i < len(chunk_times) else fallback, line))
    return out


def select(lines: list[tuple[float, bytes]], opts: LogOptions, now: float) -> bytes:
    """The kubelet's order: the last `tailLines`, then those since the time, then the byte
    limit; each line prefixed with its time for `timestamps`. PURE."""
    if opts.tail_lines is not None:
        lines = lines[len(lines) - opts.tail_lines :] if opts.tail_lines else []
    since = opts.since(now)
    if since is not None:
        lines = [(t, line) for t, line in lines if t >= since]
    data = b"".join((stamp(t) + line) if opts.timestamps else line for t, line in lines)
    if opts.limit_bytes is not None:
        data = data[: opts.limit_bytes]
    return data


def read(path: Path, opts: LogOptions, now: float) -> bytes:
    """The log the options ask for (`path`: the container's current file)."""
    if opts.previous:
        path = previous(path)
    try:
        data = path.read_bytes()
        mtime = path.stat().st_mtime
    except OSError:
        return b""
    return select(lines_with_times(data, 0, read_times(path), mtime), opts, now)


async def follow(
    path: Path,
    opts: LogOptions,
    first: bytes,
    alive: Callable[[], bool],
    clock: Callable[[], float],
    poll_s: float = 0.2,
) -> AsyncIterator[bytes]:
    """`logs -f`: what was there (`first`), then whole lines as they come, until the pod is
    gone or finished (`alive`)."""
    try:
        offset = path.stat().st_size
    except OSError:
        offset = 0
    if first:
        yield first
    partial = b""
    while True:
        await asyncio.sleep(poll_s)
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            size = 0
        if size < offset:
            offset, partial = 0, b""  # a restart started a new file
        if size > offset:
            with path.open("rb") as f:
                f.seek(offset)
                chunk = f.read(size - offset)
            start = offset - len(partial)
            offset = size
            chunk = partial + chunk
            whole, _, partial = chunk.rpartition(b"\n")
            if whole:
                whole += b"\n"
                lines = lines_with_times(whole, start, read_times(path), clock())
                yield b"".join((stamp(t) + ln) if opts.timestamps else ln for t, ln in lines)
            continue
        if not alive():
            break
    if partial:
        yield (stamp(clock()) + partial) if opts.timestamps else partial
