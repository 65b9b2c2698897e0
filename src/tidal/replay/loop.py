"""The sending loop of `tidal replay`: each trace request is sent at its time (relative to the
start), concurrently, through the router; every one ends as an HTTP answer (its status, and for an
error the router's `reason`) or as a client-side failure (timeout, connection) that is counted and
named, never dropped. Alongside, the replicas of the target are sampled every tick.

Bounded: only the arrivals given (the caller cuts the trace by time and count) and each request
by `timeout_s`, so a replay ends at most `timeout_s` after its last arrival."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import httpx

from tidal.replay.bodies import Request
from tidal.sim import report as rep

CLIENT_FAILURE = 599  # not an HTTP answer: the client gave up (timeout) or could not connect


@dataclass(frozen=True, slots=True)
class Outcome:
    arrival_s: float
    status: int
    latency_s: float
    reason: str = ""  # for an error: the router's `reason`, the body's `error`, or the failure


@dataclass(frozen=True, slots=True)
class Replicas:
    t_s: float
    pods: int  # pods that exist (what is paid for)
    ready: int
    desired: int  # the target's spec.replicas


@dataclass(slots=True)
class ReplayResult:
    outcomes: list[Outcome] = field(default_factory=list)
    replicas: list[Replicas] = field(default_factory=list)
    elapsed_s: float = 0.0
    max_send_lag_s: float = 0.0  # how late the client sent a request after its time

    def records(self) -> list[rep.RequestRecord]:
        return [rep.RequestRecord(o.arrival_s, o.latency_s, o.status) for o in self.outcomes]

    def samples(self, tick_s: float) -> list[rep.ReplicaSample]:
        """One sample per tick from 0 to the end (the last reading carried forward), with the
        demand the requests imply (`demand_from_requests`)."""
        ticks = max(1, int(self.elapsed_s // tick_s))
        demand = rep.demand_from_requests(self.records(), 0.0, tick_s, ticks)
        out = []
        j = -1
        for k in range(ticks):
            t = k * tick_s
            while j + 1 < len(self.replicas) and self.replicas[j + 1].t_s <= t + 1e-9:
                j += 1
            r = self.replicas[j] if j >= 0 else (self.replicas[0] if self.replicas else None)
            pods, ready = (r.pods, r.ready) if r is not None else (0, 0)
            out.append(rep.ReplicaSample(t, pods, ready, demand[k]))
        return out

    def failures(self) -> dict[tuple[int, str], int]:
        """Non-success outcomes by (status, reason)."""
        out: dict[tuple[int, str], int] = {}
        for o in self.outcomes:
            if o.status >= 400:
                out[(o.status, o.reason)] = out.get((o.status, o.reason), 0) + 1
        return out


def error_reason(status: int, body: bytes) -> str:
    """The router's `reason` (503s: `Overflow`, `Timeout`, ...) with its message, or the body's
    `error`; the start of the body otherwise."""
    try:
        data = json.loads(body)
    except ValueError:
        return body[:120].decode(errors="replace").strip() or f"HTTP {status}"
    if isinstance(data, dict):
        err = data.get("error")
        if isinstance(err, dict):  # OpenAI's {"error": {"message": ...}}
            err = err.get("message")
        if data.get("reason"):
            return f"{data['reason']}: {err}" if err else str(data["reason"])
        if err:
            return str(err)[:200]
    return json.dumps(data)[:120]


async def replay(
    arrivals: Sequence[tuple[float, Request]],
    *,
    url: str,
    host: str,
    replicas: Callable[[], Awaitable[tuple[int, int, int]]],
    timeout_s: float = 120.0,
    tick_s: float = 1.0,
    clock: Callable[[], float] = time.monotonic,
) -> ReplayResult:
    """Send every (time, request) at its time; sample `replicas()` -> (pods, ready, desired)
    every tick until the last request ended."""
    result = ReplayResult()
    done = asyncio.Event()
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=64)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=timeout_s) as http:
        t0 = clock()

        async def sample() -> None:
            while True:
                t = clock() - t0
                try:
                    pods, ready, desired = await replicas()
                    result.replicas.append(Replicas(t, pods, ready, desired))
                except Exception:  # a failed reading repeats the last one (the plane is busy)
                    if result.replicas:
                        last = result.replicas[-1]
                        result.replicas.append(Replicas(t, last.pods, last.ready, last.desired))
                if done.is_set():
                    return
                nxt = t0 + (int(t / tick_s) + 1) * tick_s
                try:
                    await asyncio.wait_for(done.wait(), max(0.0, nxt - clock()))
                except TimeoutError:
                    pass

        async def send(at_s: float, req: Request) -> Outcome:
            headers = {"Host": host, "Content-Type": "application/json"}
            try:
                resp = await http.post(req.path, content=req.body, headers=headers)
                body = await resp.aread()
                latency = clock() - t0 - at_s
                reason = error_reason(resp.status_code, body) if resp.status_code >= 400 else ""
                return Outcome(at_s, resp.status_code, latency, reason)
            except httpx.TimeoutException:
                return Outcome(
                    at_s,
                    CLIENT_FAILURE,
                    clock() - t0 - at_s,
                    f"client timeout after {timeout_s:g}s",
                )
            except httpx.HTTPError as exc:
                return Outcome(
                    at_s, CLIENT_FAILURE, clock() - t0 - at_s, f"{type(exc).__name__}: {exc}"
                )

        sampler = asyncio.create_task(sample())
        tasks = []
        for at_s, req in sorted(arrivals, key=lambda a: a[0]):
            wait = t0 + at_s - clock()
            if wait > 0:
                await asyncio.sleep(wait)
            result.max_send_lag_s = max(result.max_send_lag_s, clock() - t0 - at_s)
            tasks.append(asyncio.create_task(send(at_s, req)))
        result.outcomes = list(await asyncio.gather(*tasks))
        result.elapsed_s = clock() - t0
        done.set()
        await sampler
    return result
