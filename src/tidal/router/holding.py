"""Held requests (the router is Knative's activator): a request for a Service with no ready
endpoint waits, in arrival order, counted as in flight for the Service, while the autoscaler is
poked at once; it is forwarded as soon as an endpoint is ready, or answered 503 when the Service
holds its limit already, every pod of it is failing, or the activation timeout passes
(`tidal.router.activation`).

`Holding` is a part of `ClientConn` (`tidal.router.conn`), `Activator` a part of `Router`
(`tidal.router.proxy`); their methods use those classes' fields.
"""

from __future__ import annotations

import logging
import time

from tidal.router.activation import REPOKE_S, overflow_message, timeout_message
from tidal.router.table import Backend

log = logging.getLogger("tidal.router")


class Holding:
    """A part of `ClientConn`: holding its request while its Service has no ready endpoint."""

    __slots__ = ()

    def _hold(self, backend: Backend) -> None:
        """No ready endpoint: wait for one (bounded), counted as in flight for the service."""
        verdict = backend.verdict
        if verdict is not None and self.router.verdict_fresh(backend):
            backend.stats.observe(503, time.time() - self.t0, self.t0)
            self._send_own(503, {"error": verdict[1], "reason": verdict[0]})
            return
        limit = backend.hold.max_held
        if len(backend.held) >= limit:
            backend.stats.observe(503, time.time() - self.t0, self.t0)
            self._send_own(
                503, {"error": overflow_message(backend.key, limit), "reason": "Overflow"}
            )
            return
        self.active = True
        if not self.counted:
            self.counted = True
            backend.stats.start(time.time())
        backend.held.append(self)
        backend.held_total += 1
        self.hold_timer = self.loop.call_later(backend.hold.timeout_s, self._hold_expired)
        self.router.poke(backend)

    def _unhold(self) -> None:
        timer, self.hold_timer = self.hold_timer, None
        if timer is not None:
            timer.cancel()
            backend = self.backend
            if backend is not None and self in backend.held:
                backend.held.remove(self)

    def _hold_expired(self) -> None:
        self.hold_timer = None
        backend = self.backend
        assert backend is not None
        if self in backend.held:
            backend.held.remove(self)
        self._finish(503)
        self._send_own(
            503,
            {"error": timeout_message(backend.key, backend.hold.timeout_s), "reason": "Timeout"},
        )

    def released(self, stopping: bool = False, failing: tuple[str, str] | None = None) -> None:
        """The service got a ready endpoint (or went away, or every pod of it is failing):
        forward now, or answer 503 naming the reason."""
        if self.hold_timer is None:
            return
        self.hold_timer.cancel()
        self.hold_timer = None
        backend = self.backend
        assert backend is not None
        if backend.endpoints and not stopping and failing is None:
            self._dispatch()
            return
        self._finish(503)
        if stopping:
            msg, reason = "the router is stopping", "RouterStopping"
        elif failing is not None:
            reason, msg = failing
        else:
            msg, reason = (
                f"service {backend.key} was removed while requests were held",
                "ServiceGone",
            )
        self._send_own(503, {"error": msg, "reason": reason})


class Activator:
    """A part of `Router`: poking the autoscaler and checking the pods while requests are held,
    and releasing them."""

    __slots__ = ()

    def poke(self, backend: Backend) -> None:
        """A request is held for `backend`: tell the autoscaler now, look at its pods, and do
        both again every second while requests stay held."""
        if self.poker is None and self.pods is None:
            return
        if self.poker is not None:
            self.poker.poke(backend.key)
        if self.pods is not None and backend.selector:
            self.pods.check(backend.key, backend.selector, self._pods_verdict)
        if self._repoker is None:
            self._repoker = self.loop.call_later(REPOKE_S, self._repoke)

    def _repoke(self) -> None:
        self._repoker = None
        for b in [b for b in self.table.backends.values() if b.held and not b.endpoints]:
            self.poke(b)

    def _pods_verdict(self, key: str, verdict: tuple[str, str] | None) -> None:
        """The pods of a held Service were looked at: when every one is failing, the held
        requests are answered 503 at once (and new ones while the verdict is fresh)."""
        backend = self.table.backends.get(key)
        if backend is None:
            return
        backend.verdict = verdict
        backend.verdict_at = self.loop.time()
        if verdict is None or backend.endpoints or not backend.held:
            return
        log.info("failing %d held requests of %s: %s", len(backend.held), key, verdict[1])
        held = list(backend.held)
        backend.held.clear()
        for conn in held:
            conn.released(failing=verdict)

    def verdict_fresh(self, backend: Backend) -> bool:
        return self.loop.time() - backend.verdict_at < 2 * REPOKE_S

    def _release(self, backend: Backend) -> None:
        """Forward the held requests in arrival order (or answer them 503 if the service went)."""
        held = list(backend.held)
        backend.held.clear()
        backend.verdict = None
        if self.poker is not None:
            self.poker.done(backend.key)
        for conn in held:
            conn.released()
