"""Request load in the simulator: what the router (activator and queue-proxy) would see for one
Deployment's Service. Each tick, `rps × tick` requests arrive (whole requests: the running sum is
floored, so fractional rates add up exactly) and `concurrency` are in flight while the Service
has a ready pod. With no ready pod, arrivals are held, in arrival order, until one is ready
(then all are forwarded at once and their waits counted) or until the hold timeout (then they
get the router's 503). Held requests count as in flight, as the activator reports them.

The router's 1 s buckets and the Service's `Load` are kept as `tidal.metrics.requests` defines
them, so the KPA reads them through `StaticRequestStats` exactly as it reads the real router.
Deterministic: no randomness, only the tick clock."""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

from tidal.metrics.requests import Bucket, Load

KEEP_S = 70  # seconds of buckets kept: the router keeps 60 (controllers/kpa.ROUTER_KEEPS_S)


@dataclass(slots=True)
class FlowTotals:
    """What the summary reports for one Service."""

    requests: int = 0  # arrived
    held: int = 0  # arrived while no pod was ready
    waited_s: float = 0.0  # sum over forwarded held requests of their wait
    max_wait_s: float = 0.0
    timed_out: int = 0  # held past the hold timeout: answered 503


@dataclass(slots=True)
class RequestFlow:
    """One Service's requests over virtual time."""

    namespace: str
    service: str
    hold_timeout_s: float | None = None
    totals: FlowTotals = field(default_factory=FlowTotals)
    new_held: int = 0  # held in the current tick (the router pokes the autoscaler on these)
    concurrency: float = 0.0  # in flight now (served, or held)
    rps: float = 0.0  # arrival rate now
    ready: int = 0  # ready pods now
    _arrived: float = 0.0  # running sum of rps × tick
    _held: deque[tuple[float, int]] = field(default_factory=deque)  # (arrival t, count)
    _buckets: dict[int, list[float]] = field(default_factory=dict)  # second -> [requests, c·s]

    _held_count: int | None = None  # set by `observe` (the capacity model holds the requests)

    @property
    def held_now(self) -> int:
        if self._held_count is not None:
            return self._held_count
        return sum(n for _, n in self._held)

    def step(
        self, now: float, t: float, tick_s: float, rps: float, conc: float, ready: int
    ) -> None:
        """Advance one tick at instant `now` (`t` since the start) with `ready` pods."""
        rps, conc = max(rps, 0.0), max(conc, 0.0)
        before = math.floor(self._arrived + 1e-9)
        self._arrived += rps * tick_s
        arrived = math.floor(self._arrived + 1e-9) - before
        self.totals.requests += arrived
        self.rps, self.ready, self.new_held = rps, ready, 0
        if ready == 0:
            if arrived:
                self._held.append((t, arrived))
                self.totals.held += arrived
                self.new_held = arrived
            if self.hold_timeout_s is not None:
                while self._held and t - self._held[0][0] >= self.hold_timeout_s:
                    self.totals.timed_out += self._held.popleft()[1]
            self.concurrency = float(self.held_now)
        else:
            while self._held:
                at, n = self._held.popleft()
                self.totals.waited_s += n * (t - at)
                self.totals.max_wait_s = max(self.totals.max_wait_s, t - at)
            self.concurrency = conc
        self._add(now, tick_s, arrived, self.concurrency)

    def observe(
        self,
        now: float,
        t: float,
        tick_s: float,
        arrived: int,
        concurrency: float,
        ready: int,
        held: int,
        new_held: int,
    ) -> None:
        """One tick measured by the capacity model (`tidal.sim.serve`) instead of derived from
        `rps` and `concurrency`: the router's view is the same."""
        self.totals.requests += arrived
        self.totals.held += new_held
        self.rps, self.ready, self.new_held = arrived / tick_s, ready, new_held
        self.concurrency = concurrency
        self._held_count = held
        self._add(now, tick_s, arrived, concurrency)

    def _add(self, now: float, tick_s: float, arrived: int, conc: float) -> None:
        """Spread the tick over the 1 s buckets it covers (requests go to the first)."""
        start, end = now, now + tick_s
        s = math.floor(start)
        first = True
        while s < end - 1e-9:
            overlap = min(end, s + 1) - max(start, s)
            b = self._buckets.setdefault(s, [0.0, 0.0])
            b[1] += conc * overlap
            if first:
                b[0] += arrived
                first = False
            s += 1
        for old in [k for k in self._buckets if k < now - KEEP_S]:
            del self._buckets[old]

    def load(self) -> Load:
        """The Service as the router's `/stats` reports it."""
        held = self.held_now
        return Load(
            in_flight=held if self.ready == 0 else int(round(self.concurrency)),
            requests_total=self.totals.requests,
            held=held,
            ready_endpoints=self.ready,
            buckets=tuple(
                Bucket(s, int(b[0]), b[1], int(math.ceil(b[1] - 1e-9)))
                for s, b in sorted(self._buckets.items())
            ),
        )
