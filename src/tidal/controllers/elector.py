"""Runs `election.try_acquire_or_renew` against the API: campaign until leader, lead while the
lease is renewed within the renew deadline, stop leading the moment it is not (as
kube-controller-manager does, the caller then exits), and release the lease on a graceful stop.
The decisions are `tidal.controllers.election`'s; this module only reads, writes and waits."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any

from tidal.api.client import ApiClient
from tidal.api.errors import ApiError, NotFound
from tidal.api.events import make_event
from tidal.controllers.election import Observed, Timing, release, try_acquire_or_renew

log = logging.getLogger(__name__)

JITTER = 1.2  # client-go's JitterFactor
DEFAULT_TIMING = Timing()


class LeaderElector:
    def __init__(
        self,
        client: ApiClient,
        *,
        name: str,
        namespace: str,
        identity: str,
        timing: Timing = DEFAULT_TIMING,
        wall: Callable[[], float] = time.time,
        mono: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.name = name
        self.namespace = namespace
        self.identity = identity
        self.timing = timing
        self.wall = wall
        self.mono = mono
        self.observed: Observed | None = None
        self.is_leader = False
        self.transitions = 0

    async def _try(self) -> bool:
        """One acquire-or-renew round; True when this candidate holds the lease after it."""
        try:
            lease: dict[str, Any] | None = await self.client.get("Lease", self.name, self.namespace)
        except NotFound:
            lease = None
        step = try_acquire_or_renew(
            lease,
            self.observed,
            identity=self.identity,
            name=self.name,
            namespace=self.namespace,
            wall=self.wall(),
            mono=self.mono(),
            timing=self.timing,
        )
        if step.write == "none":
            self.observed = step.observed
            return False
        assert step.lease is not None
        if step.write == "create":
            written = await self.client.create(step.lease)
        else:
            written = await self.client.update(step.lease)
        self.observed = Observed(written.get("spec") or {}, self.mono())
        if not self.is_leader:
            log.info("%s: %s, leading %s/%s", self.identity, step.reason, self.namespace, self.name)
            await self._event(written)
        return True

    async def _event(self, lease: dict[str, Any]) -> None:
        ev = make_event(
            lease,
            "LeaderElection",
            f"{self.identity} became leader",
            now=self.wall(),
            component="tidal-controllers",
        )
        with contextlib.suppress(ApiError):
            await self.client.create(ev)

    async def _round(self) -> bool:
        try:
            return await self._try()
        except ApiError as exc:  # a conflict: someone else wrote first; try again later
            log.debug("lease round: %s", exc)
            return False

    async def acquire(self, stop: asyncio.Event) -> bool:
        """Campaign until leader (True) or until `stop` is set (False)."""
        while not stop.is_set():
            if await self._round():
                self.is_leader = True
                self.transitions += 1
                return True
            await self._wait(stop, self._next_try())
        return False

    def _next_try(self) -> float:
        """client-go's jittered retry period, but never past the moment the observed lease
        expires: a standby takes a dead leader's lease as soon as it may, not up to a retry
        period later."""
        wait = self.timing.retry_period_s * (1 + random.random() * JITTER)
        if self.observed is not None:
            duration = float(
                self.observed.spec.get("leaseDurationSeconds") or self.timing.lease_duration_s
            )
            expires_in = self.observed.observed_at + duration - self.mono()
            wait = min(wait, max(expires_in, 0.0) + 0.05)
        return wait

    async def renew(self, stop: asyncio.Event) -> None:
        """Renew every retry period; return when a renewal has not succeeded within the renew
        deadline (leadership lost) or when `stop` is set."""
        last_ok = self.mono()
        while not stop.is_set():
            await self._wait(stop, self.timing.retry_period_s)
            if stop.is_set():
                return
            if await self._round():
                last_ok = self.mono()
            elif self.mono() - last_ok >= self.timing.renew_deadline_s:
                log.error("%s: leaderelection lost for %s", self.identity, self.name)
                self.is_leader = False
                return

    async def run(self, lead: Callable[[asyncio.Event], Awaitable[None]], stop: asyncio.Event):
        """Campaign, then run `lead(lost)` while leading. Returns True after a graceful stop
        (the lease released), False when leadership was lost."""
        if not await self.acquire(stop):
            return True
        lost = asyncio.Event()
        leading = asyncio.create_task(lead(lost))
        try:
            await self.renew(stop)
        finally:
            lost.set()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await leading
        if stop.is_set():
            await self._release()
            return True
        return False

    async def _release(self) -> None:
        try:
            lease = await self.client.get("Lease", self.name, self.namespace)
            new = release(lease, identity=self.identity, wall=self.wall())
            if new is not None:
                await self.client.update(new)
                log.info("%s: released the lease %s", self.identity, self.name)
        except ApiError as exc:
            log.warning("releasing the lease: %s", exc)
        self.is_leader = False

    async def _wait(self, stop: asyncio.Event, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), seconds)
