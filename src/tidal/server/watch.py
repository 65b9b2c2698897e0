"""The watch fan-out: every write is published to the open watches whose kind, namespace and
selectors it matches, and kept in a bounded history so that a watch can resume from a
resourceVersion; older than the history reaches (or newer than the store) is 410 Gone."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import orjson

from tidal.api.errors import BadRequest, Gone
from tidal.api.selectors import FieldSelector, LabelSelector
from tidal.server.objects import Obj
from tidal.server.store import Key

HISTORY = 10_000
HISTORY_BYTES = 4 * 1024 * 1024  # and at most this much JSON (objects reach 1.5 MiB each)


@dataclass
class _Event:
    """One change, kept as JSON bytes (the history holds thousands; dicts would cost 10x)."""

    rv: int
    type: str
    kind: str
    namespace: str
    body: bytes
    old_body: bytes | None
    obj: Obj | None = None  # parsed forms, set while the event is being published
    old: Obj | None = None

    def parsed(self) -> tuple[Obj, Obj | None]:
        obj = self.obj if self.obj is not None else orjson.loads(self.body)
        old = self.old
        if old is None and self.old_body is not None:
            old = orjson.loads(self.old_body)
        return obj, old


@dataclass
class Watcher:
    """One open watch: what it selects and the queue its events wait in (None ends it)."""

    kind: str
    namespace: str | None
    labels: LabelSelector
    fields: FieldSelector
    queue: asyncio.Queue[tuple[str, bytes] | None] = field(default_factory=asyncio.Queue)

    def matches(self, obj: Obj | None) -> bool:
        if obj is None:
            return False
        return self.labels.matches(obj.get("metadata", {}).get("labels")) and self.fields.matches(
            obj
        )


class WatchHub:
    """The open watches and the history of changes since `floor` (the oldest resourceVersion a
    watch may resume from; the history is in memory, so it starts at the store's on open)."""

    def __init__(self, floor: int) -> None:
        self._history: deque[_Event] = deque()
        self._floor = floor
        self._history_bytes = 0
        self._watchers: list[Watcher] = []

    def close(self) -> None:
        for w in self._watchers:
            w.queue.put_nowait(None)
        self._watchers.clear()

    @property
    def count(self) -> int:
        return len(self._watchers)

    def publish(self, etype: str, key: Key, obj: Obj, old: Obj | None) -> None:
        body = orjson.dumps(obj)
        old_body = orjson.dumps(old) if old is not None else None
        ev = _Event(int(obj["metadata"]["resourceVersion"]), etype, key[0], key[1], body, old_body)
        self._history.append(ev)
        self._history_bytes += len(body) + len(old_body or b"")
        while len(self._history) > HISTORY or self._history_bytes > HISTORY_BYTES:
            gone = self._history.popleft()
            self._history_bytes -= len(gone.body) + len(gone.old_body or b"")
            self._floor = gone.rv
        ev.obj, ev.old = obj, old
        for w in list(self._watchers):
            _deliver(w, ev)
        ev.obj = ev.old = None

    def open(
        self,
        w: Watcher,
        resource_version: str | None,
        store_rv: int,
        current: Callable[[], list[tuple[str, bytes]]],
    ) -> AsyncIterator[tuple[str, bytes]]:
        """Start `w`: `current()` (the objects it matches, as ADDED) first when
        `resource_version` is None/"0", else the history after it (Gone when the history no longer reaches back to
        it, or when it is newer than `store_rv`: a resumed watch never has a gap)."""
        start: list[tuple[str, bytes]] = []
        if resource_version in (None, "", "0"):
            start = current()
        else:
            if not (resource_version.isascii() and resource_version.isdigit()):
                raise BadRequest(f"invalid resourceVersion {resource_version!r}")
            rv = int(resource_version)
            if rv < self._floor:
                raise Gone(f"too old resource version: {rv} ({self._floor})")
            if rv > store_rv:
                # newer than anything this store wrote (a home made afresh since): the changes
                # after it cannot be told apart from older ones, so the client relists
                raise Gone(f"too large resource version: {rv}, current: {store_rv}")
            for ev in self._history:
                if ev.rv > rv:
                    _deliver(w, ev)
        self._watchers.append(w)
        return self._stream(w, start)

    async def _stream(
        self, w: Watcher, start: list[tuple[str, bytes]]
    ) -> AsyncIterator[tuple[str, bytes]]:
        try:
            for item in start:
                yield item
            while True:
                item = await w.queue.get()
                if item is None:
                    return
                yield item
        finally:
            if w in self._watchers:
                self._watchers.remove(w)


def _deliver(w: Watcher, ev: _Event) -> None:
    """Queue `ev` for `w` as the watcher sees it: a MODIFIED that moves an object into (out of)
    its selectors is an ADDED (DELETED) to it."""
    if w.kind != ev.kind or (w.namespace is not None and w.namespace != ev.namespace):
        return
    if w.labels.empty and not w.fields.terms:
        w.queue.put_nowait((ev.type, ev.body))
        return
    obj, old = ev.parsed()
    now_in = w.matches(obj)
    if ev.type == "MODIFIED":
        was_in = w.matches(old)
        if now_in and not was_in:
            w.queue.put_nowait(("ADDED", ev.body))
        elif was_in and not now_in:
            w.queue.put_nowait(("DELETED", ev.body))
        elif now_in:
            w.queue.put_nowait(("MODIFIED", ev.body))
    elif now_in:
        w.queue.put_nowait((ev.type, ev.body))
