"""Pods with a capacity, for the simulator: each request is routed, queued, served and timed.

A Deployment with `maxConcurrency` serves at most that many requests at once per pod. The router
sends each arriving request to the ready pod with the fewest outstanding requests (running plus
queued), ties rotating, with the router's own pure `tidal.router.choose.choose` and counter (as
`tidal.router.table.Backend.pick`); a pod runs up to `maxConcurrency` and queues the rest in
arrival order (as vLLM's waiting queue or a server's accept backlog). With no ready pod the
router holds requests (Knative's activator); they are forwarded when a pod is ready, or get the
router's 503 after `holdTimeoutSeconds`. A pod removed on scale-down takes no new requests and
drains for at most `DRAIN_GRACE_S` (Kubernetes' terminationGracePeriodSeconds default); what it
has not finished then gets a 503. Draining pods are still paid for.

Service: a fixed or per-request time (`seconds`: an expression over the request's trace columns)
served at full speed, or an LLM: `prompt tokens / prefill rate` then `output tokens` at a
per-sequence decode rate that is an expression in `running` (the sequences on that pod now), so
a batch slows each sequence as it grows. With `node.concurrency` set, all pods share one
machine: when more than that many requests run at once over all pods, each runs at
`concurrency / running` of its speed (pods share its cores).

Exact in virtual time: between two events (arrival, end of a prefill, end of a request) the rates
are constant, so the next event is computed, not stepped. Deterministic."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

from tidal.router.choose import choose
from tidal.sim.load import Expr
from tidal.sim.report import RequestRecord
from tidal.sim.traces import Arrival

DRAIN_GRACE_S = 30.0
_EPS = 1e-9


@dataclass(slots=True)
class ServiceModel:
    """How long a request takes on a pod. Either `seconds` (an expression over the request's
    columns and `t`) or the LLM model (`prefill_rate` tokens/s, `decode_rate` an expression in
    `running`, the column names of the prompt and output token counts)."""

    seconds: Expr | None = None
    prefill_rate: float = 0.0
    decode_rate: Expr | None = None
    prompt_column: str = "ContextTokens"
    output_column: str = "GeneratedTokens"

    @property
    def is_llm(self) -> bool:
        return self.decode_rate is not None

    def decode_rates(self, max_running: int) -> list[float]:
        """Per-sequence decode tokens/s for 0..max_running sequences on a pod (index = running)."""
        if self.decode_rate is None:
            return [1.0] * (max_running + 1)
        out = [0.0]
        for n in range(1, max_running + 1):
            r = self.decode_rate(running=float(n))
            if not r > 0 or not math.isfinite(r):
                from tidal.sim.load import LoadError

                raise LoadError(f"{self.decode_rate.where}: must be > 0 (got {r:g} at running={n})")
            out.append(r)
        return out

    def work(self, size: dict[str, float], t: float) -> tuple[float, float]:
        """(seconds at full speed, tokens to decode) of one request."""
        if self.decode_rate is None:
            s = self.seconds(**size, t=t) if self.seconds is not None else 0.1
            return max(s, 0.0), 0.0
        prompt = size.get(self.prompt_column, 0.0)
        prefill = prompt / self.prefill_rate if self.prefill_rate > 0 else 0.0
        return prefill, max(size.get(self.output_column, 0.0), 0.0)


class Req:
    __slots__ = (
        "arrival",
        "dispatched",
        "held",
        "nominal",
        "pre",
        "dec",
        "started",
        "first",
        "llm",
    )

    def __init__(self, arrival: float, pre: float, dec: float, nominal: float) -> None:
        self.arrival = arrival
        self.pre = pre  # seconds of full-speed work left (prefill or a fixed service time)
        self.dec = dec  # tokens left to decode
        self.nominal = nominal  # service time on a full pod: the lower bound's demand
        self.dispatched = arrival  # when the router sent it to a pod
        self.held = 0.0  # held at zero ready pods
        self.started = arrival  # when the pod began serving it
        self.first: float | None = None  # when its prefill ended (its first token)
        self.llm = False


class Pod:
    """One pod's running and queued requests. Without a shared node a pod is advanced on its
    own (`t`: the instant its state is at; `nxt`: its next event), only when asked."""

    __slots__ = ("name", "running", "queue", "draining_until", "ready", "t", "nxt")

    def __init__(self, name: str, t: float = 0.0) -> None:
        self.name = name
        self.running: list[Req] = []
        self.queue: deque[Req] = deque()
        self.draining_until: float | None = None
        self.ready = False
        self.t = t
        self.nxt = math.inf

    @property
    def outstanding(self) -> int:
        return len(self.running) + len(self.queue)

    def _next(self, rates: list[float]) -> None:
        if not self.running:
            self.nxt = math.inf
            return
        rate = rates[len(self.running)]
        best = math.inf
        for r in self.running:
            dt = r.pre if r.pre > _EPS else r.dec / rate
            if dt < best:
                best = dt
        self.nxt = self.t + max(best, 0.0)

    def _progress(self, dt: float, rate: float) -> None:
        for r in self.running:
            if r.pre > _EPS:
                r.pre -= dt
            else:
                r.dec -= dt * rate

    def advance(self, until: float, svc: Service) -> None:
        """Serve alone (full speed) until `until`: every event on the way, in order."""
        rates = svc.rates
        while self.nxt <= until + _EPS:
            at = self.nxt
            self._progress(at - self.t, rates[len(self.running)])
            self.t = at
            keep = []
            for r in self.running:
                if r.pre <= _EPS * 10:
                    r.pre = 0.0
                    if r.first is None:
                        r.first = at
                    if r.dec <= 1e-7:
                        svc._finish(r, at, 200)
                        continue
                keep.append(r)
            self.running = keep
            while self.queue and len(self.running) < svc.cap:
                r = self.queue.popleft()
                r.started = at
                self.running.append(r)
            self._next(rates)
        if until > self.t:
            if self.running:
                self._progress(until - self.t, rates[len(self.running)])
            self.t = until
            self._next(rates)

    def admit(self, r: Req, now: float, svc: Service) -> None:
        self.advance(now, svc)
        if len(self.running) < svc.cap:
            r.started = now
            self.running.append(r)
            self._next(svc.rates)
        else:
            self.queue.append(r)


@dataclass(slots=True)
class TickStats:
    """One Service over one tick, as the router saw it."""

    arrived: int = 0
    concurrency: float = 0.0  # time-averaged outstanding (held + queued + running)
    held_now: int = 0
    new_held: int = 0
    draining: int = 0  # pods draining at the end of the tick (paid for, not in the API)
    finished: list[float] = field(default_factory=list)  # latencies of requests ended this tick


class Service:
    """One Deployment's router and pods."""

    def __init__(
        self,
        name: str,
        model: ServiceModel,
        max_concurrency: int,
        arrivals: Sequence[Arrival],
        hold_timeout_s: float | None,
    ) -> None:
        self.name = name
        self.model = model
        self.cap = max_concurrency
        self.rates = model.decode_rates(max_concurrency)
        self.arrivals = arrivals
        self.next = 0  # index of the next arrival
        self.hold_timeout_s = hold_timeout_s
        self.pods: dict[str, Pod] = {}
        self.endpoints: list[Pod] = []  # ready, not draining, in creation order
        self.held: deque[Req] = deque()
        self.rr = 0
        self.records: list[RequestRecord] = []
        self.stats = TickStats()
        self._outstanding = 0
        self.lazy = True  # pods advance on their own (no shared node)
        self._tick_start = 0.0
        self._busy = 0.0  # outstanding-seconds of the current tick, for requests ended in it

    # -- the router -------------------------------------------------------------------------
    def _new(self, a: Arrival) -> Req:
        pre, dec = self.model.work(a.size, a.t)
        rate = self.rates[self.cap]
        r = Req(a.t, pre, dec, pre + (dec / rate if dec else 0.0))
        r.llm = self.model.is_llm
        if pre <= 0:
            r.first = -1.0  # no prefill: the first token comes as it starts
        return r

    def _dispatch(self, r: Req, now: float) -> None:
        eps = self.endpoints
        if not eps:
            self.held.append(r)
            self.stats.new_held += 1
            return
        if len(eps) == 1:
            pod = eps[0]
        else:
            self.rr += 1
            pod = eps[choose([p.outstanding for p in eps], self.rr)]
        r.dispatched = now
        if self.lazy:
            pod.admit(r, now, self)
        elif len(pod.running) < self.cap:
            r.started = now
            pod.running.append(r)
        else:
            pod.queue.append(r)

    def _finish(self, r: Req, now: float, status: int) -> None:
        self._outstanding -= 1
        self._busy += max(0.0, now - max(r.arrival, self._tick_start))
        self.records.append(
            RequestRecord(
                arrival_s=r.arrival,
                latency_s=now - r.arrival,
                status=status,
                held_s=r.held,
                queued_s=max(0.0, r.started - r.dispatched) if status < 400 else 0.0,
                service_s=r.nominal,
                ttft_s=self._ttft(r, now) if r.llm and status < 400 else None,
            )
        )
        self.stats.finished.append(now - r.arrival)

    @staticmethod
    def _ttft(r: Req, now: float) -> float:
        if r.first is None:
            return now - r.arrival
        return (r.started if r.first < 0 else r.first) - r.arrival

    # -- pods -------------------------------------------------------------------------------
    def sync_pods(self, now: float, existing: Sequence[str], ready: Sequence[str]) -> None:
        """The API's pods at the start of a tick: new ones join when ready, gone ones drain;
        held requests go to a ready pod or time out."""
        for name in existing:
            if name not in self.pods:
                self.pods[name] = Pod(name, now)
        ready_set = set(ready)
        for name, pod in list(self.pods.items()):
            if pod.draining_until is None and name not in existing:
                pod.draining_until = now + DRAIN_GRACE_S
                pod.ready = False  # its queue is its own: it drains too
            elif pod.draining_until is None:
                pod.ready = name in ready_set
        self.endpoints = [
            p for n in existing if (p := self.pods[n]).ready and p.draining_until is None
        ]
        if self.endpoints:
            while self.held:
                r = self.held.popleft()
                r.held = now - r.arrival
                self._dispatch(r, now)
        elif self.hold_timeout_s is not None:
            while self.held and now - self.held[0].arrival >= self.hold_timeout_s - _EPS:
                r = self.held.popleft()
                r.held = now - r.arrival
                self._finish(r, now, 503)

    def _end_drains(self, now: float) -> None:
        for name, pod in list(self.pods.items()):
            if pod.draining_until is None:
                continue
            if pod.outstanding and now >= pod.draining_until - _EPS:
                for r in [*pod.running, *pod.queue]:
                    self._finish(r, now, 503)
                pod.running.clear()
                pod.queue.clear()
            if not pod.outstanding:
                del self.pods[name]

    def finish_run(self, now: float) -> None:
        """Requests still outstanding at the end: recorded with their latency so far, status 0."""
        for pod in self.pods.values():
            for r in [*pod.running, *pod.queue]:
                self._finish(r, now, 0)
        for r in self.held:
            r.held = now - r.arrival
            self._finish(r, now, 0)


class ServeWorld:
    """Every capacity-modelled Service of a scenario, advanced together. Without a shared node
    each pod advances on its own, lazily (fast); with one, all running requests share the
    node's speed, so the world steps from event to event over all pods."""

    def __init__(self, services: Sequence[Service], node_concurrency: float | None = None) -> None:
        self.services = list(services)
        self.node = node_concurrency
        self.now = 0.0
        for s in self.services:
            s.lazy = node_concurrency is None

    def _advance_to(self, until: float) -> None:
        """Shared node: serve until `until`; between events every rate is constant."""
        node = self.node if self.node is not None else math.inf
        while True:
            total = sum(len(p.running) for s in self.services for p in s.pods.values())
            factor = min(1.0, node / total) if total else 1.0
            best = until - self.now
            for s in self.services:
                for p in s.pods.values():
                    if not p.running:
                        continue
                    rate = s.rates[len(p.running)] * factor
                    for r in p.running:
                        dt = r.pre / factor if r.pre > _EPS else r.dec / rate
                        if dt < best:
                            best = dt
            best = max(best, 0.0)
            self.now += best
            done_any = False
            for s in self.services:
                for p in s.pods.values():
                    if not p.running:
                        continue
                    rate = s.rates[len(p.running)] * factor
                    keep = []
                    for r in p.running:
                        if r.pre > _EPS:
                            r.pre -= best * factor
                        else:
                            r.dec -= best * rate
                        if r.pre <= _EPS * 10:
                            r.pre = 0.0
                            if r.first is None:
                                r.first = self.now
                            if r.dec <= 1e-7:
                                s._finish(r, self.now, 200)
                                done_any = True
                                continue
                        keep.append(r)
                    p.running = keep
                    while p.queue and len(p.running) < s.cap:
                        r = p.queue.popleft()
                        r.started = self.now
                        p.running.append(r)
                    p.t = self.now
            if not done_any and self.now >= until - _EPS:
                self.now = until
                return

    def tick(self, t0: float, tick_s: float) -> None:
        """Serve [t0, t0 + tick_s): requests arrive at their instants and are dispatched."""
        end = t0 + tick_s
        for s in self.services:
            s.stats = TickStats()
            s._tick_start = t0
            s._busy = 0.0
            s._end_drains(t0)
        if self.node is None:
            for s in self.services:
                self._tick_alone(s, end)
        else:
            pending = []
            for s in self.services:
                while s.next < len(s.arrivals) and s.arrivals[s.next].t < end - _EPS:
                    pending.append((s.arrivals[s.next].t, len(pending), s, s.arrivals[s.next]))
                    s.next += 1
            pending.sort(key=lambda x: (x[0], x[1]))
            for at, _, s, a in pending:
                self._advance_to(max(at, t0))
                s.stats.arrived += 1
                s._outstanding += 1
                s._dispatch(s._new(a), self.now)
            self._advance_to(end)
        for s in self.services:
            busy = s._busy
            for p in s.pods.values():
                for r in p.running:
                    busy += end - max(r.arrival, t0)
                for r in p.queue:
                    busy += end - max(r.arrival, t0)
            for r in s.held:
                busy += end - max(r.arrival, t0)
            s.stats.concurrency = busy / tick_s
            s.stats.held_now = len(s.held)
            s.stats.draining = sum(1 for p in s.pods.values() if p.draining_until is not None)

    @staticmethod
    def _tick_alone(s: Service, end: float) -> None:
        arrivals = s.arrivals
        while s.next < len(arrivals) and arrivals[s.next].t < end - _EPS:
            a = arrivals[s.next]
            s.next += 1
            at = max(a.t, s._tick_start)
            for p in s.pods.values():
                if p.nxt <= at + _EPS:
                    p.advance(at, s)
            s.stats.arrived += 1
            s._outstanding += 1
            s._dispatch(s._new(a), at)
        for p in s.pods.values():
            p.advance(end, s)
