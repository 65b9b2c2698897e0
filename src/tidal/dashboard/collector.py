"""Gathers the dashboard's inputs once a second inside the plane (objects from the in-process
API, the router's admin `/metrics` and `/stats`, pod CPU/memory from the resource sampler),
turns them into a frame (`tidal.dashboard.model.frame`), keeps a sliding window of frames and
hands each new one, encoded once, to every open page (server-sent events)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import httpx
import orjson

from tidal.api.errors import Gone, TidalError
from tidal.dashboard import model

log = logging.getLogger("tidal.dashboard")

KINDS = {
    "deployments": "Deployment",
    "hpas": "HorizontalPodAutoscaler",
    "podautoscalers": "PodAutoscaler",
    "cronhpas": "CronHorizontalPodAutoscaler",
    "pods": "Pod",
}


class Cache:
    """The objects of one kind, kept current by a list and then a watch (relisted when the watch
    ends or fails): a sample reads memory, not the API, so an open dashboard costs little."""

    def __init__(self, client: Any, kind: str, *, track: bool = False) -> None:
        self.client = client
        self.kind = kind
        self.objects: dict[tuple[str, str], dict[str, Any]] = {}
        self.track = track
        self.changed: list[dict[str, Any]] = []  # added or modified since `drain` (when tracked)

    def drain(self) -> list[dict[str, Any]]:
        out, self.changed = self.changed, []
        return out

    def items(self) -> list[dict[str, Any]]:
        return list(self.objects.values())

    @staticmethod
    def key(obj: dict[str, Any]) -> tuple[str, str]:
        meta = obj.get("metadata") or {}
        return meta.get("namespace") or "", meta.get("name") or ""

    async def run(self) -> None:
        delay = 0.2
        while True:
            try:
                listed = await self.client.list(self.kind)
                self.objects = {self.key(o): o for o in listed.get("items", [])}
                if self.track:
                    self.changed = list(self.objects.values())
                rv = (listed.get("metadata") or {}).get("resourceVersion")
                async for etype, obj in self.client.watch(self.kind, resource_version=rv):
                    if etype == "DELETED":
                        self.objects.pop(self.key(obj), None)
                    elif etype in ("ADDED", "MODIFIED"):
                        self.objects[self.key(obj)] = obj
                        if self.track:
                            self.changed.append(obj)
                delay = 0.2
            except asyncio.CancelledError:
                raise
            except Gone:
                continue
            except (TidalError, OSError) as exc:  # a kind this plane does not serve, or a blip
                log.debug("dashboard: watch %s: %s", self.kind, exc)
            except Exception:
                log.exception("dashboard: watch %s crashed", self.kind)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)


class Collector:
    """One sample per `period_s`, `window_s` of them kept; `subscribe()` gives a queue of
    encoded SSE messages. `usage(ns, pod)` returns (cores, bytes) or None; `kpa_target(pa)`
    returns (metric, per-pod target)."""

    def __init__(
        self,
        client: Any,
        admin_url: str,
        *,
        token: str = "",
        usage: Callable[[str, str], tuple[float, int] | None] = lambda ns, pod: None,
        kpa_target: Callable[[dict[str, Any]], tuple[str, float]] | None = None,
        period_s: float = 1.0,
        window_s: float = 300.0,
        keep_s: float = 900.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self.admin_url = admin_url.rstrip("/")
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.usage = usage
        self.kpa_target = kpa_target
        self.period_s = period_s
        self.window_s = window_s
        self.keep_s = max(keep_s, window_s)
        self.clock = clock
        # the page shows `window_s`; `/history` (plots of a whole load test) gets `keep_s`
        self.frames: deque[dict[str, Any]] = deque(maxlen=max(2, int(keep_s / period_s)))
        self.latest: dict[str, Any] | None = None
        self.decisions: deque[dict[str, Any]] = deque(maxlen=2000)
        self._seen: set[str] = set()
        self._old_counters: dict[str, model.Counters] = {}
        self._old_t = 0.0
        self._subscribers: set[asyncio.Queue[bytes]] = set()
        self._http: httpx.AsyncClient | None = None
        self.caches = {name: Cache(client, kind) for name, kind in KINDS.items()}
        self.caches["events"] = Cache(client, "Event", track=True)
        # CPU time of the samples themselves (all but the router's two HTTP reads): the
        # benchmark's inside view, beside its A/B of the whole plane
        self.cpu_s = 0.0
        self.samples = 0

    # ---- subscribers ---------------------------------------------------------------------------
    def subscribe(self) -> asyncio.Queue[bytes]:
        q: asyncio.Queue[bytes] = asyncio.Queue(maxsize=10)
        q.put_nowait(sse("init", self.snapshot()))
        self._subscribers.add(q)
        return q

    def unsubscribe(self, q: asyncio.Queue[bytes]) -> None:
        self._subscribers.discard(q)

    @property
    def viewers(self) -> int:
        return len(self._subscribers)

    def snapshot(self, window_s: float | None = None) -> dict[str, Any]:
        """What a page opened now starts from: the window's frames (without pods), the latest
        pods, and the decisions in the window (`window_s`: the page's, by default)."""
        window = self.window_s if window_s is None else window_s
        since = self.clock() - window
        return {
            "cpu_s": round(self.cpu_s, 6),
            "samples": self.samples,
            "window_s": window,
            "frames": [f for f in self.frames if f["t"] >= since],
            "pods": (self.latest or {}).get("pods", {}),
            "decisions": [d for d in self.decisions if (d.get("t") or 0) >= since],
        }

    # ---- sampling ------------------------------------------------------------------------------

    async def _router(self, since: float) -> tuple[dict[str, Any], str]:
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=2.0, headers=self.headers)
        try:
            stats, metrics = await asyncio.gather(
                self._http.get(f"{self.admin_url}/stats", params={"since": f"{since:.0f}"}),
                self._http.get(f"{self.admin_url}/metrics"),
            )
            if stats.status_code != 200 or metrics.status_code != 200:
                return {}, ""
            return stats.json().get("services") or {}, metrics.text
        except (httpx.HTTPError, ValueError):
            return {}, ""

    async def sample(self) -> dict[str, Any]:
        now = self.clock()
        t0 = time.thread_time()
        objs = {name: self.caches[name].items() for name in KINDS}
        events = self.caches["events"].drain()  # only new or bumped Events can be new decisions
        self.cpu_s += time.thread_time() - t0
        stats, metrics_text = await self._router(now - 5)
        t0 = time.thread_time()
        counters = model.parse_router_metrics(metrics_text)
        usage: dict[tuple[str, str], tuple[float, int]] = {}
        for p in objs["pods"]:
            key = (p["metadata"].get("namespace", ""), p["metadata"]["name"])
            u = self.usage(*key)
            if u is not None:
                usage[key] = u
        kpa_targets: dict[str, tuple[str, float]] = {}
        if self.kpa_target is not None:
            for pa in objs["podautoscalers"]:
                ref = (pa.get("spec") or {}).get("scaleTargetRef") or {}
                with contextlib.suppress(Exception):
                    kpa_targets[f"{pa['metadata']['namespace']}/{ref.get('name', '')}"] = (
                        self.kpa_target(pa)
                    )
        f = model.frame(
            model.Inputs(
                now=now,
                router_stats=stats,
                counters=counters,
                old_counters=self._old_counters,
                counters_dt=now - self._old_t if self._old_t else 0.0,
                usage=usage,
                kpa_targets=kpa_targets,
                **objs,
            )
        )
        if counters or not metrics_text:
            self._old_counters, self._old_t = counters, now
        new = []
        for ev in events:
            row = model.event_row(ev)
            if row is not None and row["id"] not in self._seen:
                self._seen.add(row["id"])
                new.append(row)
        fresh = model.decisions_for(new, f["services"])
        fresh.sort(key=lambda d: d.get("t") or 0)
        self.decisions.extend(fresh)
        self.latest = f
        self.frames.append({"t": f["t"], "services": f["services"]})  # pods: the latest only
        if len(self._seen) > 20000:
            self._seen = {d["id"] for d in self.decisions}
        if self._subscribers:
            msg = sse("frame", {**f, "decisions": fresh})
            for q in list(self._subscribers):
                with contextlib.suppress(asyncio.QueueFull):
                    q.put_nowait(msg)
        self.cpu_s += time.thread_time() - t0
        self.samples += 1
        return f

    async def run(self) -> None:
        watches = [asyncio.create_task(c.run()) for c in self.caches.values()]
        try:
            while True:
                started = time.monotonic()
                try:
                    await self.sample()
                except Exception:
                    log.exception("dashboard sample failed")
                await asyncio.sleep(max(0.05, self.period_s - (time.monotonic() - started)))
        finally:
            for w in watches:
                w.cancel()
            await asyncio.gather(*watches, return_exceptions=True)
            if self._http is not None:
                await self._http.aclose()


def sse(event: str, data: Any) -> bytes:
    """One server-sent event."""
    return b"event: " + event.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"
