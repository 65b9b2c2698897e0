"""Timeouts (`Timeouts`) cost nothing per request: each side stamps a coarse clock (updated by
one sweep per router every `tick_s`, `tidal.router.proxy`) when bytes arrive, and the sweep
calls `check` on every client connection, which closes whatever has been silent too long.

`Deadlines` is a part of `ClientConn` (`tidal.router.conn`); its methods use the connection's
fields.
"""

from __future__ import annotations

from dataclasses import dataclass

from tidal.router.replies import json_response

CONNECT_TIMEOUT_S = 3.0


@dataclass(frozen=True, slots=True)
class Timeouts:
    """How long the router waits (docs/ROUTER.md, "Timeouts"); checked every `tick_s`."""

    connect_s: float = CONNECT_TIMEOUT_S  # TCP connect to a pod; then the next pod is tried
    response_s: float = 300.0  # the pod silent this long while a response is due/streaming: 504
    header_s: float = 10.0  # a client's whole request head, from its first byte (or accept): 408
    # a request body must come at `body_min_rate` bytes/s on average once `body_s` has passed
    # since its head (silent that long is the same): 408 (slow-body clients are closed)
    body_s: float = 10.0
    body_min_rate: float = 1024.0
    keepalive_s: float = 75.0  # an idle client connection between requests is closed
    tick_s: float = 0.5


class Deadlines:
    """A part of `ClientConn`: what the sweep checks on it."""

    __slots__ = ()

    # the router's sweep calls this every tick for every client connection
    def check(self, now: float, t: Timeouts) -> None:
        if self.closing or self.transport is None:
            return
        reading = self.transport.is_reading()  # paused: the router's back-pressure, not theirs
        if self.active:
            if not self.req_done and reading and self._body_slow(now, t):
                self._upstream_failed(
                    self.upstream,
                    408,
                    f"request body slower than {t.body_min_rate:g} bytes/s after {t.body_s:g}s",
                    "ClientBodyTimeout",
                )
                return
            up = self.upstream
            if (
                up is not None
                and up.transport is not None
                and up.transport.is_reading()
                and now - up.seen > t.response_s
            ):
                self._upstream_failed(
                    up,
                    504,
                    f"pod {up.endpoint.key} sent nothing for {t.response_s:g}s",
                    "UpstreamTimeout",
                )
            return
        if self.head_since is not None:
            if now - self.head_since > t.header_s:
                if self.head:
                    msg = f"request head not complete within {t.header_s:g}s"
                    self._write_close(
                        json_response(408, {"error": msg, "reason": "ClientHeaderTimeout"}, False)
                    )
                else:
                    self._close()
        elif not self.req_done:  # the rest of a body answered early (discarded)
            if reading and self._body_slow(now, t):
                self._close()
        elif now - self.seen > t.keepalive_s:
            self._close()

    def _body_slow(self, now: float, t: Timeouts) -> bool:
        elapsed = now - self.body_since
        return elapsed > t.body_s and self.body_bytes < t.body_min_rate * elapsed
