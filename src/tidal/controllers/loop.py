"""The level-triggered reconcile loop every controller of the plane runs on (kopf's queueing,
client-go's informer + workqueue, made small).

For each watched kind the loop lists, then watches from the list's resourceVersion, keeping an
in-memory cache of the objects (an informer). Every event is mapped to the keys it concerns and
queued; a periodic resync queues every key again, so a missed event costs at most one resync
period. A key is processed by one worker at a time; a key queued while it is being processed is
processed again afterwards. A reconcile that raises is retried with backoff. Decisions live in the
controllers' pure functions; this module only moves keys around.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol

from tidal.api.client import ApiClient, Obj
from tidal.api.errors import Gone, TidalError
from tidal.api.selectors import LabelSelector, parse_labels

log = logging.getLogger(__name__)

Key = tuple[str, str]  # (namespace, name)


def key_of(obj: Obj) -> Key:
    meta = obj.get("metadata") or {}
    return (meta.get("namespace") or "", meta.get("name") or "")


@dataclass(slots=True)
class Informer:
    """The cached objects of one kind, keyed by (namespace, name), with client-go's indexes: by
    namespace, by owner uid and by label, so a lookup reads the objects it is about instead of
    scanning the kind (`objects` is read-only outside the loop: `replace`/`put`/`drop` keep
    the indexes)."""

    kind: str
    objects: dict[Key, Obj] = field(default_factory=dict)
    synced: asyncio.Event = field(default_factory=asyncio.Event)
    _by_ns: dict[str, dict[Key, Obj]] = field(default_factory=dict)
    _by_owner: dict[str, set[Key]] = field(default_factory=dict)
    _by_label: dict[tuple[str, str, str], set[Key]] = field(default_factory=dict)

    def list(self, namespace: str | None = None) -> list[Obj]:
        if namespace is None:
            return list(self.objects.values())
        return list(self._by_ns.get(namespace, {}).values())

    def get(self, namespace: str, name: str) -> Obj | None:
        return self.objects.get((namespace, name))

    def owned_by(self, uid: str) -> list[Obj]:
        """The objects with an ownerReference to `uid`, in (namespace, name) order."""
        return [self.objects[k] for k in sorted(self._by_owner.get(uid, ()))]

    def select(self, namespace: str, selector: str | None) -> list[Obj]:
        """The objects in `namespace` whose labels match `selector` (label-selector syntax; a
        ValueError when it does not parse), in name order, read through the label index when
        it has a `=`/`in` term."""
        sel = parse_labels(selector)
        terms = [r for r in sel.requirements if r.op in ("=", "in")]
        if not terms:
            found = [self.objects[k] for k in sorted(self._by_ns.get(namespace, {}))]
        else:
            keys = min(
                (
                    {k for v in r.values for k in self._by_label.get((namespace, r.key, v), ())}
                    for r in terms
                ),
                key=len,
            )
            found = [self.objects[k] for k in sorted(keys)]
        return [o for o in found if sel.matches((o.get("metadata") or {}).get("labels"))]

    def replace(self, objects: dict[Key, Obj]) -> None:
        """A fresh list: the cache and its indexes rebuilt."""
        self.objects = {}
        self._by_ns, self._by_owner, self._by_label = {}, {}, {}
        for obj in objects.values():
            self.put(obj)

    def put(self, obj: Obj) -> None:
        key = key_of(obj)
        old = self.objects.get(key)
        if old is not None:
            self._unindex(key, old)
        self.objects[key] = obj
        self._by_ns.setdefault(key[0], {})[key] = obj
        meta = obj.get("metadata") or {}
        for ref in meta.get("ownerReferences") or ():
            if ref.get("uid"):
                self._by_owner.setdefault(ref["uid"], set()).add(key)
        for label, value in (meta.get("labels") or {}).items():
            self._by_label.setdefault((key[0], label, value), set()).add(key)

    def drop(self, obj: Obj) -> None:
        key = key_of(obj)
        old = self.objects.pop(key, None)
        if old is not None:
            self._unindex(key, old)
            in_ns = self._by_ns.get(key[0], {})
            in_ns.pop(key, None)
            if not in_ns:
                self._by_ns.pop(key[0], None)

    def _unindex(self, key: Key, old: Obj) -> None:
        meta = old.get("metadata") or {}
        for ref in meta.get("ownerReferences") or ():
            keys = self._by_owner.get(ref.get("uid") or "")
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._by_owner[ref["uid"]]
        for label, value in (meta.get("labels") or {}).items():
            keys = self._by_label.get((key[0], label, value))
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._by_label[(key[0], label, value)]


class SelectorIndex:
    """Which of many label selectors (each under a key, in a namespace) match a pod's labels,
    without testing them all: a selector is filed under its narrowest `=`/`in` term (client-go's
    indexers; an HPA's target selector is `app=x`), so a lookup tests only the selectors filed
    under the pod's own labels, plus those with no such term. Plumbing only: what matches is
    exactly `parse_labels(selector).matches(labels)`; an unparsable selector matches nothing."""

    def __init__(self) -> None:
        self._entries: dict[Key, tuple[str, str, LabelSelector, list[tuple[str, str, str]]]] = {}
        self._by_term: dict[tuple[str, str, str], set[Key]] = {}  # (ns, label, value) -> keys
        self._loose: dict[str, set[Key]] = {}  # ns -> keys of selectors without such a term

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: Key) -> str | None:
        entry = self._entries.get(key)
        return entry[1] if entry is not None else None

    def set(self, key: Key, namespace: str, selector: str) -> None:
        old = self._entries.get(key)
        if old is not None and old[:2] == (namespace, selector):
            return
        self.remove(key)
        try:
            parsed = parse_labels(selector)
        except ValueError:
            return
        terms = [r for r in parsed.requirements if r.op in ("=", "in")]
        if terms:
            best = min(terms, key=lambda r: len(r.values))
            filed = [(namespace, best.key, v) for v in best.values]
            for term in filed:
                self._by_term.setdefault(term, set()).add(key)
        else:
            filed = []
            self._loose.setdefault(namespace, set()).add(key)
        self._entries[key] = (namespace, selector, parsed, filed)

    def remove(self, key: Key) -> None:
        old = self._entries.pop(key, None)
        if old is None:
            return
        namespace, _, _, filed = old
        for term in filed:
            keys = self._by_term.get(term)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._by_term[term]
        loose = self._loose.get(namespace)
        if not filed and loose is not None:
            loose.discard(key)
            if not loose:
                del self._loose[namespace]

    def matching(self, namespace: str, labels: dict[str, str] | None) -> set[Key]:
        """Keys whose selector (in `namespace`) matches `labels`."""
        labels = labels or {}
        candidates = set(self._loose.get(namespace, ()))
        for k, v in labels.items():
            candidates |= self._by_term.get((namespace, k, v), set())
        return {key for key in candidates if self._entries[key][2].matches(labels)}


@dataclass(frozen=True, slots=True)
class Watch:
    """Watch `kind`; `keys` maps a changed object (and the loop, for its caches) to the keys to
    reconcile. Default: the object's own key."""

    kind: str
    keys: Callable[[Obj, Loop], Iterable[Key]] | None = None


def controller_of(kind: str) -> Callable[[Obj, Loop], Iterable[Key]]:
    """A `Watch.keys` mapping an owned object to its controlling owner of `kind` (a ReplicaSet's
    Deployment, a Pod's ReplicaSet): the owner's reconcile hears of its children's changes."""

    def keys(obj: Obj, _loop: Loop) -> Iterable[Key]:
        meta = obj.get("metadata") or {}
        for r in meta.get("ownerReferences") or []:
            if r.get("kind") == kind and r.get("controller"):
                yield (meta.get("namespace") or "default", r.get("name", ""))

    return keys


class Reconciler(Protocol):
    name: str
    watches: tuple[Watch, ...]

    async def reconcile(self, key: Key, loop: Loop) -> float | None:
        """Bring the world to the object's desired state; return seconds until the next
        reconcile of this key is wanted (None: only on the next event or resync)."""
        ...


class Loop:
    """Runs one reconciler: informers for its watches, a deduplicating key queue, workers."""

    def __init__(
        self,
        client: ApiClient,
        reconciler: Reconciler,
        *,
        resync_s: float = 30.0,
        workers: int = 4,
        max_backoff_s: float = 30.0,
    ) -> None:
        self.client = client
        self.reconciler = reconciler
        self.resync_s = resync_s
        self.workers = workers
        self.max_backoff_s = max_backoff_s
        self.informers: dict[str, Informer] = {w.kind: Informer(w.kind) for w in reconciler.watches}
        self._queue: asyncio.Queue[Key] = asyncio.Queue()
        self._queued: set[Key] = set()
        self._active: set[Key] = set()
        self._dirty: set[Key] = set()
        self._failures: dict[Key, int] = {}
        self._timers: dict[Key, asyncio.TimerHandle] = {}
        self._tasks: list[asyncio.Task[None]] = []

    # -- queue -------------------------------------------------------------------------------
    def enqueue(self, key: Key) -> None:
        if key in self._active:
            self._dirty.add(key)
            return
        if key not in self._queued:
            self._queued.add(key)
            self._queue.put_nowait(key)

    def enqueue_after(self, key: Key, delay_s: float) -> None:
        old = self._timers.pop(key, None)
        if old is not None:
            if old.when() <= asyncio.get_running_loop().time() + delay_s:
                self._timers[key] = old
                return
            old.cancel()
        self._timers[key] = asyncio.get_running_loop().call_later(delay_s, self._fire, key)

    def _fire(self, key: Key) -> None:
        self._timers.pop(key, None)
        self.enqueue(key)

    def informer(self, kind: str) -> Informer:
        return self.informers[kind]

    # -- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        for w in self.reconciler.watches:
            self._tasks.append(asyncio.create_task(self._watch(w), name=f"watch-{w.kind}"))
        await asyncio.gather(*(i.synced.wait() for i in self.informers.values()))
        for _ in range(self.workers):
            self._tasks.append(asyncio.create_task(self._work(), name=self.reconciler.name))
        self._tasks.append(asyncio.create_task(self._resync(), name="resync"))

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        for h in self._timers.values():
            h.cancel()
        self._tasks.clear()

    async def _watch(self, w: Watch) -> None:
        informer = self.informers[w.kind]
        delay = 0.2
        while True:
            try:
                listed = await self.client.list(w.kind)
                fresh = {key_of(o): o for o in listed.get("items", [])}
                gone = [informer.objects[k] for k in informer.objects.keys() - fresh.keys()]
                informer.replace(fresh)
                informer.synced.set()
                for obj in [*fresh.values(), *gone]:
                    self._route(w, obj)
                rv = (listed.get("metadata") or {}).get("resourceVersion")
                async for etype, obj in self.client.watch(w.kind, resource_version=rv):
                    if etype in ("BOOKMARK", "ERROR"):
                        continue
                    if etype == "DELETED":
                        informer.drop(obj)
                    else:
                        informer.put(obj)
                    self._route(w, obj)
                delay = 0.2
            except asyncio.CancelledError:
                raise
            except Gone:
                continue
            except (TidalError, OSError) as exc:
                log.warning("%s: watch %s failed: %s", self.reconciler.name, w.kind, exc)
            except Exception:
                log.exception("%s: watch %s crashed", self.reconciler.name, w.kind)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)

    def _route(self, w: Watch, obj: Obj) -> None:
        try:
            keys = list(w.keys(obj, self)) if w.keys else [key_of(obj)]
        except Exception:
            log.exception("%s: mapping %s to keys", self.reconciler.name, w.kind)
            return
        for k in keys:
            self.enqueue(k)

    async def _resync(self) -> None:
        while True:
            await asyncio.sleep(self.resync_s)
            primary = self.informers[self.reconciler.watches[0].kind]
            for k in list(primary.objects):
                self.enqueue(k)

    async def _work(self) -> None:
        while True:
            key = await self._queue.get()
            self._queued.discard(key)
            self._active.add(key)
            try:
                after = await self.reconciler.reconcile(key, self)
                self._failures.pop(key, None)
                if after is not None:
                    self.enqueue_after(key, max(after, 0.0))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                n = self._failures.get(key, 0) + 1
                self._failures[key] = n
                delay = min(0.1 * 2**n, self.max_backoff_s)
                level = logging.DEBUG if isinstance(exc, TidalError) and n < 3 else logging.WARNING
                log.log(
                    level,
                    "%s: reconcile %s/%s failed (%s), retry in %.1fs",
                    self.reconciler.name,
                    key[0],
                    key[1],
                    exc,
                    delay,
                )
                self.enqueue_after(key, delay)
            finally:
                self._active.discard(key)
                if key in self._dirty:
                    self._dirty.discard(key)
                    self.enqueue(key)
